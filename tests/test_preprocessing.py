"""Tests for salgan_tf.preprocessing: eagerly, in tf.function and in tf.data.map."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from salgan_tf import preprocessing


def _run(fn, *args, how):
    """Runs fn eagerly, as a tf.function with unknown H/W, or inside tf.data.Dataset.map."""
    if how == "eager":
        return fn(*args).numpy()
    if how == "function":
        signature = [tf.TensorSpec([None] * (np.ndim(a) - 1) + [np.shape(a)[-1]], tf.float32)
                     for a in args]
        return tf.function(fn, input_signature=signature)(*args).numpy()
    ds = tf.data.Dataset.from_tensors(tuple(tf.constant(a, tf.float32) for a in args))
    return next(iter(ds.map(fn))).numpy()


MODES = ["eager", "function", "dataset"]


@pytest.mark.parametrize("how", MODES)
def test_vgg_preprocess_is_caffe_bgr_minus_mean(how):
    rgb = np.random.default_rng(0).uniform(0, 255, (2, 4, 6, 3)).astype(np.float32)
    got = _run(preprocessing.vgg_preprocess, rgb, how=how)
    expected = rgb[..., ::-1] - np.array([103.939, 116.779, 123.68], np.float32)
    np.testing.assert_allclose(got, expected, atol=1e-4)
    np.testing.assert_allclose(
        got, keras.applications.vgg16.preprocess_input(rgb.copy()), atol=1e-4)


def test_vgg_preprocess_casts_uint8():
    rgb = np.full((1, 2, 2, 3), 200, np.uint8)
    got = preprocessing.vgg_preprocess(rgb).numpy()
    np.testing.assert_allclose(got[0, 0, 0], [200 - 103.939, 200 - 116.779, 200 - 123.68],
                               atol=1e-4)


@pytest.mark.parametrize("how", MODES)
def test_stretch_resize_shape_and_constant_image(how):
    image = np.full((30, 50, 3), 77.0, np.float32)
    got = _run(lambda x: preprocessing.resize_image(x, (32, 48)), image, how=how)
    assert got.shape == (32, 48, 3)
    np.testing.assert_allclose(got, 77.0, atol=1e-3)


def test_letterbox_geometry_keeps_aspect():
    inner_h, inner_w, top, left = (int(v) for v in
                                   preprocessing.letterbox_geometry((100, 100), (32, 48)))
    assert (inner_h, inner_w, top, left) == (32, 32, 0, 8)
    inner_h, inner_w, top, left = (int(v) for v in
                                   preprocessing.letterbox_geometry((10, 60), (32, 48)))
    assert (inner_h, inner_w, top, left) == (8, 48, 12, 0)


@pytest.mark.parametrize("how", MODES)
def test_letterbox_pads_with_pad_value(how):
    image = np.full((100, 100, 3), 10.0, np.float32)
    got = _run(lambda x: preprocessing.resize_image(
        x, (32, 48), "letterbox", pad_value=preprocessing.IMAGENET_RGB_MEAN), image, how=how)
    assert got.shape == (32, 48, 3)
    np.testing.assert_allclose(got[:, 8:40], 10.0, atol=1e-3)
    np.testing.assert_allclose(got[:, :8], np.broadcast_to(preprocessing.IMAGENET_RGB_MEAN,
                                                           (32, 8, 3)), atol=1e-3)
    # after caffe preprocessing the pad is exactly zero
    np.testing.assert_allclose(preprocessing.vgg_preprocess(got[:, :8]), 0.0, atol=1e-3)


@pytest.mark.parametrize("mode", ["stretch", "letterbox"])
@pytest.mark.parametrize("how", MODES)
def test_resize_map_to_original_inverts_resize(mode, how):
    # A smooth map survives the round trip original -> model size -> original.
    yy, xx = np.mgrid[0:40, 0:90]
    smooth = np.exp(-((yy - 15) ** 2 + (xx - 50) ** 2) / (2 * 12.0 ** 2))[..., None]
    smooth = smooth.astype(np.float32)

    def round_trip(x):
        small = preprocessing.resize_map(x, (32, 48), mode)
        return preprocessing.resize_map_to_original(small, tf.shape(x)[-3:-1], mode)

    got = _run(round_trip, smooth, how=how)
    assert got.shape == (40, 90, 1)
    np.testing.assert_allclose(got, smooth, atol=0.05)


def test_letterbox_inverse_ignores_padding():
    # Whatever the model predicts on the padding must not leak into the original-size map.
    model_map = np.ones((1, 32, 48, 1), np.float32)
    model_map[:, :, :8] = 0.0  # left pad
    model_map[:, :, 40:] = 0.0  # right pad
    got = preprocessing.resize_map_to_original(model_map, (100, 100), "letterbox").numpy()
    assert got.shape == (1, 100, 100, 1)
    np.testing.assert_allclose(got, 1.0, atol=1e-5)


def test_unknown_mode_is_an_error():
    with pytest.raises(ValueError, match="resize mode"):
        preprocessing.resize_image(np.zeros((4, 4, 3)), (2, 2), "crop")
