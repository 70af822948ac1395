"""The real `tfds build` CLI on builders' dummy data; its examples equal the converter's.

Needs the `[tfds]` extra (`pip install -e ".[tfds]"`): tensorflow-datasets' CLI imports
apache_beam and mlcroissant at start-up (docs/data.md). The builders' own checks run in
`datasets/<name>/<name>_dataset_builder_test.py` through the Python API.
"""
import importlib.util
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from salgan_tf.data import converter
from salgan_tf.data import pipeline

REPO = pathlib.Path(__file__).resolve().parents[1]
# The modules the `tfds` command imports at start-up that the base install lacks ([tfds] extra).
CLI_MODULES = ("apache_beam", "mlcroissant")
# builder folder -> (converter's --dataset, {TFDS split: reader split (None: the default)}).
# Two builders (one split, two splits) exercise the CLI; each costs a TF + Beam start-up, and
# every builder's own dummy-data test runs through the Python API (datasets/*/..._test.py).
BUILDERS = {
    "osie": ("osie", {"train": None}),
    "salicon": ("salicon2015", {"train": "train2014", "validation": "val2014"}),
}

_missing = [name for name in CLI_MODULES if importlib.util.find_spec(name) is None]
pytestmark = pytest.mark.skipif(
    bool(_missing), reason=f"not installed: {', '.join(_missing)}, which the `tfds` CLI imports "
    "at start-up; install with `pip install -e \".[tfds]\"`")


def _converted(dataset, manual_dir, split, output_dir):
    converter.convert(dataset, str(manual_dir), str(output_dir), split=split, workers=1,
                      progress=False, log=lambda *args: None)
    return {record["name"].decode(): record for record in
            pipeline.evaluation_dataset(str(output_dir / "*.tfrecord")).as_numpy_iterator()}


@pytest.mark.parametrize("folder", sorted(BUILDERS))
def test_tfds_build_cli_matches_the_converter(folder, tmp_path):
    import tensorflow_datasets as tfds

    tfds_cli = pathlib.Path(sys.executable).parent / "tfds"  # this environment's console script
    manual_dir = REPO / "datasets" / folder / "dummy_data"
    result = subprocess.run(
        [str(tfds_cli), "build", f"datasets/{folder}", f"--manual_dir={manual_dir}",
         f"--data_dir={tmp_path / 'tfds'}"],
        cwd=REPO, capture_output=True, text=True, timeout=600,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    assert result.returncode == 0, result.stderr[-3000:]

    dataset, splits = BUILDERS[folder]
    builder = tfds.builder_from_directory(str(tmp_path / "tfds" / folder / "1.0.0"))
    assert set(builder.info.splits) == set(splits)
    for tfds_split, reader_split in splits.items():
        expected = _converted(dataset, manual_dir, reader_split, tmp_path / f"records-{tfds_split}")
        built = list(builder.as_dataset(split=tfds_split).as_numpy_iterator())
        assert sorted(ex["name"].decode() for ex in built) == sorted(expected)
        for example in built:
            record = expected[example["name"].decode()]
            for key in ("row", "col", "observer"):
                np.testing.assert_array_equal(example["fixations"][key],
                                              record[f"fixation_{key}s"])
            # Both hold the same 8-bit ground-truth map (lossless PNG in each).
            np.testing.assert_array_equal(example["saliency"],
                                          np.round(record["map"] * 255).astype(np.uint8))
            # TFDS stores the decoded pixels re-encoded by `tf.image.encode_jpeg` (its Image
            # feature's encoder, default quality); the converter keeps the original file's bytes.
            reencoded = tf.io.decode_jpeg(tf.image.encode_jpeg(record["image"])).numpy()
            np.testing.assert_array_equal(example["image"], reencoded)
