"""salgan_tf.serve_app on every model kind: training run, SavedModel and TFLite.

The model is tests/conftest.py's (the real generator at 32x32 with its last layer rescaled so the
map spans [0, 1]) as SavedModel and training run, built once per session; the TFLite kind is
checked on a tiny stand-in network. The REST answer against the SavedModel's own signature is
tests/test_export_rest.py.
"""
import base64

import numpy as np
import pytest
import tensorflow as tf
from starlette.testclient import TestClient

from salgan_tf import inference, serve_app
from salgan_tf.export import tflite

LOCAL = "http://127.0.0.1:8501"  # the demo server answers loopback Host names only


@pytest.fixture(scope="module")
def saved_model_dir(util):
    _, _, version_dir = util.exported_model((32, 32))
    return version_dir


def _smooth_png(util, height, width, seed):
    """(uint8 [H, W, 3] smooth image, its PNG as TF Serving's {"b64": ...})."""
    image = util.smooth_images(1, (height, width), seed)[0].astype(np.uint8)
    return image, {"b64": base64.b64encode(util.encode(image)).decode("ascii")}


def test_training_run_serves_the_same_maps_as_its_saved_model(saved_model_dir, util):
    _, run_dir, _ = util.exported_model((32, 32))
    body = {"instances": [_smooth_png(util, 45, 70, seed=1)[1]]}
    answers = []
    for path in (run_dir, saved_model_dir):
        with TestClient(serve_app.create_app(inference.load_predictor(path)),
                        base_url=LOCAL) as client:
            response = client.post("/v1/models/salgan:predict", json=body)
        assert response.status_code == 200, response.text
        answers.append(np.array(response.json()["predictions"][0]["saliency"]))
    assert answers[0].shape == (45, 70, 1)
    np.testing.assert_allclose(answers[0], answers[1], atol=1e-5)


def _tiny_tflite(path):
    """A small stand-in network as a .tflite file with the export's interface: float32
    [1, 32, 32, 3] RGB 0-255 -> [1, 32, 32, 1] in [0, 1]. (Converting the real 31M-parameter
    generator takes ~40 s here; tests/test_export_tflite.py does that.)"""
    import keras

    keras.utils.set_random_seed(0)
    inputs = keras.Input((32, 32, 3), batch_size=1)
    hidden = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(inputs / 255.0)
    outputs = keras.layers.Conv2D(1, 3, padding="same", activation="sigmoid")(hidden)
    converter = tf.lite.TFLiteConverter.from_keras_model(keras.Model(inputs, outputs))
    # The settings every .tflite carries (salgan_tf.export.model_settings), as the export writes.
    data, _ = tflite.with_settings(converter.convert(), (32, 32), "stretch", "none")
    path.write_bytes(data)
    return str(path)


def test_tflite_model_is_served(tmp_path, util):
    tflite_path = _tiny_tflite(tmp_path / "tiny.tflite")
    predictor = inference.load_predictor(tflite_path)
    image, item = _smooth_png(util, 45, 70, seed=1)
    body = {"instances": [item]}
    with TestClient(serve_app.create_app(predictor), base_url=LOCAL) as client:
        assert '"kind": "tflite"' in client.get("/").text
        response = client.post("/v1/models/salgan:predict", json=body)
    assert response.status_code == 200, response.text
    saliency = np.array(response.json()["predictions"][0]["saliency"])
    assert saliency.shape == (45, 70, 1) and saliency.std() > 1e-3
    np.testing.assert_allclose(saliency[..., 0], predictor.predict(image), atol=1e-6)
