"""salgan_tf.inference.load_predictor: one behaviour for checkpoints and SavedModels."""
import os

import numpy as np
import pytest

from salgan_tf import inference
from salgan_tf import preprocessing


def test_checkpoint_and_saved_model_predict_the_same_map(util):
    generator, run_dir, version_dir = util.exported_model((64, 48), "letterbox")
    image = util.random_rgb(37, 91, seed=1)
    maps = {}
    for path in (run_dir, os.path.join(run_dir, "checkpoints", "ckpt-1"), version_dir,
                 os.path.dirname(version_dir)):
        predictor = inference.load_predictor(path)
        assert predictor.image_size == (64, 48) and predictor.resize_mode == "letterbox"
        maps[path] = predictor.predict(image)
    kinds = {inference.detect_kind(p) for p in maps}
    assert kinds == {"checkpoint", "saved_model"}
    reference = maps[run_dir]
    assert reference.shape == (37, 91) and reference.dtype == np.float32
    assert 0.0 <= reference.min() and reference.max() <= 1.0 and reference.std() > 0.01
    for saliency in maps.values():
        np.testing.assert_allclose(saliency, reference, atol=1e-5)
    # And it is the Keras generator, resized in and out by salgan_tf.preprocessing.
    network_input = preprocessing.resize_image(image, (64, 48), mode="letterbox",
                                               pad_value=preprocessing.IMAGENET_RGB_MEAN)
    small = util.keras_saliency(generator, network_input.numpy()[None])[0]
    by_hand = preprocessing.resize_map_to_original(small, (37, 91), mode="letterbox")
    np.testing.assert_allclose(reference, np.clip(by_hand.numpy()[..., 0], 0, 1), atol=1e-5)


def test_predict_batch_of_mixed_sizes_matches_one_by_one(util):
    _, run_dir, _ = util.exported_model()
    predictor = inference.load_predictor(run_dir, batch_size=2)
    images = [util.random_rgb(20 + 7 * i, 31 - 3 * i, seed=i) for i in range(3)]
    batch = predictor.predict_batch(images)
    for image, saliency in zip(images, batch):
        assert saliency.shape == image.shape[:2]
        np.testing.assert_allclose(saliency, predictor.predict(image), atol=1e-5)


def test_resize_mode_override(util):
    _, run_dir, _ = util.exported_model()
    image = util.random_rgb(16, 64, seed=3)
    stretch = inference.load_predictor(run_dir).predict(image)
    letterbox = inference.load_predictor(run_dir, resize_mode="letterbox").predict(image)
    assert letterbox.shape == stretch.shape == (16, 64)
    assert np.abs(letterbox - stretch).max() > 1e-3
    with pytest.raises(ValueError, match="resize_mode"):
        inference.load_predictor(run_dir, resize_mode="crop")


def test_gray_rgba_and_bad_images(util):
    _, run_dir, _ = util.exported_model()
    predictor = inference.load_predictor(run_dir)
    rgb = util.random_rgb(10, 12, seed=4)
    gray = rgb[..., 0]
    np.testing.assert_allclose(predictor.predict(gray),
                               predictor.predict(np.stack([gray] * 3, -1)), atol=1e-6)
    rgba = np.concatenate([rgb, np.zeros((10, 12, 1), np.uint8)], -1)
    np.testing.assert_allclose(predictor.predict(rgba), predictor.predict(rgb), atol=1e-6)
    with pytest.raises(inference.InputError, match="image 0: expected an"):
        predictor.predict(np.zeros((4, 4, 2), np.uint8))
    with pytest.raises(inference.InputError, match="empty"):
        predictor.predict(np.zeros((0, 4, 3), np.uint8))
    small_limit = inference.load_predictor(run_dir, max_pixels=100)
    with pytest.raises(inference.InputError, match="larger than the limit"):
        small_limit.predict(rgb)


def test_unknown_paths_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a training run dir"):
        inference.load_predictor(str(tmp_path / "missing"))
    with pytest.raises(FileNotFoundError, match="TFLite file not found"):
        inference.load_predictor(str(tmp_path / "missing.tflite"))
    with pytest.raises(FileNotFoundError, match="no checkpoint found"):
        inference.load_predictor(str(tmp_path))
