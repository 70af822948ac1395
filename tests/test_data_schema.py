"""Round trip of the TFRecord schema: serialize_example <-> parse_example, eager and in tf.data."""
import numpy as np
import pytest
import tensorflow as tf

from salgan_tf.data import images
from salgan_tf.data import pipeline
from salgan_tf.data import records
from salgan_tf.data import schema


def _example(bit_depth=8, image_format="png", observers=(0, 1, -1)):
    rng = np.random.default_rng(3)
    rgb = rng.integers(0, 256, (32, 48, 3), dtype=np.uint8)
    saliency = rng.uniform(0, 1, (32, 48))
    saliency[5, 7] = 1.0
    return dict(
        image=images.encode_rgb(rgb, image_format), image_format=image_format,
        name="img_001", dataset="unit", height=32, width=48, original_height=64,
        original_width=96, map_png=images.encode_map_png(saliency, bit_depth),
        map_bit_depth=bit_depth, fixation_rows=[0, 63, 10], fixation_cols=[95, 0, 20],
        fixation_observers=observers), rgb, saliency


@pytest.mark.parametrize("bit_depth", [8, 16])
@pytest.mark.parametrize("in_dataset", [False, True])
def test_round_trip(bit_depth, in_dataset):
    fields, rgb, saliency = _example(bit_depth)
    serialized = schema.serialize_example(**fields)
    if in_dataset:
        parsed = next(iter(tf.data.Dataset.from_tensors(serialized).map(schema.parse_example)))
    else:
        parsed = schema.parse_example(serialized)
    assert parsed["name"].numpy() == b"img_001"
    assert parsed["dataset"].numpy() == b"unit"
    assert parsed["image_format"].numpy() == b"png"
    assert int(parsed["height"]) == 32 and int(parsed["width"]) == 48
    assert int(parsed["original_height"]) == 64 and int(parsed["original_width"]) == 96
    assert int(parsed["map_bit_depth"]) == bit_depth
    np.testing.assert_array_equal(parsed["fixation_rows"], [0, 63, 10])
    np.testing.assert_array_equal(parsed["fixation_cols"], [95, 0, 20])
    np.testing.assert_array_equal(parsed["fixation_observers"], [0, 1, -1])
    np.testing.assert_array_equal(pipeline.decode_record_image(parsed["image"]), rgb)
    full = 255.0 if bit_depth == 8 else 65535.0
    np.testing.assert_allclose(pipeline.decode_map(parsed["map"])[..., 0], saliency,
                               atol=0.5 / full + 1e-6)


def test_observers_default_to_unknown_and_empty_fixations_parse():
    fields, _, _ = _example()
    fields["fixation_observers"] = None
    parsed = schema.parse_example(schema.serialize_example(**fields))
    np.testing.assert_array_equal(parsed["fixation_observers"], [-1, -1, -1])
    fields.update(fixation_rows=[], fixation_cols=[], fixation_observers=None)
    parsed = schema.parse_example(schema.serialize_example(**fields))
    assert parsed["fixation_rows"].shape == (0,)
    assert parsed["fixation_rows"].dtype == tf.int64


@pytest.mark.parametrize("change, message", [
    ({"fixation_rows": [0, 64, 1]}, "outside the 64x96 image"),
    ({"fixation_cols": [-1, 0, 1]}, "outside"),
    ({"fixation_cols": [1, 2]}, "differ in length"),
    ({"image_format": "gif"}, "image_format"),
    ({"map_bit_depth": 12}, "map_bit_depth"),
    ({"original_width": 0}, "original_width must be positive"),
])
def test_invalid_fields_are_rejected_with_the_name(change, message):
    fields, _, _ = _example()
    fields.update(change)
    with pytest.raises(ValueError, match=message) as info:
        schema.serialize_example(**fields)
    assert "img_001" in str(info.value)


def test_build_record_resizes_image_and_map_but_not_fixations():
    rgb = np.zeros((40, 60, 3), np.uint8)
    rgb[:, 30:] = 200
    saliency = np.zeros((40, 60))
    saliency[:, 30:] = 1.0
    serialized, size = records.build_record(
        name="x", rgb=rgb, saliency=saliency, fixation_rows=[39], fixation_cols=[59],
        resize=(20, 32), image_format="png")
    parsed = schema.parse_example(serialized)
    assert size == (20, 32)
    assert (int(parsed["height"]), int(parsed["width"])) == (20, 32)
    assert (int(parsed["original_height"]), int(parsed["original_width"])) == (40, 60)
    np.testing.assert_array_equal(parsed["fixation_rows"], [39])  # original grid
    image = pipeline.decode_record_image(parsed["image"]).numpy()
    assert image.shape == (20, 32, 3) and image[0, 0, 0] == 0 and image[0, -1, 0] == 200


def test_build_record_rejects_map_of_other_size():
    with pytest.raises(images.BadInputError, match="map is 10x10 but the image is 40x60"):
        records.build_record(name="x", rgb=np.zeros((40, 60, 3), np.uint8),
                             saliency=np.zeros((10, 10)))
