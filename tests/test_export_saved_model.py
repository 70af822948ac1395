"""salgan_tf.export.saved_model: round trip vs Keras, the two signatures, bad input, TF Serving layout."""
import os
import struct
import zlib

import numpy as np
import pytest
import tensorflow as tf

from salgan_tf.export import saved_model as saved_model_lib
from salgan_tf import preprocessing
from tolerances import MAP_ATOL


@pytest.mark.parametrize("image_size,resize_mode", [((32, 32), "stretch"),
                                                    ((64, 48), "letterbox")])
def test_round_trip_equals_keras(util, image_size, resize_mode):
    generator, _, version_dir = util.exported_model(image_size, resize_mode)
    loaded = util.loaded(version_dir)
    batch = util.smooth_images(2, image_size, seed=1)
    expected = util.keras_saliency(generator, batch)
    small = loaded.signatures["predict_tensor"](images=tf.constant(batch))["saliency_small"]
    np.testing.assert_allclose(small.numpy(), expected, atol=MAP_ATOL)
    assert expected.std() > 0.05  # the test model's map is not constant

    # Any-size input: in-graph resize -> network -> inverse resize, same as doing it by hand.
    original = util.random_rgb(45, 70, seed=2).astype(np.float32)
    outputs = loaded.signatures["predict_tensor"](images=tf.constant(original[None]))
    resized = preprocessing.resize_image(original, image_size, mode=resize_mode,
                                         pad_value=preprocessing.IMAGENET_RGB_MEAN)
    small = util.keras_saliency(generator, resized.numpy()[None])
    by_hand = preprocessing.resize_map_to_original(small, (45, 70), mode=resize_mode).numpy()
    assert outputs["saliency"].shape == (1, 45, 70, 1)
    np.testing.assert_allclose(outputs["saliency"].numpy(), np.clip(by_hand, 0, 1), atol=MAP_ATOL)


def test_serving_default_decodes_bytes_like_predict_tensor(util):
    _, _, version_dir = util.exported_model()
    loaded = util.loaded(version_dir)
    image_a = util.random_rgb(50, 70, seed=3)
    image_b = util.random_rgb(40, 90, seed=4)
    outputs = loaded.signatures["serving_default"](
        images=tf.constant([util.encode(image_a, "PNG"), util.encode(image_b, "PNG")]))
    np.testing.assert_array_equal(outputs["height"].numpy(), [50, 40])
    np.testing.assert_array_equal(outputs["width"].numpy(), [70, 90])
    saliency = outputs["saliency"].numpy()
    assert saliency.shape == (2, 50, 90, 1) and saliency.dtype == np.float32
    assert outputs["saliency_small"].shape == (2, 32, 32, 1)
    for i, image in enumerate((image_a, image_b)):
        direct = loaded.signatures["predict_tensor"](
            images=tf.constant(image[None].astype(np.float32)))
        height, width = image.shape[:2]
        np.testing.assert_allclose(saliency[i, :height, :width], direct["saliency"].numpy()[0],
                                   atol=MAP_ATOL)
        np.testing.assert_allclose(outputs["saliency_small"].numpy()[i],
                                   direct["saliency_small"].numpy()[0], atol=MAP_ATOL)
    # Padding beyond each image's own size is zero.
    assert np.all(saliency[1, 40:, :, :] == 0) and np.all(saliency[0, :, 70:, :] == 0)
    assert 0.0 <= saliency.min() and saliency.max() <= 1.0


def test_gray_rgba_and_jpeg_are_accepted(util):
    _, _, version_dir = util.exported_model()
    serve = util.loaded(version_dir).signatures["serving_default"]
    rgb = util.random_rgb(30, 20, seed=5)
    gray = rgb[..., 0]
    rgba = np.concatenate([rgb, np.full((30, 20, 1), 7, np.uint8)], axis=-1)
    outputs = serve(images=tf.constant([util.encode(gray), util.encode(rgba),
                                        util.encode(rgb, "JPEG")]))
    assert outputs["saliency"].shape == (3, 30, 20, 1)
    gray_as_rgb = serve(images=tf.constant([util.encode(np.stack([gray] * 3, -1))]))
    np.testing.assert_allclose(outputs["saliency"][0], gray_as_rgb["saliency"][0], atol=MAP_ATOL)
    rgb_only = serve(images=tf.constant([util.encode(rgb)]))
    np.testing.assert_allclose(outputs["saliency"][1], rgb_only["saliency"][0], atol=MAP_ATOL)


def _png_header_only(height, width):
    """A PNG signature + IHDR claiming height x width, with no pixel data at all."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = struct.pack(">I", len(ihdr)) + b"IHDR" + ihdr
    return b"\x89PNG\r\n\x1a\n" + chunk + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))


@pytest.mark.parametrize("data,message", [
    (b"", "image bytes are empty"),
    (b"this is not an image", "neither JPEG nor PNG"),
    (_png_header_only(10_000, 10_000), "larger than the limit"),
    (b"\x89PNG\r\n\x1a\n", "too short"),
])
def test_bad_bytes_fail_with_invalid_argument_naming_the_item(util, data, message):
    _, _, version_dir = util.exported_model()
    serve = util.loaded(version_dir).signatures["serving_default"]
    good = util.encode(util.random_rgb(8, 8))
    with pytest.raises(tf.errors.InvalidArgumentError, match=message) as raised:
        serve(images=tf.constant([good, data]))
    assert "images[1]" in raised.value.message
    # The module is still usable afterwards (a server would keep serving).
    assert serve(images=tf.constant([good]))["saliency"].shape == (1, 8, 8, 1)


def test_truncated_images_fail_with_invalid_argument(util):
    _, _, version_dir = util.exported_model()
    serve = util.loaded(version_dir).signatures["serving_default"]
    for fmt in ("PNG", "JPEG"):
        data = util.encode(util.random_rgb(40, 40), fmt)
        with pytest.raises(tf.errors.InvalidArgumentError):
            serve(images=tf.constant([data[:60]]))


def test_pixel_limit_applies_to_predict_tensor_too(util):
    _, _, version_dir = util.exported_model(max_pixels=2_000_000)
    predict = util.loaded(version_dir).signatures["predict_tensor"]
    with pytest.raises(tf.errors.InvalidArgumentError, match="larger than the limit"):
        predict(images=tf.zeros([1, 2000, 1001, 3]))


def test_signatures_have_clean_names_dtypes_and_shapes(util):
    _, _, version_dir = util.exported_model()
    loaded = util.loaded(version_dir)
    assert set(loaded.signatures) == {"serving_default", "predict_tensor"}
    serve = loaded.signatures["serving_default"]
    (inputs,) = serve.structured_input_signature[1].values()
    assert inputs.name == "images" and inputs.dtype == tf.string and inputs.shape.as_list() == [None]
    outputs = serve.structured_outputs
    assert set(outputs) == {"saliency", "saliency_small", "height", "width"}
    assert outputs["saliency"].dtype == tf.float32
    assert outputs["saliency"].shape.as_list() == [None, None, None, 1]
    assert outputs["saliency_small"].shape.as_list() == [None, 32, 32, 1]
    assert outputs["height"].dtype == tf.int32
    tensor = loaded.signatures["predict_tensor"]
    (images,) = tensor.structured_input_signature[1].values()
    assert images.dtype == tf.float32 and images.shape.as_list() == [None, None, None, 3]
    assert set(tensor.structured_outputs) == {"saliency", "saliency_small"}
    assert loaded.resize_mode.numpy() == b"stretch"
    assert (int(loaded.image_height.numpy()), int(loaded.image_width.numpy())) == (32, 32)


def test_version_dir_layout_is_enforced(util, tmp_path):
    generator, _, _ = util.exported_model()
    with pytest.raises(ValueError, match="integer version"):
        saved_model_lib.export_saved_model(generator, str(tmp_path / "model" / "latest"))
    occupied = tmp_path / "model" / "1"
    occupied.mkdir(parents=True)
    (occupied / "saved_model.pb").write_bytes(b"x")
    with pytest.raises(FileExistsError, match="already exists"):
        saved_model_lib.export_saved_model(generator, str(occupied))
    with pytest.raises(ValueError, match="resize_mode"):
        saved_model_lib.SalganServingModule(generator, resize_mode="crop")


def test_export_checkpoint_uses_the_runs_size_and_resize_mode(util, tmp_path):
    generator, run_dir, _ = util.exported_model((64, 48), "letterbox")
    version_dir = saved_model_lib.export_checkpoint(run_dir, str(tmp_path / "salgan" / "3"))
    assert sorted(os.listdir(tmp_path / "salgan")) == ["3"]  # no staging dir left behind
    loaded = util.loaded(version_dir)
    assert loaded.resize_mode.numpy() == b"letterbox"
    batch = util.smooth_images(1, (64, 48), seed=7)
    small = loaded.signatures["predict_tensor"](images=tf.constant(batch))["saliency_small"]
    np.testing.assert_allclose(small.numpy(), util.keras_saliency(generator, batch), atol=MAP_ATOL)


def test_session_loader_like_tf_serving_restores_every_variable(util):
    """TF Serving loads SavedModels with the C++ session loader (restore op + init op), not
    tf.saved_model.load; the TF1 loader does the same and failed before the raw variables were
    tracked ("Could not find variable ...")."""
    generator, _, version_dir = util.exported_model()
    data = util.encode(util.random_rgb(32, 32, seed=9))
    expected = util.loaded(version_dir).signatures["serving_default"](images=tf.constant([data]))
    with tf.Graph().as_default(), tf.compat.v1.Session() as session:
        meta_graph = tf.compat.v1.saved_model.loader.load(session, ["serve"], version_dir)
        signature = meta_graph.signature_def["serving_default"]
        fetches = {name: info.name for name, info in signature.outputs.items()}
        outputs = session.run(fetches, {signature.inputs["images"].name: [data]})
    assert outputs["saliency"].shape == (1, 32, 32, 1)
    np.testing.assert_allclose(outputs["saliency"], expected["saliency"].numpy(), atol=MAP_ATOL)
    np.testing.assert_array_equal(outputs["height"], [32])


def test_weights_are_stored_once(util):
    generator, _, version_dir = util.exported_model()
    variables_dir = os.path.join(version_dir, "variables")
    stored = sum(os.path.getsize(os.path.join(variables_dir, name))
                 for name in os.listdir(variables_dir))
    weights = 4 * generator.count_params()  # float32
    assert weights <= stored < 1.1 * weights
