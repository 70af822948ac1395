"""TFRecord shards, the `manifest.json` that lists them, and the check every reader makes.

Writers: `write_shard` writes one shard atomically (`salgan_tf.atomic.replaced_file`); the
converter writes all shards and the manifest into a staging folder that replaces the output folder
only when complete (`salgan_tf.atomic.replaced_directory`), so a folder of records is always one
whole conversion. `write_manifest` records, per shard, the file name, the number of examples, the
byte size and the SHA-256, plus totals and conversion settings (and `command`, the command that
rewrites the folder).

Readers (training, validation, evaluation, TFLite calibration) call `check_records` on the files a
glob matched: each file's folder must hold a manifest that lists it with its size and SHA-256, and
every shard the manifest lists must exist. A mismatch raises `ManifestError`, one line naming the
file, the problem and what to rerun. Sizes are compared on every call (one `stat`); the SHA-256 of
a file is computed once per process and file version (size, mtime), so a validation pass every
epoch costs a `stat` per shard, not a re-read.
"""
import dataclasses
import hashlib
import json
import os

import tensorflow as tf

from salgan_tf import atomic

MANIFEST_NAME = "manifest.json"
_SHARD_FIELDS = {"file", "examples", "bytes", "sha256"}

_hashed = {}  # absolute path -> (size, mtime_ns) whose SHA-256 matched its manifest (this process)


class ManifestError(ValueError):
    """TFRecord files that do not match the `manifest.json` of their folder."""


@dataclasses.dataclass(frozen=True)
class RecordSet:
    """Checked TFRecord files: their example count and a fingerprint of their content."""
    files: tuple
    num_examples: int
    fingerprint: str  # SHA-256 over the (file name, SHA-256) pairs of `files`


def shard_name(prefix, index, num_shards):
    """`<prefix>-00003-of-00008.tfrecord`: the TFDS/Beam-style shard file name."""
    return f"{prefix}-{index:05d}-of-{num_shards:05d}.tfrecord"


def sha256_of(path, chunk=1 << 20):
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def write_shard(path, serialized_examples):
    """Writes serialized examples to `path` atomically; returns the count.

    If writing fails or is interrupted, `path` is not created (or keeps its earlier content).
    """
    count = 0
    with atomic.replaced_file(path) as temp:
        with tf.io.TFRecordWriter(temp) as writer:
            for serialized in serialized_examples:
                writer.write(serialized)
                count += 1
    return count


def write_manifest(output_dir, shard_counts, **extra):
    """Writes `manifest.json` for shards `{file_name: num_examples}` in `output_dir`.

    Returns the manifest dict: `shards` (file, examples, sha256, bytes), `num_examples` and any
    `extra` fields (dataset, split, skipped counts, sizes, command, ...).
    """
    shards = []
    for name in sorted(shard_counts):
        path = os.path.join(output_dir, name)
        shards.append({"file": name, "examples": int(shard_counts[name]),
                       "sha256": sha256_of(path), "bytes": os.path.getsize(path)})
    manifest = {"schema_version": 1, "num_examples": sum(s["examples"] for s in shards),
                "shards": shards, **extra}
    with atomic.open_replaced(os.path.join(output_dir, MANIFEST_NAME)) as handle:
        handle.write(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return manifest


def glob_records(patterns, *, label=None):
    """Sorted TFRecord paths matched by comma-separated globs: every reader's file list.

    Args:
      patterns: one string of comma-separated globs or paths (`"a/*.tfrecord,b/*.tfrecord"`), or
        a list of globs or paths (each one pattern, not split at commas). A path that exists is
        taken as is (brackets in it are no pattern); names starting with a dot (the atomic
        writers' temporary files) match only a pattern whose name starts with a dot, as in a shell.
      label: what the patterns are, to start the error with (e.g. the flag, "--data").

    Returns:
      Sorted list of unique paths (str).

    Raises:
      FileNotFoundError: a pattern matches no file, naming that pattern.
    """
    if isinstance(patterns, (str, os.PathLike)):
        pattern_list = [p.strip() for p in os.fspath(patterns).split(",") if p.strip()]
    else:
        pattern_list = [os.fspath(p) for p in patterns]
    prefix = f"{label} " if label else ""
    if not pattern_list:
        raise FileNotFoundError(f"{prefix}{patterns!r}: no TFRecord file or glob given")
    paths = set()
    for pattern in pattern_list:
        if tf.io.gfile.exists(pattern) and not tf.io.gfile.isdir(pattern):
            matched = [pattern]
        else:
            hidden_ok = os.path.basename(pattern).startswith(".")
            matched = [path for path in tf.io.gfile.glob(pattern)
                       if hidden_ok or not os.path.basename(path).startswith(".")]
        if not matched:
            raise FileNotFoundError(
                f"{prefix}{pattern} matches no TFRecord file (no TFRecord file matches a wrong "
                "path, or a dataset not converted yet: `python -m salgan_tf.convert`)")
        paths.update(matched)
    return sorted(paths)


def _rerun_hint(folder, manifest):
    if manifest and manifest.get("command"):
        return f"rerun `{manifest['command']}`"
    if manifest and manifest.get("dataset") == "synthetic":
        return f"delete {folder} and rerun (the synthetic set is written again)"
    return f"convert again into {folder} (`python -m salgan_tf.convert ... --output={folder}`)"


def _read_manifest(folder, first_file):
    path = os.path.join(folder, MANIFEST_NAME)
    try:
        with open(path) as handle:
            manifest = json.load(handle)
        if not all(_SHARD_FIELDS <= set(shard) for shard in manifest["shards"]):
            raise KeyError(f"each shard needs {sorted(_SHARD_FIELDS)}")
    except FileNotFoundError:
        raise ManifestError(f"{first_file}: no {MANIFEST_NAME} beside it (left by an "
                            f"interrupted or older conversion?); {_rerun_hint(folder, None)}"
                            ) from None
    except (ValueError, KeyError, TypeError) as error:
        raise ManifestError(f"{path}: not a readable manifest ({error}); "
                            f"{_rerun_hint(folder, None)}") from None
    return manifest


def _check_shard(path, shard, manifest_path, hint):
    stat = os.stat(path)
    if stat.st_size != shard["bytes"]:
        raise ManifestError(f"{path}: {stat.st_size} bytes but {manifest_path} lists "
                            f"{shard['bytes']} (changed since it was written); {hint}")
    version = (stat.st_size, stat.st_mtime_ns)
    if _hashed.get(os.path.abspath(path)) != version:
        if sha256_of(path) != shard["sha256"]:
            raise ManifestError(f"{path}: SHA-256 differs from {manifest_path} (changed since "
                                f"it was written); {hint}")
        _hashed[os.path.abspath(path)] = version


def check_records(paths):
    """Checks TFRecord files against the `manifest.json` of their folders; returns a RecordSet.

    Files from several folders (a comma-separated glob) are checked against each folder's own
    manifest. A file may be left out on purpose (a glob selecting some shards), but every file
    given must be listed, unchanged, and every shard its manifest lists must exist.

    Raises:
      ManifestError: no or unreadable manifest, a shard missing, a file not listed (e.g. a
        shard of another conversion), or a changed size or SHA-256.
    """
    paths = [os.fspath(p) for p in paths]
    by_folder = {}
    for path in paths:
        by_folder.setdefault(os.path.dirname(os.path.abspath(path)), []).append(path)
    listed_shards = {}
    for folder, chosen in by_folder.items():
        manifest = _read_manifest(folder, chosen[0])
        manifest_path = os.path.join(folder, MANIFEST_NAME)
        hint = _rerun_hint(folder, manifest)
        listed = {shard["file"]: shard for shard in manifest["shards"]}
        for name in sorted(listed):
            if not os.path.isfile(os.path.join(folder, name)):
                raise ManifestError(f"{os.path.join(folder, name)}: listed in {manifest_path} "
                                    f"but missing; {hint}")
        for path in chosen:
            shard = listed.get(os.path.basename(path))
            if shard is None:
                raise ManifestError(f"{path}: not listed in {manifest_path} (a file of another "
                                    f"run?); {hint}")
            _check_shard(path, shard, manifest_path, hint)
            listed_shards[path] = shard
    digest = hashlib.sha256()
    for path in paths:
        digest.update(f"{os.path.basename(path)}:{listed_shards[path]['sha256']}\n".encode())
    return RecordSet(files=tuple(paths),
                     num_examples=sum(listed_shards[p]["examples"] for p in paths),
                     fingerprint=digest.hexdigest())


def verify_manifest(output_dir):
    """Checks every shard listed in `output_dir/manifest.json`; returns the manifest."""
    manifest = _read_manifest(output_dir, os.path.join(output_dir, MANIFEST_NAME))
    check_records([os.path.join(output_dir, shard["file"]) for shard in manifest["shards"]])
    return manifest
