"""Synthetic data: deterministic, in the real schema, and with maps that follow the objects."""
import numpy as np
import pytest

from salgan_tf.data import pipeline
from salgan_tf.data import synthetic


def test_deterministic_in_seed():
    a = synthetic.synthetic_examples(3, 32, 48, seed=7)
    b = synthetic.synthetic_examples(3, 32, 48, seed=7)
    c = synthetic.synthetic_examples(3, 32, 48, seed=8)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x["image"], y["image"])
        np.testing.assert_array_equal(x["map"], y["map"])
    assert not np.array_equal(a[0]["image"], c[0]["image"])


def test_maps_follow_the_bright_objects():
    for ex in synthetic.synthetic_examples(8, 48, 64, seed=1):
        assert ex["image"].dtype == np.uint8 and ex["image"].shape == (48, 64, 3)
        assert ex["map"].shape == (48, 64) and ex["map"].max() == pytest.approx(1.0)
        assert ex["map"].min() >= 0.0
        brightness = ex["image"].mean(axis=-1)
        bright = brightness > 150
        # the map is much higher on the objects than on the background
        assert ex["map"][bright].mean() > 3 * ex["map"][~bright].mean()
        rows, cols = ex["fixation_rows"], ex["fixation_cols"]
        assert len(rows) == len(cols) == len(ex["fixation_observers"]) > 0
        assert rows.min() >= 0 and rows.max() < 48 and cols.min() >= 0 and cols.max() < 64
        assert bright[rows, cols].mean() > 0.6


def test_written_records_read_back_exactly(tmp_path):
    paths = synthetic.write_synthetic_tfrecords(str(tmp_path), 5, 32, 48, seed=2, num_shards=2)
    assert [p.rsplit("/", 1)[1] for p in paths] == [
        "synthetic-00000-of-00002.tfrecord", "synthetic-00001-of-00002.tfrecord"]
    assert (tmp_path / "manifest.json").exists()
    expected = {ex["name"]: ex for ex in synthetic.synthetic_examples(5, 32, 48, seed=2)}
    seen = 0
    for ex in pipeline.evaluation_dataset(str(tmp_path / "*.tfrecord")):
        want = expected[ex["name"].numpy().decode()]
        np.testing.assert_array_equal(ex["image"], want["image"])  # PNG: lossless
        np.testing.assert_allclose(ex["map"][..., 0], want["map"], atol=0.5 / 255 + 1e-6)
        np.testing.assert_array_equal(ex["fixation_rows"], want["fixation_rows"])
        np.testing.assert_array_equal(ex["fixation_observers"], want["fixation_observers"])
        seen += 1
    assert seen == 5
