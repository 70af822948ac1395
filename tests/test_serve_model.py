"""salgan_tf.serve_app on real model files: same answers as the SavedModel behind TF Serving.

The model is the export tests' (tests/test_export_util.py: the real generator at 32x32 with its
last layer rescaled so the map spans [0, 1]) as SavedModel and training run, built once per test
process; the TFLite kind is checked on a tiny stand-in network.

A TF Serving client must get from the demo server what it gets from TF Serving running the
exported SavedModel. TF Serving cannot run here, so the reference is salgan_tf.export.rest_json (TF Serving's
REST handler applied to the loaded SavedModel) on the same request body.
"""
import base64
import io

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image
from tensorflow.core.framework import types_pb2
from starlette.testclient import TestClient

from salgan_tf.export import rest_json
from salgan_tf import inference, serve_app

import test_export_util


@pytest.fixture(scope="module")
def saved_model_dir():
    _, _, version_dir = test_export_util.exported_model((32, 32))
    return version_dir


def _smooth_image(height, width, seed):
    """A smooth RGB uint8 image (JPEG-friendly) with structure for the network to respond to."""
    rng = np.random.default_rng(seed)
    rows = np.linspace(0, 1, height)[:, None, None]
    cols = np.linspace(0, 1, width)[None, :, None]
    weights = rng.uniform(0, 255, (3, 3))
    image = weights[0] * rows + weights[1] * cols + weights[2] * rows * cols
    return np.clip(image, 0, 255).astype(np.uint8)


def _encode(image, fmt):
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format=fmt, quality=95)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


@pytest.mark.parametrize("layout", ["instances", "inputs"])
def test_server_answers_like_the_saved_model_behind_tf_serving(saved_model_dir, layout):
    predictor = inference.load_predictor(saved_model_dir)
    images = [_encode(_smooth_image(45, 70, seed=1), "PNG"),
              _encode(_smooth_image(60, 40, seed=2), "JPEG")]
    items = [{"b64": data} for data in images]
    body = {layout: items}
    with TestClient(serve_app.create_app(predictor)) as client:
        response = client.post("/v1/models/salgan:predict", json=body)
    assert response.status_code == 200, response.text
    status, expected = rest_json.predict(tf.saved_model.load(saved_model_dir), body)
    assert status == 200
    ours = response.json()
    key = "predictions" if layout == "instances" else "outputs"
    assert set(ours) == set(expected) == {key}
    if layout == "instances":
        ours = {name: [p[name] for p in ours[key]] for name in ours[key][0]}
        expected = {name: [p[name] for p in expected[key]] for name in expected[key][0]}
    else:
        ours, expected = ours[key], expected[key]
    assert set(ours) == set(expected)
    assert ours["height"] == [45, 60] and ours["width"] == [70, 40]
    for name in ("saliency", "saliency_small"):
        ours_array, expected_array = np.array(ours[name]), np.array(expected[name])
        assert ours_array.shape == expected_array.shape
        np.testing.assert_allclose(ours_array, expected_array, atol=1e-5)
    saliency = np.array(ours["saliency"])
    assert saliency.shape == (2, 60, 70, 1) and saliency[0, :45, :70].std() > 0.01


def test_bad_image_errors_match_the_saved_model_status(saved_model_dir):
    predictor = inference.load_predictor(saved_model_dir)
    body = {"instances": [{"b64": base64.b64encode(b"plain text, not an image").decode()}]}
    with TestClient(serve_app.create_app(predictor)) as client:
        response = client.post("/v1/models/salgan:predict", json=body)
    status, expected = rest_json.predict(tf.saved_model.load(saved_model_dir), body)
    assert response.status_code == status == 400
    assert "error" in response.json() and "error" in expected


def test_training_run_serves_the_same_maps_as_its_saved_model(saved_model_dir):
    _, run_dir, _ = test_export_util.exported_model((32, 32))
    body = {"instances": [{"b64": _encode(_smooth_image(45, 70, seed=1), "PNG")}]}
    answers = []
    for path in (run_dir, saved_model_dir):
        with TestClient(serve_app.create_app(inference.load_predictor(path))) as client:
            response = client.post("/v1/models/salgan:predict", json=body)
        assert response.status_code == 200, response.text
        answers.append(np.array(response.json()["predictions"][0]["saliency"]))
    assert answers[0].shape == (45, 70, 1)
    np.testing.assert_allclose(answers[0], answers[1], atol=1e-5)


def test_metadata_describes_the_saved_model_signature(saved_model_dir):
    predictor = inference.load_predictor(saved_model_dir)
    with TestClient(serve_app.create_app(predictor)) as client:
        metadata = client.get("/v1/models/salgan/metadata").json()
    ours = metadata["metadata"]["signature_def"]["signature_def"]["serving_default"]
    signature = tf.saved_model.load(saved_model_dir).signatures["serving_default"]
    _, input_specs = signature.structured_input_signature
    for described, specs in ((ours["inputs"], input_specs), (ours["outputs"],
                                                             signature.structured_outputs)):
        assert set(described) == set(specs)
        for name, spec in specs.items():
            dims = [int(d["size"]) for d in described[name]["tensor_shape"]["dim"]]
            assert dims == [-1 if d is None else d for d in spec.shape.as_list()], name
            assert described[name]["dtype"] == types_pb2.DataType.Name(
                spec.dtype.as_datatype_enum), name


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
    path.write_bytes(converter.convert())
    return str(path)


def test_tflite_model_is_served(tmp_path):
    tflite_path = _tiny_tflite(tmp_path / "tiny.tflite")
    predictor = inference.load_predictor(tflite_path)
    image = _smooth_image(45, 70, seed=1)
    body = {"instances": [{"b64": _encode(image, "PNG")}]}
    with TestClient(serve_app.create_app(predictor)) as client:
        assert client.get("/api/info").json()["kind"] == "tflite"
        response = client.post("/v1/models/salgan:predict", json=body)
    assert response.status_code == 200, response.text
    saliency = np.array(response.json()["predictions"][0]["saliency"])
    assert saliency.shape == (45, 70, 1) and saliency.std() > 1e-3
    np.testing.assert_allclose(saliency[..., 0], predictor.predict(image), atol=1e-6)
