"""Writing files and folders so readers see the old version or the new one, never half of one.

The one atomic-write helper of the package (local filesystems):

- `replaced_file(path)` yields a temporary path beside `path` (same folder, so the same
  filesystem); when the block ends without error the temporary file replaces `path` with
  `os.replace` (atomic on POSIX), otherwise it is removed and `path` is untouched.
- `open_replaced(path, mode)` is the same around `open()`, for text/JSON/CSV/HTML writers.
- `replaced_directory(path)` yields an empty staging folder beside `path`; when the block ends
  without error the staging folder takes the place of `path` in one atomic exchange
  (`renameat2(RENAME_EXCHANGE)`, Linux >= 3.15 on ext4/xfs/btrfs/tmpfs), or else in two renames
  with the previous folder kept until the new one is in place; then the previous folder is
  deleted. A failed run removes its staging folder; a killed one leaves it behind, and the next
  `replaced_directory` (or `recover_directory`) of the same `path` cleans up.

`failure_reason(error)` puts why a write (or read) failed on one line, for OSError and TensorFlow's
file errors alike.

Temporary names start with a dot and hold the writer's process id: `.tmp-<pid>-<hex>-<name>` for
files (the full name is kept at the end, so suffix checks such as Keras' `.weights.h5` pass) and
`.<name>.staging-<pid>` / `.<name>.old-<pid>` for folders. Files and folders get the usual
permissions (0666/0777 minus the umask), unlike `tempfile.mkstemp`/`mkdtemp` (0600/0700).
"""
import contextlib
import ctypes
import errno
import os
import re
import secrets
import shutil

STAGING_MARKER = ".staging-"
OLD_MARKER = ".old-"


def failure_reason(error, limit=300):
    """Why a read or write failed, on one line: an OSError's text (reason and path), or a
    TensorFlow error's message (which names the path) without its op details."""
    text = getattr(error, "message", None) or str(error)  # tf.errors.OpError keeps it in .message
    text = " ".join(re.sub(r"\{\{[^}]*\}\}|\[Op:\w+\]", " ", text).split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


@contextlib.contextmanager
def replaced_file(path):
    """Yields a temporary path beside `path`; on success it replaces `path` atomically."""
    path = os.fspath(path)
    directory, name = os.path.split(os.path.abspath(path))
    temp = os.path.join(directory, f".tmp-{os.getpid()}-{secrets.token_hex(4)}-{name}")
    try:
        yield temp
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(temp)
        raise


@contextlib.contextmanager
def open_replaced(path, mode="w", **open_kwargs):
    """`open()` of a temporary file that replaces `path` once written and closed without error."""
    with replaced_file(path) as temp, open(temp, mode, **open_kwargs) as handle:
        yield handle


def _alive(pid):
    """True if a process `pid` runs on this machine (or may: not ours to signal)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _leftovers(path):
    """`(marker, pid, full_path)` of staging/old folders of `path` left by other processes."""
    parent, name = os.path.split(os.path.abspath(path))
    found = []
    if not os.path.isdir(parent):
        return found
    for entry in os.listdir(parent):
        for marker in (STAGING_MARKER, OLD_MARKER):
            head = f".{name}{marker}"
            if entry.startswith(head) and entry[len(head):].isdigit():
                pid = int(entry[len(head):])
                if pid == os.getpid() or not _alive(pid):
                    found.append((marker, pid, os.path.join(parent, entry)))
    return found


def recover_directory(path):
    """Cleans up after `replaced_directory` runs on `path` that were killed; returns messages.

    Staging folders of dead processes are deleted. A previous folder set aside (`.old-<pid>`) is
    put back if the kill came between the two renames of the swap (so `path` is missing), and
    deleted otherwise.
    """
    messages = []
    for marker, _, leftover in sorted(_leftovers(path), reverse=True):  # .staging before .old
        if marker == OLD_MARKER and not os.path.lexists(path):
            os.rename(leftover, path)
            messages.append(f"restored {path} from {leftover} (a swap was interrupted)")
        else:
            shutil.rmtree(leftover, ignore_errors=True)
            messages.append(f"removed {leftover} left by an interrupted run")
    return messages


def _exchange(first, second):
    """Swaps two paths atomically (Linux renameat2); False where the system cannot."""
    renameat2 = getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None)
    if renameat2 is None:
        return False
    at_fdcwd, rename_exchange = -100, 2  # <fcntl.h>, <linux/fs.h>
    if renameat2(at_fdcwd, os.fsencode(first), at_fdcwd, os.fsencode(second),
                 rename_exchange) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), second)


def _swap_in(staging, path, old):
    """Puts `staging` at `path`; the previous `path` (if any) ends up at `staging` or `old`."""
    if not os.path.lexists(path):
        os.rename(staging, path)
    elif _exchange(staging, path):
        shutil.rmtree(staging, ignore_errors=True)
    else:
        os.rename(path, old)
        os.rename(staging, path)
        shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def replaced_directory(path):
    """Yields an empty staging folder beside `path`; on success it takes the place of `path`.

    The swap is one atomic exchange, or where unsupported two renames (`path` ->
    `.<name>.old-<pid>`, staging -> `path`), so the previous content exists until the new one is
    in place (`recover_directory` repairs a kill between the renames). On error the staging
    folder is deleted and `path` is left exactly as it was.
    """
    path = os.path.abspath(os.fspath(path))
    parent, name = os.path.split(path)
    os.makedirs(parent, exist_ok=True)
    recover_directory(path)
    staging = os.path.join(parent, f".{name}{STAGING_MARKER}{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    os.mkdir(staging)
    try:
        yield staging
        _swap_in(staging, path, os.path.join(parent, f".{name}{OLD_MARKER}{os.getpid()}"))
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
