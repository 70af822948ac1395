"""Writing TFRecord shards atomically, and the manifest that lists them.

A shard is written to `<name>.tmp-<pid>` in the output folder and renamed to its final name only
after the writer has been closed, so a killed conversion leaves complete shards and temporary files,
never a half shard under a real name (rename is atomic within one filesystem, also for
`tf.io.gfile` on local disks). `remove_stale_temporaries` deletes leftovers of a killed run.

The manifest (`manifest.json`, written last and also atomically) records, per shard, the file name,
the number of examples and the SHA-256 of the bytes, plus totals and conversion counts, so a reader
can check a copy (`verify_manifest`).
"""
import hashlib
import json
import os

import tensorflow as tf

MANIFEST_NAME = "manifest.json"
TEMP_MARKER = ".tmp-"


def shard_name(prefix, index, num_shards):
    """`<prefix>-00003-of-00008.tfrecord`: the TFDS/Beam-style shard file name."""
    return f"{prefix}-{index:05d}-of-{num_shards:05d}.tfrecord"


def sha256_of(path, chunk=1 << 20):
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with tf.io.gfile.GFile(path, "rb") as handle:
        while True:
            block = handle.read(chunk)
            if not block:
                return digest.hexdigest()
            digest.update(block)


def write_shard(path, serialized_examples):
    """Writes serialized examples to `path` atomically (temp file + rename); returns the count.

    If writing fails or is interrupted the temporary file is removed (when Python still runs) and
    `path` is not created.
    """
    temp = f"{path}{TEMP_MARKER}{os.getpid()}"
    count = 0
    try:
        with tf.io.TFRecordWriter(temp) as writer:
            for serialized in serialized_examples:
                writer.write(serialized)
                count += 1
        tf.io.gfile.rename(temp, path, overwrite=True)
    except BaseException:
        if tf.io.gfile.exists(temp):
            tf.io.gfile.remove(temp)
        raise
    return count


def write_text_atomically(path, text):
    """Writes a text file via temp file + rename."""
    temp = f"{path}{TEMP_MARKER}{os.getpid()}"
    with tf.io.gfile.GFile(temp, "w") as handle:
        handle.write(text)
    tf.io.gfile.rename(temp, path, overwrite=True)


def remove_stale_temporaries(output_dir):
    """Deletes `*.tmp-*` leftovers of an interrupted run in `output_dir`; returns their paths."""
    stale = [os.path.join(output_dir, name) for name in tf.io.gfile.listdir(output_dir)
             if TEMP_MARKER in name]
    for path in stale:
        tf.io.gfile.remove(path)
    return stale


def write_manifest(output_dir, shard_counts, **extra):
    """Writes `manifest.json` for shards `{file_name: num_examples}` in `output_dir`.

    Returns the manifest dict: `shards` (name, examples, sha256, bytes), `num_examples` and any
    `extra` fields (dataset, split, skipped counts, sizes, ...).
    """
    shards = []
    for name in sorted(shard_counts):
        path = os.path.join(output_dir, name)
        shards.append({"file": name, "examples": int(shard_counts[name]),
                       "sha256": sha256_of(path), "bytes": tf.io.gfile.stat(path).length})
    manifest = {"schema_version": 1, "num_examples": sum(s["examples"] for s in shards),
                "shards": shards, **extra}
    write_text_atomically(os.path.join(output_dir, MANIFEST_NAME),
                          json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return manifest


def verify_manifest(output_dir):
    """Checks every shard listed in `manifest.json` exists with its SHA-256; returns the manifest.

    Raises:
      ValueError: naming the shard that is missing or whose checksum differs.
    """
    manifest_path = os.path.join(output_dir, MANIFEST_NAME)
    if not tf.io.gfile.exists(manifest_path):
        raise ValueError(f"{manifest_path}: missing manifest")
    with tf.io.gfile.GFile(manifest_path) as handle:
        manifest = json.load(handle)
    for shard in manifest["shards"]:
        path = os.path.join(output_dir, shard["file"])
        if not tf.io.gfile.exists(path):
            raise ValueError(f"{path}: listed in {manifest_path} but missing")
        if sha256_of(path) != shard["sha256"]:
            raise ValueError(f"{path}: SHA-256 differs from {manifest_path}")
    return manifest
