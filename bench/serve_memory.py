"""Peak memory of serving under hostile load (issue 23); prints numbers.

  python bench/serve_memory.py [--skip_saved_model] [--skip_server] [--clients=30]

Full-size (192x256) generator with random weights (same buffers as a trained one), exported as
a SavedModel to a temporary directory. Every peak is the kernel's high-water mark (VmHWM of
/proc/<pid>/status) of a fresh process, reported as its growth over the process after a warm-up:
1. the SavedModel: one `serving_default` request of 400 1x1 PNGs, in a subprocess;
2. the demo server (`python -m salgan_tf.serve` on the SavedModel, a subprocess): `--clients`
   parallel requests of one 2000x2000 JPEG each, then one 5000x5000 JPEG alone; every answer's
   status is counted (200, or 503 JSON when the server is busy).
Run with PYTHONPATH pointing at another checkout to measure its code the same way.
"""
import argparse
import base64
import collections
import json
import os
import pathlib
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import urllib.error
import urllib.request

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
NETWORK_SIZE = (192, 256)

_SAVED_MODEL_PROBE = textwrap.dedent("""
    import json, sys
    import tensorflow as tf
    sys.path.insert(0, sys.argv[2])
    from conftest import blank_png

    def peak_mb():
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) // 1024 for line in status
                        if line.startswith("VmHWM"))

    serve = tf.saved_model.load(sys.argv[1]).signatures["serving_default"]
    serve(images=tf.constant([blank_png(8, 8)] * 4))  # warm up: one chunk
    before = peak_mb()
    try:
        shape = serve(images=tf.constant([blank_png(1, 1)] * 400))["saliency_small"].shape
        outcome = f"served {shape.as_list()}"
    except tf.errors.InvalidArgumentError as error:
        outcome = "refused: " + error.message.splitlines()[0][:200]
    print(json.dumps({"outcome": outcome, "before_mb": before, "growth_mb": peak_mb() - before}))
""")


def _run(command, **kwargs):
    """Runs a Python subprocess in a neutral directory, so `salgan_tf` comes from PYTHONPATH
    (`python -m` and `-c` put the working directory first on sys.path)."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2",
           "PYTHONPATH": os.environ.get("PYTHONPATH", str(REPO_ROOT))}
    return subprocess.Popen([sys.executable, *command], env=env, cwd=tempfile.gettempdir(),
                            **kwargs)


def _export(directory):
    script = textwrap.dedent(f"""
        from salgan_tf import generator
        from salgan_tf.export import saved_model
        saved_model.export_saved_model(generator.build_generator({NETWORK_SIZE}),
                                       {str(directory)!r})
    """)
    if _run(["-c", script]).wait() != 0:
        sys.exit("the export failed")


def _peak_mb(pid):
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) // 1024 for line in status if line.startswith("VmHWM"))


def _salgan_tf_dir():
    """The salgan_tf package the subprocesses import (the code measured)."""
    finder = _run(["-c", "import salgan_tf, os; print(os.path.dirname(salgan_tf.__file__))"],
                  stdout=subprocess.PIPE, text=True)
    return finder.communicate()[0].strip()


def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _jpeg(side):
    sys.path.insert(0, str(REPO_ROOT / "tests"))
    import numpy as np
    from conftest import encode, smooth_images  # noqa: PLC0415 (the tests' helpers)

    return encode(smooth_images(1, (side, side))[0].astype(np.uint8), "JPEG", quality=90)


def _post(port, body):
    request = urllib.request.Request(f"http://127.0.0.1:{port}/v1/models/salgan:predict",
                                     data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=600) as response:
            return response.status, len(response.read())
    except urllib.error.HTTPError as error:
        answer = json.loads(error.read())  # every refusal is JSON
        return error.code, len(answer["error"])


def _server(model, clients):
    port = _free_port()
    server = _run(["-m", "salgan_tf.serve", f"--model={model}", f"--port={port}",
                   "--log_level=warning"], stdout=subprocess.PIPE, text=True)
    try:
        server.stdout.readline()  # "loaded ..." once the model is in memory
        for _ in range(600):
            try:
                socket.create_connection(("127.0.0.1", port)).close()
                break
            except OSError:
                time.sleep(0.1)
        small = json.dumps({"instances": [{"b64": base64.b64encode(_jpeg(200)).decode()}]})
        _post(port, small.encode())  # warm up: traces the network
        before = _peak_mb(server.pid)
        body = json.dumps({"instances": [{"b64": base64.b64encode(_jpeg(2000)).decode()}]})
        statuses = collections.Counter()

        def client():
            statuses[_post(port, body.encode())[0]] += 1

        start = time.perf_counter()
        threads = [threading.Thread(target=client) for _ in range(clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        print(f"server, {clients} parallel 2000x2000 JPEG requests ({len(body)} B bodies): "
              f"answers {dict(statuses)} in {time.perf_counter() - start:.1f} s; peak "
              f"{_peak_mb(server.pid)} MB, +{_peak_mb(server.pid) - before} MB over the "
              f"warmed-up server ({before} MB)", flush=True)
        before = _peak_mb(server.pid)
        big = json.dumps({"instances": [{"b64": base64.b64encode(_jpeg(5000)).decode()}]})
        start = time.perf_counter()
        status, size = _post(port, big.encode())
        print(f"server, one 5000x5000 JPEG ({len(big)} B body): HTTP {status}, reply "
              f"{size / 1e6:.0f} MB in {time.perf_counter() - start:.1f} s; peak "
              f"{_peak_mb(server.pid)} MB, +{_peak_mb(server.pid) - before} MB", flush=True)
    finally:
        server.terminate()
        server.wait(30)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip_saved_model", action="store_true")
    parser.add_argument("--skip_server", action="store_true")
    parser.add_argument("--clients", type=int, default=30)
    args = parser.parse_args()
    print(f"code measured: {_salgan_tf_dir()}", flush=True)
    with tempfile.TemporaryDirectory() as work:
        model = pathlib.Path(work) / "salgan" / "1"
        _export(model)
        if not args.skip_saved_model:
            probe = _run(["-c", _SAVED_MODEL_PROBE, str(model), str(REPO_ROOT / "tests")],
                         stdout=subprocess.PIPE, text=True)
            result = json.loads(probe.communicate()[0].strip().splitlines()[-1])
            print(f"SavedModel, one request of 400 1x1 PNGs: {result['outcome']}; peak "
                  f"+{result['growth_mb']} MB over the warmed-up process "
                  f"({result['before_mb']} MB)", flush=True)
        if not args.skip_server:
            _server(model, args.clients)


if __name__ == "__main__":
    main()
