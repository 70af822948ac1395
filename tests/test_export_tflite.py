"""salgan_tf.export.tflite: every quantisation loads in the TFLite interpreter and stays close to the
SavedModel on real photographs (OSIE stimuli, resized by the model's own path).

The test model is the 32x32 generator of test_export_util (fixed seeds, rescaled output layer,
map std ~0.3), not a trained SalGAN: the bounds check the conversion, not saliency quality.
"""
import json

import numpy as np
import pytest
from PIL import Image

from salgan_tf.export import tflite as tflite_lib
from salgan_tf import inference

import test_export_util as util

# Pearson CC between TFLite and SavedModel maps (the bounds for float16 and int8).
MIN_CC = {"none": 0.99999, "float16": 0.999, "dynamic": 0.98, "int8": 0.98}


def _real_images(shared_data, count):
    stimuli = sorted((shared_data / "osie" / "data" / "stimuli").glob("*.jpg"))
    if len(stimuli) < count:
        pytest.skip(f"need {count} OSIE stimuli under {shared_data}, found {len(stimuli)}")
    return [np.asarray(Image.open(path).convert("RGB")) for path in stimuli[:count]]


@pytest.mark.slow
def test_all_quantizations_load_and_match_the_saved_model(shared_data, tmp_path):
    _, _, version_dir = util.exported_model()
    images = _real_images(shared_data, 10)
    calibration, evaluation = images[:6], images[6:]
    reference = inference.load_predictor(version_dir)
    expected = [reference.predict(image) for image in evaluation]
    sizes = {}
    for quantize in tflite_lib.QUANTIZATIONS:
        tflite_bytes, metadata = tflite_lib.convert(
            version_dir, quantize,
            representative_images=calibration if quantize == "int8" else None)
        path = tflite_lib.write(tflite_bytes, metadata, str(tmp_path / f"m_{quantize}.tflite"))
        sizes[quantize] = len(tflite_bytes)
        predictor = inference.load_predictor(path)
        assert predictor.kind == "tflite" and predictor.image_size == (32, 32)
        assert json.loads(open(path + ".json").read())["quantize"] == quantize
        for image, want in zip(evaluation, expected):
            got = predictor.predict(image)
            assert got.shape == image.shape[:2] and got.dtype == np.float32
            assert want.std() > 0.05
            cc = np.corrcoef(got.ravel(), want.ravel())[0, 1]
            assert cc >= MIN_CC[quantize], (quantize, cc)
    # Weights are really stored quantised (not left as variables).
    assert sizes["none"] > 120e6
    assert sizes["float16"] < 0.55 * sizes["none"]
    assert sizes["int8"] < 0.3 * sizes["none"] and sizes["dynamic"] < 0.3 * sizes["none"]


def test_int8_needs_representative_images():
    _, _, version_dir = util.exported_model()
    with pytest.raises(ValueError, match="representative"):
        tflite_lib.convert(version_dir, "int8")
    with pytest.raises(ValueError, match="quantize"):
        tflite_lib.convert(version_dir, "int4")


def test_calibration_images_from_a_folder(tmp_path):
    for i in range(3):
        Image.fromarray(util.random_rgb(10 + i, 12, seed=i)).save(tmp_path / f"{i}.png")
    (tmp_path / "notes.txt").write_text("not an image")
    images = list(tflite_lib.calibration_images(image_paths=str(tmp_path), limit=2))
    assert [image.shape for image in images] == [(10, 12, 3), (11, 12, 3)]
    with pytest.raises(FileNotFoundError, match="no calibration images"):
        list(tflite_lib.calibration_images(image_paths=str(tmp_path / "*.jpg")))


def test_calibration_images_from_tfrecords(tmp_path):
    from salgan_tf.data import synthetic

    synthetic.write_synthetic_tfrecords(str(tmp_path), 3, 24, 40, seed=0)
    images = list(tflite_lib.calibration_images(tfrecords=str(tmp_path / "*.tfrecord"), limit=2))
    assert len(images) == 2
    assert all(image.shape == (24, 40, 3) and image.dtype == np.uint8 for image in images)
