"""Latency of the demo server (salgan_tf.serve_app) over real HTTP on loopback; prints numbers.

  python bench/serve_latency.py [--model=PATH] [--image=...jpg] [--repeats=3]

Without --model it serves the full-size (192x256) generator with random weights (same compute
as a trained one). Reports, per route, the median wall time of one request and the response size:
the TF Serving JSON API (float lists: large and slow to encode for big images) versus the page's
PNG route, plus how fast a 12000x12000 PNG is refused.
"""
import argparse
import base64
import json
import os
import pathlib
import socket
import statistics
import sys
import threading
import time
import urllib.error
import urllib.request

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
DEFAULT_IMAGE = (REPO_ROOT.parent / "shared" / "data" / "salicon_api_examples" / "images"
                 / "train2014examples" / "COCO_train2014_000000123067.jpg")


def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _post(url, data, content_type):
    request = urllib.request.Request(url, data=data, method="POST",
                                     headers={"Content-Type": content_type})
    start = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=600) as response:
            body, status = response.read(), response.status
    except urllib.error.HTTPError as error:
        body, status = error.read(), error.code
    return time.perf_counter() - start, status, body


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="model path for inference.load_predictor")
    parser.add_argument("--image", default=str(DEFAULT_IMAGE))
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.path.insert(0, str(REPO_ROOT / "tests"))
    import uvicorn

    from salgan_tf import generator as generator_lib
    from salgan_tf import inference, preprocessing, serve_app
    from conftest import blank_png  # a valid 12000x12000 PNG of ~18 kB (tests/conftest.py)

    if args.model:
        predictor = inference.load_predictor(args.model)
    else:
        import tensorflow as tf

        generator = generator_lib.build_generator((192, 256))
        run = tf.function(lambda batch: generator(preprocessing.vgg_preprocess(batch),
                                                  training=False)[..., 0])

        def network(batch):  # as inference's checkpoint loader: one tf.function call
            return run(tf.constant(batch)).numpy()

        predictor = inference.Predictor(network, kind="keras (random weights)", path="bench",
                                        image_size=(192, 256), resize_mode="stretch",
                                        batch_size=1)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(serve_app.create_app(predictor), host="127.0.0.1",
                                           port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    base = f"http://127.0.0.1:{port}"
    image = pathlib.Path(args.image).read_bytes()
    cases = {
        "POST /v1/models/salgan:predict (JSON)": (
            "/v1/models/salgan:predict",
            json.dumps({"instances": [{"b64": base64.b64encode(image).decode()}]}).encode(),
            "application/json"),
        "POST /api/saliency.png (page)": ("/api/saliency.png", image, "image/jpeg"),
        "POST /api/saliency.png, 12000x12000 PNG (refused)": (
            "/api/saliency.png", blank_png(12000, 12000), "image/png"),
    }
    print(f"model: {predictor!r}\nimage: {args.image} ({len(image)} bytes)")
    for name, (path, data, content_type) in cases.items():
        _post(base + path, data, content_type)  # warm-up (tracing, first allocation)
        times = []
        for _ in range(args.repeats):
            seconds, status, body = _post(base + path, data, content_type)
            times.append(seconds)
        print(f"{name}: HTTP {status}, median {statistics.median(times) * 1000:.0f} ms over "
              f"{args.repeats}, response {len(body) / 1e3:.1f} kB")
    server.should_exit = True


if __name__ == "__main__":
    main()
