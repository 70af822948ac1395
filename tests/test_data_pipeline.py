"""The tf.data pipeline: batch layout, x4 maps, flip consistency, determinism, evaluation set."""
import numpy as np
import pytest
import tensorflow as tf

from salgan_tf import preprocessing
from salgan_tf.data import pipeline
from salgan_tf.data import synthetic

SIZE = (32, 48)


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    folder = tmp_path_factory.mktemp("synthetic")
    synthetic.write_synthetic_tfrecords(str(folder), 12, SIZE[0], SIZE[1], seed=5, num_shards=3)
    return str(folder / "*.tfrecord")


def _by_name(ds):
    out = {}
    for batch in ds:
        for i, name in enumerate(batch["name"].numpy()):
            out[name.decode()] = (batch["image"][i].numpy(), batch["map"][i].numpy())
    return out


def test_batch_layout_and_value_ranges(records):
    batch = next(iter(pipeline.make_dataset(records, image_size=SIZE, batch_size=4)))
    assert batch["image"].shape == (4, 32, 48, 3) and batch["image"].dtype == tf.float32
    assert batch["map"].shape == (4, 32, 48, 1) and batch["map"].dtype == tf.float32
    assert batch["map_small"].shape == (4, 8, 12, 1)
    assert batch["name"].shape == (4,)
    maps = batch["map"].numpy()
    assert maps.min() >= 0.0 and maps.max() <= 1.0
    np.testing.assert_allclose(maps.max(axis=(1, 2, 3)), 1.0, atol=1e-6)
    pooled = maps.reshape(4, 8, 4, 12, 4, 1).mean(axis=(2, 4))
    np.testing.assert_allclose(batch["map_small"], pooled, atol=1e-6)


def test_images_are_caffe_preprocessed_originals(records):
    originals = {ex["name"]: ex for ex in synthetic.synthetic_examples(12, *SIZE, seed=5)}
    for name, (image, saliency) in _by_name(
            pipeline.make_dataset(records, image_size=SIZE, batch_size=5)).items():
        rgb = originals[name]["image"].astype(np.float32)
        np.testing.assert_allclose(image, preprocessing.vgg_preprocess(rgb), atol=1e-4)
        np.testing.assert_allclose(saliency[..., 0], originals[name]["map"], atol=0.5 / 255 + 1e-6)


def test_16_bit_maps_train_on_their_top_8_bits(tmp_path):
    synthetic.write_synthetic_tfrecords(str(tmp_path), 2, *SIZE, seed=5, map_bit_depth=16)
    originals = {ex["name"]: ex for ex in synthetic.synthetic_examples(2, *SIZE, seed=5)}
    for name, (_, saliency) in _by_name(pipeline.make_dataset(
            str(tmp_path / "*.tfrecord"), image_size=SIZE, batch_size=2)).items():
        np.testing.assert_allclose(saliency[..., 0], originals[name]["map"], atol=1.0 / 255)
    for example in pipeline.evaluation_dataset(str(tmp_path / "*.tfrecord")):  # full precision
        want = originals[example["name"].numpy().decode()]["map"]
        np.testing.assert_allclose(example["map"][..., 0], want, atol=0.5 / 65535 + 1e-6)


def test_resizes_to_training_size_in_both_modes(records):
    for mode in ("stretch", "letterbox"):
        batch = next(iter(pipeline.make_dataset(records, image_size=(64, 64), batch_size=2,
                                                resize_mode=mode)))
        assert batch["image"].shape == (2, 64, 64, 3)
        assert batch["map_small"].shape == (2, 16, 16, 1)
        if mode == "letterbox":  # 32x48 -> 43x64 centred: rows 0-9 are padding
            np.testing.assert_allclose(batch["image"][:, :10], 0.0, atol=1.0)  # mean pad
            np.testing.assert_allclose(batch["map"][:, :10], 0.0)


def test_flip_moves_image_and_map_together(records):
    reference = _by_name(pipeline.make_dataset(records, image_size=SIZE, batch_size=4))
    flipped = same = 0
    for batch in pipeline.make_dataset(records, image_size=SIZE, batch_size=4, training=True,
                                       flip=True, seed=1, deterministic=True).repeat(3):
        for i, name in enumerate(batch["name"].numpy()):
            image, saliency = batch["image"][i].numpy(), batch["map"][i].numpy()
            ref_image, ref_map = reference[name.decode()]
            if np.array_equal(image, ref_image):
                np.testing.assert_array_equal(saliency, ref_map)
                same += 1
            else:
                np.testing.assert_array_equal(image, ref_image[:, ::-1])
                np.testing.assert_array_equal(saliency, ref_map[:, ::-1])
                flipped += 1
    assert flipped > 5 and same > 5


def test_flip_example_flips_fixation_columns_in_the_original_grid(records):
    for example in tf.data.TFRecordDataset(tf.io.gfile.glob(records)).map(
            pipeline.decode_example).take(3):
        flipped = pipeline.flip_example(example)
        rows, cols = example["fixation_rows"].numpy(), example["fixation_cols"].numpy()
        new_cols = flipped["fixation_cols"].numpy()
        np.testing.assert_array_equal(new_cols, 47 - cols)
        np.testing.assert_array_equal(flipped["fixation_rows"], rows)
        # each fixation still looks at the same pixel content
        np.testing.assert_array_equal(flipped["image"].numpy()[rows, new_cols],
                                      example["image"].numpy()[rows, cols])
        np.testing.assert_array_equal(flipped["map"].numpy()[rows, new_cols],
                                      example["map"].numpy()[rows, cols])
    # the same function eagerly on one decoded example
    serialized = next(iter(tf.data.TFRecordDataset(tf.io.gfile.glob(records))))
    eager = pipeline.flip_example(pipeline.decode_example(serialized))
    assert eager["image"].shape == (32, 48, 3)


def test_deterministic_with_seed(records):
    def run(seed):
        ds = pipeline.make_dataset(records, image_size=SIZE, batch_size=4, training=True,
                                   flip=True, seed=seed, deterministic=True, repeat=True)
        return [(b["name"].numpy().tolist(), b["image"].numpy()) for b in ds.take(5)]

    first, second, other = run(11), run(11), run(12)
    assert [n for n, _ in first] == [n for n, _ in second]
    for (_, a), (_, b) in zip(first, second):
        np.testing.assert_array_equal(a, b)
    assert [n for n, _ in first] != [n for n, _ in other]


def test_epoch_covers_every_example_once(records):
    names = []
    for batch in pipeline.make_dataset(records, image_size=SIZE, batch_size=5, training=True,
                                       seed=3):
        names += batch["name"].numpy().tolist()
    assert sorted(names) == sorted(f"synthetic_{i:04d}".encode() for i in range(12))
    batches = list(pipeline.make_dataset(records, image_size=SIZE, batch_size=5,
                                         drop_remainder=True))
    assert len(batches) == 2


def test_evaluation_dataset_gives_original_size(tmp_path):
    from salgan_tf.data import records as records_lib
    from salgan_tf.data import shards
    rgb = np.random.default_rng(0).integers(0, 256, (40, 60, 3), dtype=np.uint8)
    saliency = np.zeros((40, 60))
    saliency[10:20, 30:50] = 1.0
    serialized, _ = records_lib.build_record(
        name="big", rgb=rgb, saliency=saliency, fixation_rows=[12], fixation_cols=[59],
        fixation_observers=[4], resize=(32, 48), image_format="png")
    shards.write_shard(str(tmp_path / "x.tfrecord"), [serialized])
    shards.write_manifest(str(tmp_path), {"x.tfrecord": 1})
    (example,) = list(pipeline.evaluation_dataset(str(tmp_path / "x.tfrecord")))
    assert example["image"].shape == (40, 60, 3) and example["image"].dtype == tf.uint8
    assert example["map"].shape == (40, 60, 1)
    assert example["map"].numpy()[15, 40, 0] > 0.9 and example["map"].numpy()[2, 2, 0] < 0.05
    np.testing.assert_array_equal(example["original_size"], [40, 60])
    np.testing.assert_array_equal(example["fixation_cols"], [59])
    np.testing.assert_array_equal(example["fixation_observers"], [4])


def test_errors_name_the_problem(tmp_path):
    with pytest.raises(FileNotFoundError, match="no TFRecord file matches"):
        pipeline.make_dataset(str(tmp_path / "*.tfrecord"))
    (tmp_path / "a.tfrecord").write_bytes(b"")
    with pytest.raises(ValueError, match="divisible by downsample=4"):
        pipeline.make_dataset(str(tmp_path / "*.tfrecord"), image_size=(30, 48))
    with pytest.raises(ValueError, match="resize_mode"):
        pipeline.make_dataset(str(tmp_path / "*.tfrecord"), resize_mode="crop")


@pytest.mark.parametrize("factor", [1, 2, 4, 8])
def test_map_small_is_pooled_by_downsample(tmp_path, factor):
    records = synthetic.write_synthetic_tfrecords(str(tmp_path), n=2, height=32, width=48)
    batch = next(iter(pipeline.make_dataset(records, image_size=(32, 48), batch_size=2,
                                            downsample=factor)))
    assert batch["map_small"].shape == (2, 32 // factor, 48 // factor, 1)
    np.testing.assert_allclose(batch["map_small"][:, 0, 0, 0],
                               np.mean(batch["map"][:, :factor, :factor, 0], axis=(1, 2)),
                               rtol=1e-5)
