"""The exact TF Serving REST bodies, fed through the SavedModel's signatures (salgan_tf.export.rest_json)."""
import base64
import json

import numpy as np
import tensorflow as tf

from salgan_tf.export import rest_json

import test_export_util as util


def _b64(data):
    return base64.b64encode(data).decode("ascii")


def _model():
    _, _, version_dir = util.exported_model()
    return util.loaded(version_dir)


def test_row_format_b64_instances_match_the_signature():
    loaded = _model()
    image_a, image_b = util.random_rgb(20, 30, seed=1), util.random_rgb(25, 10, seed=2)
    bytes_a, bytes_b = util.encode(image_a), util.encode(image_b, "JPEG")
    body = json.dumps({"instances": [{"b64": _b64(bytes_a)}, {"b64": _b64(bytes_b)}]})
    status, response = rest_json.predict(loaded, body)
    assert status == 200, response
    json.dumps(response)  # the response is plain JSON
    predictions = response["predictions"]
    assert len(predictions) == 2
    assert set(predictions[0]) == {"saliency", "saliency_small", "height", "width"}
    assert (predictions[0]["height"], predictions[0]["width"]) == (20, 30)
    assert (predictions[1]["height"], predictions[1]["width"]) == (25, 10)
    direct = loaded.signatures["serving_default"](images=tf.constant([bytes_a, bytes_b]))
    np.testing.assert_allclose(np.array(predictions[1]["saliency"]),
                               direct["saliency"].numpy()[1], atol=1e-6)
    assert np.array(predictions[0]["saliency"]).shape == (25, 30, 1)  # padded to the batch max


def test_named_instances_and_columnar_inputs_agree():
    loaded = _model()
    data = util.encode(util.random_rgb(16, 24, seed=3))
    _, rows = rest_json.predict(loaded, {"instances": [{"images": {"b64": _b64(data)}}]})
    status, columns = rest_json.predict(loaded, {"inputs": {"images": [{"b64": _b64(data)}]}})
    assert status == 200
    _, bare = rest_json.predict(loaded, {"inputs": [{"b64": _b64(data)}]})
    np.testing.assert_array_equal(np.array(columns["outputs"]["saliency"])[0],
                                  np.array(rows["predictions"][0]["saliency"]))
    assert columns["outputs"]["height"] == [16] and bare["outputs"]["width"] == [24]


def test_predict_tensor_signature_by_name():
    loaded = _model()
    image = util.random_rgb(12, 20, seed=4).astype(np.float32)
    body = {"signature_name": "predict_tensor", "instances": image[None].tolist()}
    status, response = rest_json.predict(loaded, json.dumps(body))
    assert status == 200, response
    direct = loaded.signatures["predict_tensor"](images=tf.constant(image[None]))
    np.testing.assert_allclose(np.array(response["predictions"][0]["saliency"]),
                               direct["saliency"].numpy()[0], atol=1e-6)


def test_bad_requests_get_400_with_a_message():
    loaded = _model()
    cases = {
        "not json": "{",
        "both formats": {"instances": [], "inputs": []},
        "bad base64": {"instances": [{"b64": "***"}]},
        "unknown signature": {"signature_name": "nope", "instances": [{"b64": ""}]},
        "undecodable image": {"instances": [{"b64": _b64(b"GIF89a not really")}]},
        "empty image": {"instances": [{"b64": ""}]},
    }
    expected = {"not json": "not JSON", "both formats": "exactly one",
                "bad base64": "invalid base64", "unknown signature": "unknown signature_name",
                "undecodable image": "neither JPEG nor PNG", "empty image": "empty"}
    for case, body in cases.items():
        status, response = rest_json.predict(loaded, body)
        assert status == 400, case
        assert expected[case] in response["error"], (case, response)
