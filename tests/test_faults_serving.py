"""Hostile serving, predict and I/O-edge input (issue 13): each test pins one defect.

Sizes stay small: the mixed-size bombs are PNGs of a few kB (1x4000 and 4000x1) whose padded
output would be 32 M floats; refused from the headers, they cost nothing. The memory check runs
in a subprocess so its peak RSS belongs to that one request alone.
"""
import base64
import contextlib
import io
import json
import os
import socket
import stat
import subprocess
import sys
import textwrap
import threading
import urllib.error
import urllib.request

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from salgan_tf.export import saved_model as saved_model_lib
from salgan_tf import serve_app
from salgan_tf.data import images

LOCAL = "http://127.0.0.1:8501"  # the demo server answers loopback Host names only
RAW_BODY = {"Content-Type": "application/octet-stream"}  # the page route's body
JSON_BODY = {"Content-Type": "application/json"}  # the predict routes' body

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PREDICT = "/v1/models/salgan:predict"


def _serving_default(util):
    _, _, version_dir = util.exported_model()
    return util.loaded(version_dir).signatures["serving_default"]


def _module(util, **kwargs):
    """The serving module around the test generator, not saved (limits set per test)."""
    generator, _, _ = util.exported_model()
    return saved_model_lib.SalganServingModule(generator, **kwargs)


# --------------------------------------------------------------------------- defect 5: padding


_MEMORY_PROBE = textwrap.dedent("""
    import json, resource, sys
    import tensorflow as tf
    sys.path.insert(0, sys.argv[2])
    from conftest import blank_png  # a script outside pytest: the helper itself
    serve = tf.saved_model.load(sys.argv[1]).signatures["serving_default"]
    serve(images=tf.constant([blank_png(8, 8)]))  # warm up: traces and allocates the network
    wide, tall = blank_png(1, 4000), blank_png(4000, 1)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    try:
        shape = serve(images=tf.constant([wide, tall]))["saliency"].shape.as_list()
        outcome = {"shape": shape}
    except tf.errors.InvalidArgumentError as error:
        outcome = {"error": error.message}
    outcome["peak_growth_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    print(json.dumps(outcome))
""")


def test_mixed_sizes_padding_past_the_request_budget_are_refused_in_bounded_memory(util):
    # 1x4000 + 4000x1: 8000 pixels decoded, but padded to 2 x 4000 x 4000 = 32 M floats
    # (128 MB, ~0.5 GB peak on the old code) > the default budget of 25 M pixels.
    _, _, version_dir = util.exported_model()
    probe = subprocess.run(
        [sys.executable, "-c", _MEMORY_PROBE, version_dir, os.path.dirname(__file__)],
        capture_output=True, text=True, timeout=300,
        env={**os.environ, "PYTHONPATH": REPO_ROOT, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert probe.returncode == 0, probe.stderr[-2000:]
    outcome = json.loads(probe.stdout.strip().splitlines()[-1])
    assert "error" in outcome, f"the request was served: {outcome}"
    assert "padded saliency output would be 2 x 4000 x 4000 = 32000000 pixels" in \
        outcome["error"]
    assert "max_request_pixels" in outcome["error"]
    assert outcome["peak_growth_kb"] < 64 * 1024, outcome  # nothing big was allocated


def test_request_budget_names_which_limit_and_admits_what_fits(util):
    # Each 20x30 image (600 pixels) counts as the 32x32 network input it becomes (1024).
    module = _module(util, max_request_pixels=2500)
    serve = module.serve_encoded
    small = util.encode(np.zeros((20, 30, 3), np.uint8))
    assert serve(tf.constant([small, small]))["saliency"].shape == (2, 20, 30, 1)
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=r"images count 3072 pixels \(each at least the network input of "
                             r"32 x 32 = 1024 pixels\), more than the per-request limit of 2500"):
        serve(tf.constant([small, small, small]))
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match="padded saliency output would be 2 x 40 x 40 = 3200 pixels"):
        serve(tf.constant([util.blank_png(1, 40), util.blank_png(40, 1)]))
    predict = module.predict_tensor
    assert predict(tf.zeros([2, 20, 30, 3]))["saliency"].shape == (2, 20, 30, 1)
    with pytest.raises(tf.errors.InvalidArgumentError, match="per-request limit of 2500"):
        predict(tf.zeros([3, 20, 30, 3]))


# --------------------------------------------------------------------------- defect 7: bad bytes


MALFORMED_KINDS = ["bmp", "empty", "gif", "high bytes", "jpeg magic, random body",
                   "png magic only", "png magic, random body", "png of 0x0", "random", "tiff",
                   "truncated jpeg", "truncated png", "webp"]


@pytest.fixture(scope="module")
def malformed(util):
    """{kind: (bytes, regex of the SavedModel's error, or None for TF's own message)}."""
    random = np.random.default_rng(13).integers(0, 256, 200, dtype=np.uint8).tobytes()
    small = util.random_rgb(8, 8)
    png = util.encode(util.random_rgb(40, 40), "PNG")
    jpeg = util.encode(util.random_rgb(40, 40), "JPEG")
    cases = {
        "bmp": (util.encode(small, "BMP"), "look like BMP data"),
        "gif": (util.encode(small, "GIF"), "look like GIF data"),
        "webp": (util.encode(small, "WEBP"), "look like WebP data"),
        "tiff": (util.encode(small, "TIFF"), "look like TIFF data"),
        "random": (random, "neither JPEG nor PNG"),
        "high bytes": (bytes(range(255, 0, -1)), "first bytes \\(hex\\): ff fe fd fc"),
        "jpeg magic, random body": (b"\xff\xd8\xff" + random, None),
        "png magic, random body": (b"\x89PNG\r\n\x1a\n" + random, None),
        "png magic only": (b"\x89PNG\r\n\x1a\n", "too short"),
        "truncated png": (png[:len(png) // 2], None),
        "truncated jpeg": (jpeg[:len(jpeg) // 2], None),
        "png of 0x0": (util.blank_png(0, 0), "is empty or larger"),
        "empty": (b"", "image bytes are empty"),
    }
    assert sorted(cases) == MALFORMED_KINDS
    return cases


@pytest.mark.parametrize("kind", MALFORMED_KINDS)
def test_every_malformed_image_is_invalid_argument(kind, malformed, util):
    data, message = malformed[kind]
    serve = _serving_default(util)
    good = util.encode(util.random_rgb(8, 8))
    with pytest.raises(tf.errors.InvalidArgumentError, match=message) as raised:
        serve(images=tf.constant([good, data]))
    raised.value.message.encode("ascii")  # readable text, never the raw bytes
    assert serve(images=tf.constant([good]))["saliency"].shape == (1, 8, 8, 1)


# --------------------------------------------------------------------------- defect 9: empty batch


def test_empty_batch_is_refused_by_name(util):
    _, _, version_dir = util.exported_model()
    signatures = util.loaded(version_dir).signatures
    with pytest.raises(tf.errors.InvalidArgumentError, match="empty batch"):
        signatures["serving_default"](images=tf.constant([], tf.string))
    with pytest.raises(tf.errors.InvalidArgumentError, match="empty batch"):
        signatures["predict_tensor"](images=tf.zeros([0, 20, 30, 3]))


# --------------------------------------------------------------------------- defect 8: modes


@pytest.mark.parametrize("umask,dir_mode,file_mode", [(0o022, 0o755, 0o644),
                                                      (0o077, 0o700, 0o600)])
def test_version_directory_modes_follow_the_umask_like_any_export(tmp_path, umask, dir_mode,
                                                                  file_mode, util):
    generator, _, _ = util.exported_model()
    previous = os.umask(umask)
    try:
        version_dir = saved_model_lib.export_saved_model(generator, str(tmp_path / "salgan" / "1"))
    finally:
        os.umask(previous)
    modes = {}
    for root, _, files in os.walk(version_dir):
        modes[root] = stat.S_IMODE(os.stat(root).st_mode)
        for name in files:
            path = os.path.join(root, name)
            modes[path] = stat.S_IMODE(os.stat(path).st_mode)
    assert modes[version_dir] == dir_mode
    assert any(path.endswith("saved_model.pb") for path in modes)
    for path, mode in modes.items():
        assert mode == (dir_mode if os.path.isdir(path) else file_mode), (path, oct(mode))


# --------------------------------------------------------------------------- the demo server


def _b64(data):
    return {"b64": base64.b64encode(data).decode("ascii")}


@pytest.fixture
def server_client(fake_predictor):
    from starlette.testclient import TestClient

    app = serve_app.create_app(fake_predictor())
    # raise_server_exceptions=False: a 500 is a status, too
    with TestClient(app, raise_server_exceptions=False, base_url=LOCAL) as client:
        yield client


def _no_decoding(*args, **kwargs):
    raise AssertionError("pixels were decoded")


def test_demo_server_refuses_padding_past_the_budget_before_decoding(server_client, monkeypatch,
                                                                     util):
    # The 277-byte request (1x5000 + 5000x1) returned 300 MB of JSON; 1x4000 + 4000x1
    # here, refused from the headers: any pixel decoding fails the test.
    monkeypatch.setattr(tf.io, "decode_png", _no_decoding)
    monkeypatch.setattr(tf.io, "decode_jpeg", _no_decoding)
    response = server_client.post(PREDICT, json={"instances": [_b64(util.blank_png(1, 4000)),
                                                               _b64(util.blank_png(4000, 1))]})
    assert response.status_code == 400, response.text[:300]
    assert "padded saliency output would be 2 x 4000 x 4000 = 32000000 pixels" in \
        response.json()["error"]


def test_demo_server_request_budget_counts_decoded_pixels_too(fake_predictor, util):
    from starlette.testclient import TestClient

    # Each 20x30 image counts as the fake network's 32x48 input (1536 pixels), as in the graph.
    config = serve_app.ServeConfig(max_request_pixels=3500)
    small = _b64(util.encode(np.zeros((20, 30, 3), np.uint8)))
    with TestClient(serve_app.create_app(fake_predictor(), config), base_url=LOCAL) as client:
        assert client.post(PREDICT, json={"instances": [small, small]}).status_code == 200
        response = client.post(PREDICT, json={"instances": [small, small, small]})
    assert response.status_code == 400
    assert "images count 4608 pixels (each at least the network input of 32 x 48 = 1536 " \
           "pixels), more than the per-request limit of 3500" in response.json()["error"]


@pytest.mark.parametrize("kind", ["bmp", "random", "high bytes", "truncated png", "empty"])
def test_demo_server_answers_malformed_images_with_json_400(server_client, kind, malformed):
    data, _ = malformed[kind]
    response = server_client.post(PREDICT, json={"instances": [_b64(data)]})
    assert response.status_code == 400 and response.json()["error"].startswith("instances[0]: ")
    page = server_client.post("/api/saliency.png?filename=x.bin", content=data, headers=RAW_BODY)
    assert page.status_code == 400 and page.json()["error"].startswith("x.bin: ")


_DEEP = 100_000
MALFORMED_JSON = {
    "deep list": b"[" * _DEEP + b"]" * _DEEP,
    "deep object": b'{"a":' * _DEEP + b"1" + b"}" * _DEEP,
    "deep instances": b'{"instances": ' + b"[" * _DEEP + b"]" * _DEEP + b"}",
    "deep b64": b'{"instances": [{"b64": ' + b"[" * _DEEP + b"]" * _DEEP + b"}]}",
    # Parsed (orjson allows 1024 levels) but deeper than orjson.dumps goes: never echoed back.
    "instance 600 deep": b'{"instances": [{"b64": ' + b"[" * 600 + b"]" * 600 + b"}]}",
    "not utf-8": b'{"instances": ["\xff\xfe"]}',
    "b64 not ascii": '{"instances": [{"b64": "aGk\u00e9"}]}'.encode(),  # 500 before issue 23
    "empty body": b"",
    "null": b"null",
    "number": b"1e999",
    "nan": b'{"instances": [NaN]}',
    "b64 not a string": b'{"instances": [{"b64": 5}]}',
    "instances an object": b'{"instances": {"b64": "aGk="}}',
    "inputs a number": b'{"inputs": 5}',
    "ragged inputs": b'{"inputs": {"images": [[{"b64": "aGk="}], {"b64": "aGk="}]}}',
    "nested instances": b'{"instances": [[[{"b64": "aGk="}]]]}',
    "null instance": b'{"instances": [null]}',
    "bool instance": b'{"instances": [true]}',
    "signature a list": b'{"signature_name": ["x"], "instances": [{"b64": "aGk="}]}',
    "both layouts": b'{"instances": [{"b64": "aGk="}], "inputs": [{"b64": "aGk="}]}',
    "extra key": b'{"instances": [{"images": {"b64": "aGk="}, "extra": 1}]}',
}


@pytest.mark.parametrize("kind", sorted(MALFORMED_JSON))
def test_malformed_json_of_any_shape_gets_json_400(server_client, kind):
    response = server_client.post(PREDICT, content=MALFORMED_JSON[kind], headers=JSON_BODY)
    assert response.status_code == 400, (response.status_code, response.text[:300])
    assert response.json()["error"]


def test_empty_batch_is_refused_by_name_by_the_demo_server(server_client):
    response = server_client.post(PREDICT, json={"inputs": {"images": []}})
    assert response.status_code == 400 and "empty batch" in response.json()["error"]


def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _read_until_closed(sock):
    """Everything the server sends until it closes; socket.timeout if it never does."""
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received


@pytest.mark.parametrize("half_request", [
    b"POST /v1/models/salgan:predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000\r\n"
    b"Content-Type: application/json\r\n\r\n{\"instances\": [",
    b"POST /v1/models/salgan:predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Le",
], ids=["half body", "half headers"])
def test_half_sent_requests_time_out_with_408(half_request, fake_predictor):
    config = serve_app.ServeConfig(request_timeout=1.0)
    with _running_server(fake_predictor(), config) as port:
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.settimeout(20)  # bounds the test: the server's own timeout is 1 s
            sock.sendall(half_request)
            answer = _read_until_closed(sock)
        assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
        assert b"not received in full within 1 s" in answer
        # Complete requests on a fresh connection are still served.
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.settimeout(20)
            sock.sendall(b"GET /v1/models/salgan HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                         b"Connection: close\r\n\r\n")
            assert _read_until_closed(sock).startswith(b"HTTP/1.1 200 ")


@contextlib.contextmanager
def _running_server(predictor, config):
    """The demo server (uvicorn with `serve_app.server_config`) on a free loopback port."""
    import uvicorn

    port = _free_port()
    server = uvicorn.Server(serve_app.server_config(
        serve_app.create_app(predictor, config), config, host="127.0.0.1", port=port,
        log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        for _ in range(200):
            if server.started:
                break
            threading.Event().wait(0.05)
        assert server.started, "the server did not start"
        yield port
    finally:
        server.should_exit = True
        thread.join(10)


# --------------------------------------------------------------------------- predict (defect 6)


def _two_images_one_stem(util, folder):
    folder.mkdir(parents=True)
    Image.fromarray(util.random_rgb(20, 30, seed=1)).save(folder / "x.jpg")
    Image.fromarray(util.random_rgb(24, 16, seed=2)).save(folder / "x.png")
    Image.fromarray(util.random_rgb(10, 12, seed=3)).save(folder / "y.png")


def test_predict_never_writes_two_inputs_to_one_map(tmp_path, util):
    from salgan_tf import inference, predict_lib

    _, run_dir, _ = util.exported_model()
    _two_images_one_stem(util, tmp_path / "in")
    root, paths = predict_lib.find_images(tmp_path / "in")
    predictor = inference.load_predictor(run_dir)
    with pytest.raises(ValueError, match="1 map path.* would be written by more than one input") \
            as raised:
        predict_lib.predict_files(predictor, paths, str(tmp_path / "out"), root=root)
    message = str(raised.value)
    assert f"{tmp_path / 'out' / 'x.png'} <- {tmp_path / 'in' / 'x.jpg'}, " \
           f"{tmp_path / 'in' / 'x.png'}" in message
    assert "\n" not in message
    assert not (tmp_path / "out").exists()  # refused before anything was created
    original = (tmp_path / "in" / "y.png").read_bytes()
    with pytest.raises(ValueError, match="would overwrite 1 input image.*y.png"):
        predict_lib.predict_files(predictor, [str(tmp_path / "in" / "y.png")],
                                  str(tmp_path / "in"), root=str(tmp_path / "in"))
    assert (tmp_path / "in" / "y.png").read_bytes() == original


def _run_predict(model, input_path, output):
    return subprocess.run(
        [sys.executable, "-m", "salgan_tf.predict", f"--model={model}", f"--input={input_path}",
         f"--output={output}"], capture_output=True, text=True, timeout=300,
        env={**os.environ, "PYTHONPATH": REPO_ROOT})


@pytest.mark.parametrize("case", ["clash", "output is a file", "output under a file",
                                  "output not creatable"])
def test_predict_cli_refuses_with_one_line(tmp_path, case, util):
    _, run_dir, _ = util.exported_model()
    inputs = tmp_path / "in"
    if case == "clash":
        _two_images_one_stem(util, inputs)
    else:
        inputs.mkdir()
        Image.fromarray(util.random_rgb(20, 30)).save(inputs / "a.png")
    (tmp_path / "file.txt").write_text("keep me")
    output = {"clash": tmp_path / "out", "output is a file": tmp_path / "file.txt",
              "output under a file": tmp_path / "file.txt" / "out",
              "output not creatable": "/proc/salgan_maps"}[case]
    result = _run_predict(run_dir, inputs, output)
    assert result.returncode == 1, result.stdout + result.stderr[-2000:]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and str(output) in errors[0], result.stderr[-2000:]
    assert (tmp_path / "file.txt").read_text() == "keep me"
    assert not (tmp_path / "out").exists()  # refused before anything was created


# --------------------------------------------------------------------------- one decoder


def _with_orientation(util, fmt, orientation, height=12, width=20):
    exif = Image.Exif()
    exif[0x0112] = orientation
    return util.encode(util.random_rgb(height, width, seed=orientation), fmt,
                       exif=exif.tobytes(), quality=95)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_saved_model_applies_exif_orientation_as_the_host_decoder(fmt, util):
    serve = _serving_default(util)
    predict = util.loaded(util.exported_model()[2]).signatures["predict_tensor"]
    for orientation in range(1, 9):
        data = _with_orientation(util, fmt, orientation)
        upright = images.decode_image(data)  # predict's, the converter's and the server's pixels
        assert upright.shape[:2] == ((20, 12) if orientation >= 5 else (12, 20))
        served = serve(images=tf.constant([data]))
        assert (int(served["height"][0]), int(served["width"][0])) == upright.shape[:2]
        expected = predict(images=tf.constant(upright[None].astype(np.float32)))["saliency"]
        np.testing.assert_allclose(served["saliency"].numpy(), expected.numpy(), atol=1e-5,
                                   err_msg=f"orientation {orientation}")


def test_demo_server_answers_like_the_saved_model_for_a_sideways_photo(util):
    from starlette.testclient import TestClient

    from salgan_tf import inference

    version_dir = util.exported_model()[2]
    data = _with_orientation(util, "JPEG", 6, 30, 44)
    with TestClient(serve_app.create_app(inference.load_predictor(version_dir)),
                    base_url=LOCAL) as client:
        ours = client.post(PREDICT, json={"instances": [_b64(data)]}).json()["predictions"][0]
    expected = _serving_default(util)(images=tf.constant([data]))["saliency"].numpy()[0]
    assert (ours["height"], ours["width"]) == (44, 30)
    np.testing.assert_allclose(ours["saliency"], expected, atol=1e-5)


def test_predict_and_the_demo_page_write_the_same_png_for_a_sideways_photo(tmp_path, util):
    from starlette.testclient import TestClient

    from salgan_tf import inference, predict_lib

    predictor = inference.load_predictor(util.exported_model()[1])
    data = _with_orientation(util, "JPEG", 6, 30, 44)
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "phone.jpg").write_bytes(data)
    report = predict_lib.predict_files(predictor, [str(tmp_path / "in" / "phone.jpg")],
                                       str(tmp_path / "out"), root=str(tmp_path / "in"))
    assert report.written == [str(tmp_path / "out" / "phone.png")]
    with TestClient(serve_app.create_app(predictor), base_url=LOCAL) as client:
        page = client.post("/api/saliency.png?filename=phone.jpg", content=data, headers=RAW_BODY)
    written = np.asarray(Image.open(tmp_path / "out" / "phone.png"))
    assert written.shape == (44, 30)  # upright, as the photo is shown
    np.testing.assert_array_equal(written, np.asarray(Image.open(io.BytesIO(page.content))))


# --------------------------------------------------------------------------- issue 23: memory


def _peak_growth_probe(body):
    """A script printing JSON {"outcome": ..., "peak_growth_mb": VmHWM growth} of `body`, run
    after a warm-up: the kernel's high-water mark, a real peak rather than a sample."""
    return textwrap.dedent("""
        import json, sys
        import numpy as np
        import tensorflow as tf
        sys.path.insert(0, sys.argv[2])
        import conftest  # a script outside pytest: the helpers themselves

        def peak_mb():
            with open("/proc/self/status") as status:
                return next(int(line.split()[1]) // 1024 for line in status
                            if line.startswith("VmHWM"))
    """) + textwrap.dedent(body) + textwrap.dedent("""
        print(json.dumps({"outcome": outcome, "peak_growth_mb": peak_mb() - before}))
    """)


def _run_probe(script, argument):
    """Runs a `_peak_growth_probe` script with `argument` (its sys.argv[1]); its JSON line."""
    probe = subprocess.run(
        [sys.executable, "-c", script, argument, os.path.dirname(__file__)],
        capture_output=True, text=True, timeout=600,
        env={**os.environ, "PYTHONPATH": REPO_ROOT, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert probe.returncode == 0, probe.stderr[-2000:]
    return json.loads(probe.stdout.strip().splitlines()[-1])


_TINY_IMAGES_PROBE = _peak_growth_probe("""
    serve = tf.saved_model.load(sys.argv[1]).signatures["serving_default"]
    serve(images=tf.constant([conftest.blank_png(8, 8)] * 4))  # warm up: one full chunk
    before = peak_mb()
    outputs = serve(images=tf.constant([conftest.blank_png(1, 1)] * 400))
    outcome = outputs["saliency_small"].shape.as_list()
""")


def test_saved_model_memory_does_not_grow_with_the_number_of_tiny_images(util):
    # 400 1x1 PNGs (27 kB): the old graph ran the generator on all 400 network inputs at once
    # (+560 MB at this 32x32 network, ~64 MB per image at 192x256); chunks of 4 keep it flat.
    _, _, version_dir = util.exported_model()
    result = _run_probe(_TINY_IMAGES_PROBE, version_dir)
    assert result["outcome"] == [400, 32, 32, 1]
    assert result["peak_growth_mb"] < 150, result


class _SpyGenerator:
    """The test generator, recording the largest batch and the number of calls it gets."""

    def __init__(self, generator):
        self._generator = generator
        self.input_shape = generator.input_shape
        self.variables = generator.variables
        self.largest_batch = tf.Variable(0)
        self.calls = tf.Variable(0)

    def __call__(self, images, training):
        with tf.control_dependencies([
                self.largest_batch.assign(tf.maximum(self.largest_batch, tf.shape(images)[0])),
                self.calls.assign_add(1)]):
            return self._generator(tf.identity(images), training=training)


@pytest.mark.parametrize("signature", ["serve_encoded", "predict_tensor"])
def test_both_signatures_run_the_generator_in_chunks(signature, util):
    spy = _SpyGenerator(util.exported_model()[0])
    module = saved_model_lib.SalganServingModule(spy)
    if signature == "serve_encoded":
        outputs = module.serve_encoded(tf.constant([util.blank_png(1, 1)] * 10))
    else:
        outputs = module.predict_tensor(tf.zeros([10, 2, 3, 3]))
    assert outputs["saliency_small"].shape == (10, 32, 32, 1)
    chunk = saved_model_lib.SERVING_CHUNK_SIZE
    assert int(spy.largest_batch.numpy()) == chunk
    assert int(spy.calls.numpy()) == -(-10 // chunk)
    # Same maps as one generator call on the 10 network inputs (all black).
    expected = util.keras_saliency(spy._generator, np.zeros([10, 32, 32, 3], np.float32))
    np.testing.assert_allclose(outputs["saliency_small"].numpy(), expected, atol=1e-5)


def test_demo_server_counts_each_tiny_image_as_a_network_input(fake_predictor, monkeypatch,
                                                               util):
    # 100 1x1 PNGs: 100 pixels by the old count, 100 network inputs (32x48) in memory.
    from starlette.testclient import TestClient

    monkeypatch.setattr(tf.io, "decode_png", _no_decoding)
    config = serve_app.ServeConfig(max_request_pixels=100_000)
    with TestClient(serve_app.create_app(fake_predictor(), config), base_url=LOCAL) as client:
        response = client.post(PREDICT, json={"instances": [_b64(util.blank_png(1, 1))] * 100})
    assert response.status_code == 400, response.text[:300]
    assert response.json()["error"] == (
        "request: its images count 153600 pixels (each at least the network input of 32 x 48 = "
        "1536 pixels), more than the per-request limit of 100000 pixels (max_request_pixels); "
        "send fewer or smaller images per request")


_BIG_REPLY_PROBE = _peak_growth_probe("""
    from starlette.testclient import TestClient
    from salgan_tf import serve_app
    side = int(sys.argv[1])
    jpeg = conftest.encode(np.full((side, side, 3), 128, np.uint8), "JPEG")
    body = {"instances": [{"b64": __import__("base64").b64encode(jpeg).decode()}]}
    with TestClient(serve_app.create_app(conftest.fake_predictor()),
                    base_url="http://127.0.0.1:8501") as client:
        small = conftest.encode(np.full((side // 4, side // 4, 3), 128, np.uint8), "JPEG")
        client.post("/v1/models/salgan:predict",
                    json={"instances": [{"b64": __import__("base64").b64encode(small).decode()}]})
        before = peak_mb()
        with client.stream("POST", "/v1/models/salgan:predict", json=body) as response:
            size = sum(len(piece) for piece in response.iter_bytes())
        outcome = [response.status_code, size]
""")


def test_demo_server_reply_json_costs_no_multiple_of_its_size(util):
    # One 2000x2000 JPEG: a 48 MB JSON reply. Dumped whole by orjson, the [H, W, 1] map took
    # ~10x its text (+500 MB here; a 5000x5000 JPEG went +3.5 GB); streamed row by row the
    # peak is the maps' own (~16 MB each).
    result = _run_probe(_BIG_REPLY_PROBE, "2000")
    status, size = result["outcome"]
    assert status == 200 and size > 40e6, result
    assert result["peak_growth_mb"] < 200, result


def _post_json(port, body, timeout):
    """(status, content type, JSON) of one POST to the predict route on `port`."""
    request = urllib.request.Request(f"http://127.0.0.1:{port}{PREDICT}", method="POST",
                                     data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.headers, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, error.headers, json.loads(error.read())


def test_demo_server_answers_503_when_its_requests_in_flight_are_taken(fake_predictor, util):
    # A prediction held in the network with one slot: the next request gets 503 at once (it
    # waited in an unbounded queue before, each waiting request holding its body and images).
    started, release = threading.Event(), threading.Event()
    body = {"instances": [_b64(util.encode(np.zeros((20, 30, 3), np.uint8)))]}
    assert serve_app.ServeConfig().max_concurrent_requests == 2
    config = serve_app.ServeConfig(max_concurrent_requests=1)
    with _running_server(fake_predictor(util.held_network(started, release)), config) as port:
        results = []
        poster = threading.Thread(target=lambda: results.append(_post_json(port, body, 60)))
        try:
            poster.start()
            assert started.wait(30), "the first prediction never started"
            status, headers, answer = _post_json(port, body, 10)
            page = urllib.request.Request(f"http://127.0.0.1:{port}/api/saliency.png",
                                          method="POST", data=b"x" * 1000, headers=RAW_BODY)
            with pytest.raises(urllib.error.HTTPError) as page_refused:
                urllib.request.urlopen(page, timeout=10)
        finally:
            release.set()
            poster.join(60)
        assert status == 503, (status, answer)
        assert headers["Content-Type"] == "application/json"
        assert headers["Retry-After"] == "1"
        assert answer["error"] == ("server busy: 1 requests are being served "
                                   "(max_concurrent_requests); retry shortly")
        assert page_refused.value.code == 503
        assert [status for status, _, _ in results] == [200]
        assert _post_json(port, body, 30)[0] == 200  # the slot was given back


@pytest.mark.parametrize("header", [b"Content-Length: 12abc", b"Content-Length: -5",
                                    b"Content-Length: 5\r\nContent-Length: 6"])
def test_malformed_content_length_gets_json_400(header, fake_predictor):
    with _running_server(fake_predictor(), serve_app.ServeConfig()) as port:
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.settimeout(20)
            sock.sendall(b"POST /v1/models/salgan:predict HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                         + header + b"\r\nContent-Type: application/json\r\n\r\n{}")
            answer = _read_until_closed(sock)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 "), answer[:300]
    assert b"content-type: application/json" in head.lower()
    assert json.loads(body)["error"].startswith("invalid HTTP request (")


# --------------------------------------------------------------------------- issue 29: the server

def _predict_body():
    return {"instances": [_b64(images.encode_rgb(np.zeros((20, 30, 3), np.uint8), "png"))]}


@pytest.mark.parametrize("headers,status,words", [
    ({"Host": "attacker.example"}, 400, "Host header 'attacker.example' is not a loopback name"),
    ({"Host": "attacker.example:8501"}, 400, "is not a loopback name"),
    ({"Origin": "http://attacker.example"}, 403, "Origin 'http://attacker.example' is not this"),
    ({"Origin": "null"}, 403, "Origin 'null' is not this server's own"),
    ({"Content-Type": "text/plain"}, 415, "Content-Type 'text/plain' is not accepted"),
    ({"Content-Type": "application/x-www-form-urlencoded"}, 415, "is not accepted"),
    ({"Content-Type": ""}, 415, "Content-Type '(none)' is not accepted"),
])
def test_demo_server_refuses_what_another_site_could_send(headers, status, words, server_client):
    """DNS rebinding (a foreign Host) and cross-site requests (a foreign Origin, or a body type
    a page may send without a CORS preflight) get a 4xx JSON answer, never a map."""
    body = json.dumps(_predict_body()).encode()
    sent = {"Content-Type": "application/json", **headers}
    response = server_client.post(PREDICT, content=body, headers=sent)
    assert response.status_code == status and words in response.json()["error"], response.text
    if "Content-Type" not in headers:  # the page route and GETs are guarded alike
        page = server_client.post("/api/saliency.png", content=b"x", headers={
            "Content-Type": "application/octet-stream", **headers})
        assert page.status_code == status, page.text
        assert server_client.get("/v1/models/salgan", headers=headers).status_code == status


def test_demo_server_serves_its_own_page_and_configured_hosts(fake_predictor):
    from starlette.testclient import TestClient

    body = json.dumps(_predict_body()).encode()
    own = {"Content-Type": "application/json; charset=utf-8", "Origin": LOCAL}
    config = serve_app.ServeConfig(allowed_hosts=("salgan.local",))
    with TestClient(serve_app.create_app(fake_predictor(), config), base_url=LOCAL) as client:
        assert client.post(PREDICT, content=body, headers=own).status_code == 200
        for host in ("localhost:8501", "[::1]:8501", "127.0.0.1", "salgan.local:8080"):
            assert client.get("/v1/models/salgan", headers={"Host": host}).status_code == 200
        page = client.post("/api/saliency.png", content=base64.b64decode(
            _predict_body()["instances"][0]["b64"]), headers={"Content-Type": "image/png"})
        assert page.status_code == 200
    with pytest.raises(ValueError, match="allowed_hosts: 'x:80' is not a host name"):
        serve_app.ServeConfig(allowed_hosts=("x:80",)).validate()


def test_demo_server_counts_json_items_before_parsing(server_client, monkeypatch):
    """40,000 empty instances (480 kB): refused as the body streams, never parsed or decoded
    (the whole body was parsed and every item decoded first; 32 MB of them doubled the peak)."""
    def no_parsing(body):
        raise AssertionError("the body was parsed")

    monkeypatch.setattr(serve_app, "parse_json", no_parsing)
    body = b'{"instances": [' + b",".join([b'{"b64": ""}'] * 40_000) + b"]}"
    response = server_client.post(PREDICT, content=body, headers=JSON_BODY)
    assert response.status_code == 400, response.text[:300]
    assert response.json()["error"] == (
        "request body holds more than 32616 JSON items (commas): more than the 16276 images the "
        "request budget admits (each counts at least the network input of 32 x 48 pixels; "
        "max_request_pixels); refused before parsing")


def test_demo_server_answers_tf_serving_metadata(server_client, util):
    """GET /v1/models/<name>/metadata answers with TF Serving's shape for the one signature."""
    response = server_client.get("/v1/models/salgan/metadata")
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["model_spec"] == {"name": "salgan", "signature_name": "", "version": "1"}
    signature = answer["metadata"]["signature_def"]["signature_def"]["serving_default"]
    assert signature["method_name"] == "tensorflow/serving/predict"
    assert signature["inputs"]["images"]["dtype"] == "DT_STRING"
    served = _serving_default(util).structured_outputs  # the exported signature's outputs
    assert set(signature["outputs"]) == set(served)
    for name, spec in served.items():
        assert signature["outputs"][name]["dtype"] == "DT_" + spec.dtype.name.upper().replace(
            "FLOAT32", "FLOAT")
    small = signature["outputs"]["saliency_small"]["tensor_shape"]["dim"]
    assert [int(dim["size"]) for dim in small] == [-1, 32, 48, 1]
    assert server_client.get("/v1/models/salgan/versions/1/metadata").status_code == 200
    assert server_client.get("/v1/models/salgan/versions/2/metadata").status_code == 404
