"""TF Serving's REST shape, checked against the exported SavedModel itself.

TF Serving cannot run here (no Docker). What it does with a predict body is documented
(https://www.tensorflow.org/tfx/serving/api_rest#predict_api): decode each {"b64": ...}, call the
signature on the batch, and answer row format `{"predictions": [{output: value of example i}]}`
or columnar `{"outputs": {output: value}}`; an InvalidArgument from the signature is a 400. So
each test sends a body to the demo server (`python -m salgan_tf.serve`) serving the SavedModel,
calls `signatures["serving_default"]` of the same SavedModel (`tf.saved_model.load`) on the same
bytes, and checks that the JSON holds exactly the signature's outputs in that layout.
"""
import base64

import numpy as np
import pytest
import tensorflow as tf
from starlette.testclient import TestClient

from salgan_tf import inference, serve_app

LOCAL = "http://127.0.0.1:8501"  # the demo server answers loopback Host names only

PREDICT = "/v1/models/salgan:predict"


def _b64(data):
    return {"b64": base64.b64encode(data).decode("ascii")}


@pytest.fixture(scope="module")
def version_dir(util):
    return util.exported_model((32, 32))[2]


@pytest.fixture(scope="module")
def client(version_dir):
    with TestClient(serve_app.create_app(inference.load_predictor(version_dir)),
                    base_url=LOCAL) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def two_images(util):
    """A PNG and a JPEG of different sizes (the answer is padded to the larger of each side)."""
    return [util.encode(util.smooth_images(1, (45, 70), seed=1)[0].astype(np.uint8)),
            util.encode(util.smooth_images(1, (60, 40), seed=2)[0].astype(np.uint8), "JPEG",
                        quality=95)]


def _assert_outputs_equal(ours, signature_outputs):
    """JSON values {name: nested lists} == the signature's {name: tensor}."""
    assert set(ours) == set(signature_outputs)
    for name, tensor in signature_outputs.items():
        expected = tensor.numpy()
        got = np.asarray(ours[name], expected.dtype)
        assert got.shape == expected.shape, name
        np.testing.assert_allclose(got, expected, atol=1e-5, err_msg=name)


@pytest.mark.parametrize("layout", ["instances", "named instances", "inputs", "bare inputs"])
def test_answer_is_the_serving_default_signature_in_tf_serving_layout(client, util, version_dir,
                                                                       two_images, layout):
    items = [_b64(data) for data in two_images]
    body = {"instances": {"instances": items},
            "named instances": {"instances": [{"images": item} for item in items]},
            "inputs": {"inputs": {"images": items}},
            "bare inputs": {"inputs": items}}[layout]
    response = client.post(PREDICT, json=body)
    assert response.status_code == 200, response.text
    signature = util.loaded(version_dir).signatures["serving_default"]
    expected = signature(images=tf.constant(two_images))
    assert [int(h) for h in expected["height"]] == [45, 60]  # the mixed sizes reached it
    if "instances" in layout:  # row format: one object per example
        (key,) = response.json()
        assert key == "predictions"
        predictions = response.json()["predictions"]
        assert len(predictions) == 2
        for i, prediction in enumerate(predictions):
            _assert_outputs_equal(prediction, {name: value[i] for name, value in expected.items()})
    else:  # columnar: one array per output
        assert list(response.json()) == ["outputs"]
        _assert_outputs_equal(response.json()["outputs"], expected)


@pytest.mark.parametrize("kind", ["text", "gif", "truncated png", "empty"])
def test_bytes_the_signature_refuses_get_400(client, util, version_dir, kind):
    png = util.encode(util.random_rgb(20, 30))
    data = {"text": b"plain text, not an image", "gif": util.encode(util.random_rgb(8, 8), "GIF"),
            "truncated png": png[:len(png) // 2], "empty": b""}[kind]
    signature = util.loaded(version_dir).signatures["serving_default"]
    with pytest.raises(tf.errors.InvalidArgumentError):  # TF Serving: 400
        signature(images=tf.constant([png, data]))
    response = client.post(PREDICT, json={"instances": [_b64(png), _b64(data)]})
    assert response.status_code == 400
    assert response.json()["error"].startswith("instances[1]: ")
