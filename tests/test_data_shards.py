"""shards.glob_records: the one record-glob expander of training, validation and evaluation."""
import os
import re

import pytest

from salgan_tf import validation
from salgan_tf.data import eval_examples
from salgan_tf.data import pipeline
from salgan_tf.data import shards
from salgan_tf.data import synthetic

SIZE = (32, 48)


@pytest.fixture(scope="module")
def two_folders(tmp_path_factory):
    """Folders `a` (2 shards, 4 examples) and `b` (1 shard, 2 examples), each with a manifest."""
    root = tmp_path_factory.mktemp("records")
    synthetic.write_synthetic_tfrecords(str(root / "a"), 4, *SIZE, seed=1, num_shards=2)
    synthetic.write_synthetic_tfrecords(str(root / "b"), 2, *SIZE, seed=2, num_shards=1)
    return root


def _names(root, *relative):
    return [str(root / path) for path in relative]


def test_comma_separated_globs_give_sorted_unique_paths(two_folders):
    a_all = _names(two_folders, "a/synthetic-00000-of-00002.tfrecord",
                   "a/synthetic-00001-of-00002.tfrecord")
    b_all = _names(two_folders, "b/synthetic-00000-of-00001.tfrecord")
    # b first, a shard named twice (once by a glob, once as a path), spaces around commas.
    text = f"{two_folders}/b/*.tfrecord , {two_folders}/a/*.tfrecord,{a_all[0]},"
    assert shards.glob_records(text) == a_all + b_all
    # A list: each item one pattern (paths given as they are), the same result.
    assert shards.glob_records([b_all[0], f"{two_folders}/a/*.tfrecord"]) == a_all + b_all


def test_a_pattern_matching_nothing_is_named(two_folders):
    missing = f"{two_folders}/c/*.tfrecord"
    with pytest.raises(FileNotFoundError, match=re.escape(missing) + " matches no TFRecord file"):
        shards.glob_records(f"{two_folders}/a/*.tfrecord,{missing}")
    with pytest.raises(FileNotFoundError, match=f"^--data {re.escape(missing)} matches no"):
        shards.glob_records(missing, label="--data")
    with pytest.raises(FileNotFoundError, match="no TFRecord file or glob given"):
        shards.glob_records(" , ")


def test_existing_paths_are_not_patterns_and_temporary_files_are_skipped(tmp_path):
    bracketed = tmp_path / "x[1].tfrecord"  # as a glob, `[1]` would match only "x1.tfrecord"
    bracketed.write_bytes(b"")
    temporary = tmp_path / ".tmp-1-ab-x.tfrecord"  # an atomic writer's file in progress
    temporary.write_bytes(b"")
    assert shards.glob_records(str(bracketed)) == [str(bracketed)]
    assert shards.glob_records(str(tmp_path / "*.tfrecord")) == [str(bracketed)]
    assert shards.glob_records(str(tmp_path / ".tmp-*")) == [str(temporary)]


def test_training_validation_and_evaluation_read_the_same_files(two_folders):
    """The three readers accept comma-separated globs and fail alike on a missing pattern."""
    text = f"{two_folders}/a/*.tfrecord,{two_folders}/b/*.tfrecord"
    batches = list(pipeline.make_dataset(text, image_size=SIZE, batch_size=8))
    assert sum(len(batch["name"]) for batch in batches) == 6
    assert len(list(eval_examples.read_tfrecord_examples(text, with_images=False))) == 6
    # Validation needs unique names: the two shards of folder a.
    a_shards = f"{two_folders}/a/*00000-of-*.tfrecord,{two_folders}/a/*00001-of-*.tfrecord"
    assert validation.Validator(a_shards, image_size=SIZE).num_examples == 4
    missing = f"{two_folders}/missing-*.tfrecord"
    readers = (lambda: pipeline.make_dataset(f"{text},{missing}", image_size=SIZE),
               lambda: next(eval_examples.read_tfrecord_examples(f"{text},{missing}")),
               lambda: validation.Validator(f"{text},{missing}", image_size=SIZE))
    for read in readers:
        with pytest.raises(FileNotFoundError, match=re.escape(missing)):
            read()


def test_a_temporary_file_beside_the_shards_does_not_stop_training(tmp_path):
    folder = tmp_path / "records"
    synthetic.write_synthetic_tfrecords(str(folder), 2, *SIZE, seed=3)
    # What `atomic.replaced_file` leaves while a writer is between open and rename.
    (folder / f".tmp-{os.getpid()}-00ff-synthetic-00000-of-00001.tfrecord").write_bytes(b"x")
    batch = next(iter(pipeline.make_dataset(str(folder / "*.tfrecord"), image_size=SIZE)))
    assert len(batch["name"]) == 2
