"""A training run directory kept usable: one writer at a time, checkpoints that read back whole,
and failed writes reported in one line.

- `locked(run_dir)` holds `train.lock` (`fcntl.flock`) while a training writes to the folder. The
  kernel drops the lock when its holder exits, however it exits (kill -9 included), so a lock left
  by a dead run is taken over, never waited for; the holder writes its PID into the file, so a
  second training is refused naming it.
- `set_aside_corrupt_checkpoints` reads every tensor of the newest checkpoints back (TensorFlow
  checks each tensor's CRC32C on read) and moves the unreadable ones, newest first, to
  `checkpoints/corrupt/`, so the run resumes from the newest intact one.
- `save_checkpoint` removes the partial `ckpt-N_temp/` of a failed save and raises
  `RunDirWriteError` naming the checkpoint and the system's reason (e.g. disk full);
  `remove_partial_checkpoints` cleans the ones a killed run left.
"""
from __future__ import annotations

import contextlib
import fcntl
import glob
import os
import shutil

import tensorflow as tf
from absl import logging

from salgan_tf import atomic
from salgan_tf import checkpoints

LOCK_FILENAME = "train.lock"
CORRUPT_SUBDIR = "corrupt"
_PARTIAL_SUFFIX = "_temp"  # tf.train.Checkpoint writes ckpt-N into ckpt-N_temp/ first


class RunDirBusy(OSError):
    """Another training holds the run directory's lock."""


class RunDirWriteError(OSError):
    """Writing into the run directory failed (disk full, permissions, ...)."""


class CheckpointsCorrupt(OSError):
    """No checkpoint of the run reads back whole."""


@contextlib.contextmanager
def locked(run_dir):
    """Holds `<run_dir>/train.lock` while the block runs; RunDirBusy naming the holder's PID."""
    path = os.path.join(run_dir, LOCK_FILENAME)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            raise RunDirBusy(f"{run_dir} is in use by another training (PID {holder}, see "
                             f"{path}); wait for it to end or choose another --output_dir"
                             ) from None
        stale = os.pread(fd, 32, 0).decode(errors="replace").strip()
        if stale:  # written by a run that ended without releasing: killed
            logging.info("took over %s from PID %s, which no longer holds it", path, stale)
        _write_pid(fd, str(os.getpid()))
        try:
            yield path
        finally:
            _write_pid(fd, "")  # released: nothing to take over
    finally:
        os.close(fd)  # releases the lock


def _write_pid(fd, text):
    os.ftruncate(fd, 0)
    os.pwrite(fd, text.encode(), 0)


def remove_partial_checkpoints(checkpoint_dir):
    """Deletes `ckpt-N_temp/` folders of saves that never finished (call with the lock held)."""
    for partial in sorted(glob.glob(os.path.join(checkpoint_dir, f"ckpt-*{_PARTIAL_SUFFIX}"))):
        shutil.rmtree(partial, ignore_errors=True)
        logging.info("removed %s, left by a save that did not finish", partial)


def save_checkpoint(manager, checkpoint_number):
    """`manager.save(checkpoint_number)`; a failed write leaves no partial folder behind.

    Raises:
      RunDirWriteError: the save failed; names the checkpoint, the reason (the path TensorFlow
        could not write and e.g. "No space left on device") and the checkpoint a rerun resumes
        from.
    """
    try:
        return manager.save(checkpoint_number=checkpoint_number)
    except (tf.errors.OpError, OSError) as error:
        prefix = os.path.join(manager.directory, f"ckpt-{checkpoint_number}")
        shutil.rmtree(prefix + _PARTIAL_SUFFIX, ignore_errors=True)
        resume = (f"the rerun resumes from {manager.latest_checkpoint}" if manager.latest_checkpoint
                  else "no checkpoint was written yet")
        raise RunDirWriteError(f"cannot write checkpoint {prefix}: {atomic.failure_reason(error)}; "
                               f"free space and rerun the same command ({resume})") from None


def _unreadable(prefix):
    """Why the checkpoint `prefix` does not read back whole, or None if every tensor does."""
    try:
        reader = tf.train.load_checkpoint(prefix)
        for name in reader.get_variable_to_shape_map():
            reader.get_tensor(name)
    except checkpoints.READ_ERRORS as error:
        return checkpoints.read_failure(error)
    return None


def set_aside_corrupt_checkpoints(checkpoint_dir):
    """Moves the newest checkpoints that do not read back to `checkpoints/corrupt/`.

    Stops at the newest intact checkpoint and makes it the latest (one warning names the corrupt
    ones and it). Call with the lock held, before a `tf.train.CheckpointManager` reads the state.

    Raises:
      CheckpointsCorrupt: no checkpoint reads back (nothing is moved); says what to do.
    """
    state = tf.train.get_checkpoint_state(checkpoint_dir)
    if state is None:
        return
    kept = [p if os.path.isabs(p) else os.path.join(checkpoint_dir, p)
            for p in state.all_model_checkpoint_paths or [state.model_checkpoint_path]]
    corrupt = []
    while kept:
        reason = _unreadable(kept[-1])
        if reason is None:
            break
        corrupt.append((kept.pop(), reason))
    if not corrupt:
        return
    details = "; ".join(f"{prefix} ({reason})" for prefix, reason in corrupt)
    if not kept:
        raise CheckpointsCorrupt(
            f"no checkpoint in {checkpoint_dir} reads back: {details}; to train this run from "
            f"the start, move {checkpoint_dir} aside (e.g. mv {checkpoint_dir} "
            f"{checkpoint_dir}.corrupt), or use a new --output_dir")
    aside = os.path.join(checkpoint_dir, CORRUPT_SUBDIR)
    os.makedirs(aside, exist_ok=True)
    for prefix, _ in corrupt:
        for path in glob.glob(glob.escape(prefix) + ".*"):
            os.replace(path, os.path.join(aside, os.path.basename(path)))
    tf.compat.v1.train.update_checkpoint_state(  # the state file CheckpointManager reads
        checkpoint_dir, kept[-1], all_model_checkpoint_paths=kept,
        all_model_checkpoint_timestamps=state.all_model_checkpoint_timestamps[:len(kept)],
        last_preserved_timestamp=state.last_preserved_timestamp)
    logging.warning("corrupt checkpoint %s, moved to %s; resuming from %s, the newest intact one",
                    details, aside, kept[-1])
