"""salgan_tf.serve_app with a fake network: TF Serving REST shape, the page route, validation.

The predictor is tests/conftest.py's `fake_predictor`: a real `inference.Predictor` (real resizing
both ways) around a fake network whose map is the image's brightness, so each test can tell where
the map's bright side should be.
"""
import base64
import io
import json
import socket
import threading
import time
import urllib.request

import numpy as np
import pytest
from PIL import Image
from starlette.testclient import TestClient

from salgan_tf import serve_app
from salgan_tf.data import images

LOCAL = "http://127.0.0.1:8501"  # the demo server answers loopback Host names only
RAW_BODY = {"Content-Type": "application/octet-stream"}  # the page route's body
JSON_BODY = {"Content-Type": "application/json"}  # the predict routes' body

PREDICT = "/v1/models/salgan:predict"


def half_white(height, width):
    """uint8 RGB image, white on the left half, black on the right."""
    image = np.zeros((height, width, 3), np.uint8)
    image[:, :width // 2] = 255
    return image


def b64(data):
    return {"b64": base64.b64encode(data).decode("ascii")}


@pytest.fixture(scope="module")
def huge_png(util):
    return util.blank_png(12000, 12000)


@pytest.fixture(scope="module")
def encode(util):
    return util.encode


@pytest.fixture
def client(fake_predictor):
    with TestClient(serve_app.create_app(fake_predictor()), base_url=LOCAL) as test_client:
        yield test_client


def test_status_has_tf_serving_shape(client):
    status = client.get("/v1/models/salgan")
    assert status.status_code == 200
    assert status.json() == {"model_version_status": [{
        "version": "1", "state": "AVAILABLE", "status": {"error_code": "OK",
                                                         "error_message": ""}}]}
    assert client.get("/v1/models/salgan/versions/1").status_code == 200
    assert client.get("/v1/models/salgan/versions/2").status_code == 404


def test_row_format_returns_the_map_at_the_original_size(client, encode, fake_predictor):
    image = half_white(40, 60)
    response = client.post(PREDICT, json={"instances": [b64(encode(image))]})
    assert response.status_code == 200, response.text
    (prediction,) = response.json()["predictions"]
    assert prediction["height"] == 40 and prediction["width"] == 60
    saliency = np.array(prediction["saliency"], np.float32)
    assert saliency.shape == (40, 60, 1)
    assert saliency[:, :25].min() > 0.9 and saliency[:, 35:].max() < 0.1  # left half is white
    np.testing.assert_allclose(saliency[..., 0], fake_predictor().predict(image), atol=1e-6)
    small = np.array(prediction["saliency_small"], np.float32)
    assert small.shape == (32, 48, 1)


def test_columnar_batch_of_two_sizes_is_padded_like_the_saved_model(client, encode,
                                                                    fake_predictor):
    first, second = half_white(40, 60), half_white(50, 30)
    response = client.post(PREDICT, json={"inputs": {"images": [b64(encode(first)),
                                                                b64(encode(second, "JPEG"))]}})
    assert response.status_code == 200, response.text
    outputs = response.json()["outputs"]
    assert outputs["height"] == [40, 50] and outputs["width"] == [60, 30]
    saliency = np.array(outputs["saliency"], np.float32)
    assert saliency.shape == (2, 50, 60, 1)
    assert not saliency[0, 40:].any() and not saliency[1, :, 30:].any()  # zero padding
    np.testing.assert_allclose(saliency[0, :40, :60, 0], fake_predictor().predict(first),
                               atol=1e-6)


def test_named_instances_and_versions(client, encode):
    body = {"instances": [{"images": b64(encode(half_white(20, 30)))}]}
    assert client.post("/v1/models/salgan/versions/1:predict", json=body).status_code == 200
    wrong_version = client.post("/v1/models/salgan/versions/2:predict", json=body)
    assert wrong_version.status_code == 404
    assert "Specific(salgan, 2)" in wrong_version.json()["error"]
    unknown_model = client.post("/v1/models/other:predict", json=body)
    assert unknown_model.status_code == 404 and "error" in unknown_model.json()


@pytest.mark.parametrize("body,status,message", [
    (b"{not json", 400, "not JSON"),
    (b'["a list"]', 400, "JSON object"),
    (b'{"instances": []}', 400, "empty batch: instances holds no image"),
    (b'{"inputs": {"images": []}}', 400, "empty batch: inputs.images holds no image"),
    (b'{"instances": [{"b64": "aGk="}], "inputs": []}', 400, "exactly one of"),
    (b'{"instances": [{"b64": 5}]}', 400, 'instances[0]: an image must be {"b64"'),
    (b'{"inputs": [{"b64": "aGk="}, "aGk="]}', 400, 'inputs[1]: an image must be {"b64"'),
    (b'{"signature_name": "predict_tensor", "instances": [{"b64": ""}]}', 400,
     "unknown signature_name"),
    (b'{"instances": [{"b64": "not base64!"}]}', 400, "invalid base64"),
])
def test_bad_request_bodies_get_400_json(client, body, status, message):
    response = client.post(PREDICT, content=body, headers=JSON_BODY)
    assert response.status_code == status
    assert message in response.json()["error"]


@pytest.fixture(scope="module")
def bad_images(huge_png, encode):
    """{kind: (bytes, what the error says)}."""
    png = encode(half_white(20, 30))
    return {
        "text": (b"hello, I am a text file\n", "not a JPEG or PNG image"),
        "empty": (b"", "empty (0 bytes)"),
        "gif": (encode(half_white(20, 30), "GIF"), "is a GIF image"),
        "truncated": (png[:len(png) // 2], "truncated or corrupt"),
        "huge": (huge_png, "12000x12000 (HxW) = 144000000 pixels is larger than the limit"),
    }


@pytest.mark.parametrize("kind", ["text", "empty", "gif", "truncated", "huge"])
def test_bad_images_get_400_naming_the_item_and_serving_continues(client, bad_images, kind,
                                                                  encode):
    data, message = bad_images[kind]
    good = b64(encode(half_white(20, 30)))
    response = client.post(PREDICT, json={"instances": [good, b64(data)]})
    assert response.status_code == 400
    assert response.json()["error"].startswith("instances[1]: ")
    assert message in response.json()["error"]
    assert client.post(PREDICT, json={"instances": [good]}).status_code == 200


def test_page_route_returns_the_map_as_png(client, encode, fake_predictor):
    image = half_white(40, 60)
    response = client.post("/api/saliency.png?filename=cat.jpg", content=encode(image, "JPEG"),
                           headers=RAW_BODY)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    assert (response.headers["x-saliency-height"], response.headers["x-saliency-width"]) == (
        "40", "60")
    saliency_png = Image.open(io.BytesIO(response.content))
    assert saliency_png.mode == "L" and saliency_png.size == (60, 40)  # PIL size is (W, H)
    expected = fake_predictor().predict(images.decode_image(encode(image, "JPEG")))
    np.testing.assert_allclose(np.asarray(saliency_png) / 255.0, expected, atol=0.5 / 255 + 1e-6)


@pytest.mark.parametrize("kind", ["text", "empty", "gif", "huge"])
def test_page_route_names_the_file_in_errors(client, bad_images, kind, encode):
    data, message = bad_images[kind]
    response = client.post("/api/saliency.png?filename=bad%20upload.png", content=data,
                           headers=RAW_BODY)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error.startswith("bad upload.png: ") and message in error
    good = client.post("/api/saliency.png?filename=ok.png", content=encode(half_white(20, 30)),
                       headers=RAW_BODY)
    assert good.status_code == 200


def test_both_routes_follow_exif_orientation_as_predict_does(client, encode):
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90° clockwise to display
    jpeg = encode(half_white(40, 60), "JPEG", exif=exif.tobytes())
    page = client.post("/api/saliency.png?filename=phone.jpg", content=jpeg, headers=RAW_BODY)
    shown = np.asarray(Image.open(io.BytesIO(page.content))) / 255.0
    assert shown.shape == (60, 40)
    assert shown[:25].min() > 0.85 and shown[35:].max() < 0.15  # white half now on top
    api = client.post(PREDICT, json={"instances": [b64(jpeg)]}).json()["predictions"][0]
    assert (api["height"], api["width"]) == (60, 40)  # the one decoder: upright everywhere
    np.testing.assert_allclose(np.asarray(api["saliency"])[..., 0], shown, atol=0.5 / 255 + 1e-6)


def test_request_size_limit_gives_413_before_reading_everything(encode, fake_predictor):
    config = serve_app.ServeConfig(max_request_bytes=1000)
    with TestClient(serve_app.create_app(fake_predictor(), config), base_url=LOCAL) as small_client:
        declared = small_client.post("/api/saliency.png", content=b"x" * 2000, headers=RAW_BODY)
        assert declared.status_code == 413
        assert "larger than the limit of 1000 bytes" in declared.json()["error"]

        def chunks():  # no Content-Length: counted while streaming
            for _ in range(20):
                yield b"x" * 100

        streamed = small_client.post(PREDICT, content=chunks(), headers=JSON_BODY)
        assert streamed.status_code == 413
        small = small_client.post("/api/saliency.png", content=encode(half_white(8, 8)),
                                  headers=RAW_BODY)
        assert small.status_code == 200


def test_huge_png_is_refused_from_its_header_without_decoding(huge_png, monkeypatch):
    def no_decoding(self):
        raise AssertionError("pixels were decoded")

    monkeypatch.setattr(Image.Image, "load", no_decoding)
    monkeypatch.setattr("PIL.ImageFile.ImageFile.load", no_decoding)
    with pytest.raises(serve_app.ClientError, match="144000000 pixels") as error:
        serve_app.decode_request_image(huge_png, name="big.png", config=serve_app.ServeConfig())
    assert error.value.status == 400


def test_max_pixels_is_configurable(encode):
    with pytest.raises(serve_app.ClientError, match="600 pixels is larger than the limit of 599"):
        serve_app.decode_request_image(encode(half_white(20, 30)), name="item",
                               config=serve_app.ServeConfig(max_pixels=599))
    assert serve_app.decode_request_image(encode(half_white(20, 30)), name="item",
                                  config=serve_app.ServeConfig(max_pixels=600)).shape == (20, 30, 3)


@pytest.mark.parametrize("mode", ["L", "RGBA", "I;16", "P"])
def test_channels_are_decoded_as_the_saved_model_decodes_them(mode):
    # decode_png(channels=3): gray replicated, alpha dropped, palette expanded, 16 bits -> 8.
    rng = np.random.default_rng(0)
    if mode == "I;16":
        levels = rng.integers(0, 65536, (12, 17), dtype=np.uint16)
        image = Image.fromarray(levels)
        expected = np.repeat((levels >> 8).astype(np.uint8)[..., None], 3, axis=-1)
    else:
        image = Image.fromarray(rng.integers(0, 256, (12, 17, 3), dtype=np.uint8)).convert(mode)
        expected = np.asarray(image.convert("RGB"))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    decoded = images.decode_image(buffer.getvalue())
    assert decoded.dtype == np.uint8 and decoded.shape == (12, 17, 3)
    np.testing.assert_array_equal(decoded, expected)


def test_page_and_static_files_are_served_without_external_urls(client):
    page = client.get("/")
    assert page.status_code == 200 and 'id="drop-zone"' in page.text
    for name in ("app.js", "style.css"):
        static = client.get(f"/static/{name}")
        assert static.status_code == 200
        assert "http://" not in static.text and "https://" not in static.text  # no CDN
    assert "http://" not in page.text and "https://" not in page.text
    # The page carries the model facts and limits app.js shows and checks (no extra request).
    start = page.text.index('<script type="application/json" id="server-info">')
    info = json.loads(page.text[page.text.index(">", start) + 1:page.text.index("</script>",
                                                                                 start)])
    assert info == {"kind": "fake", "path": "models/fake", "image_size": [32, 48],
                    "resize_mode": "stretch", "max_request_bytes": 32 * 2**20,
                    "max_pixels": images.DEFAULT_MAX_PIXELS,
                    "crop_aspects": list(serve_app.CROP_ASPECTS)}


def test_config_and_host_validation():
    with pytest.raises(ValueError, match="max_request_bytes must be positive"):
        serve_app.ServeConfig(max_request_bytes=0).validate()
    with pytest.raises(ValueError, match="model_name"):
        serve_app.ServeConfig(model_name="a:b").validate()
    assert serve_app.check_loopback("127.0.0.1") == "127.0.0.1"
    assert serve_app.check_loopback("::1") == "::1"
    with pytest.raises(ValueError, match="only listens on loopback"):
        serve_app.check_loopback("0.0.0.0")
    assert serve_app.version_of("/models/salgan/3") == 3
    assert serve_app.version_of("/models/salgan/3/") == 3
    assert serve_app.version_of("runs/salicon") == 1


def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_server_keeps_answering_while_a_prediction_runs(encode, fake_predictor, util):
    import uvicorn

    started, release = threading.Event(), threading.Event()
    slow_network = util.held_network(started, release)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(serve_app.create_app(fake_predictor(slow_network)),
                                           host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            if server.started:
                break
            time.sleep(0.05)
        results = {}

        def post():
            request = urllib.request.Request(f"{base}/api/saliency.png", method="POST",
                                             data=encode(half_white(20, 30)), headers=RAW_BODY)
            with urllib.request.urlopen(request, timeout=60) as response:
                results["status"] = response.status

        poster = threading.Thread(target=post)
        poster.start()
        assert started.wait(30), "the prediction never started"
        # The prediction is blocked in a worker thread; the event loop still answers.
        with urllib.request.urlopen(f"{base}/v1/models/salgan", timeout=10) as response:
            assert response.status == 200
        assert "status" not in results
        release.set()
        poster.join(60)
        assert results["status"] == 200
    finally:
        release.set()
        server.should_exit = True
        thread.join(30)


def test_page_shows_a_hostile_model_path_as_text(fake_predictor):
    predictor = fake_predictor()
    predictor.path = "/models/x</script><script>alert(1)</script>"
    with TestClient(serve_app.create_app(predictor), base_url=LOCAL) as hostile_client:
        page = hostile_client.get("/").text
    # Only app.js's tag and the JSON block end a script: the path cannot close the block.
    assert page.count("</script>") == 2
    start = page.index('id="server-info">') + len('id="server-info">')
    info = json.loads(page[start:page.index("</script>", start)])
    assert info["path"] == "script><script>alert(1)</script>"  # its last two components
