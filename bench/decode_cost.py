"""Worst CPU time and memory of one image within the decode budget (docs/serve.md).

  python bench/decode_cost.py [--side=5000] [--cases jpeg png]

Cases, each in a fresh subprocess (its own ru_maxrss): a side x side progressive JPEG whose
costliest scan (a luma AC refinement) is repeated up to `MAX_JPEG_SCANS`, and a small PNG with
`MAX_PNG_COMPRESSED_CHUNKS` zTXt chunks each inflating to 8 MB, through the host decoder
(`images.decode_image`), the SavedModel's graph (`image_header.checked_header` +
`decode_upright` in a tf.function) and the demo server's page route (Starlette's TestClient,
the suite's fake network). Prints CPU seconds (time.process_time) and peak RSS growth.
"""
import argparse
import json
import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_CASE = r"""
import io, json, resource, struct, sys, time, zlib
import numpy as np
from PIL import Image
import tensorflow as tf
sys.path[:0] = [sys.argv[1], sys.argv[1] + "/tests"]
from salgan_tf.data import decode_budget, images
from salgan_tf.export import image_header

def jpeg(side, scans):
    buffer = io.BytesIO()
    # Flat gray: every scan is tiny (the hostile case: tens of bytes per scan).
    Image.fromarray(np.full((side, side, 3), 128, np.uint8)).save(
        buffer, "JPEG", progressive=True, quality=90)
    data = buffer.getvalue()
    starts = [i for i in range(len(data) - 1) if data[i:i + 2] == b"\xff\xda"]
    ends = starts[1:] + [data.rindex(b"\xff\xd9")]
    # A luma AC refinement scan (one component, id 1, Ss=1, Se=63, Ah>0): the costliest.
    costly = next((s, e) for s, e in zip(starts, ends)
                  if data[s + 4:s + 6] == b"\x01\x01" and data[s + 7:s + 9] == b"\x01\x3f"
                  and data[s + 9] >> 4)
    extra = scans - len(starts)
    end = ends[-1]
    return data[:end] + data[costly[0]:costly[1]] * extra + data[end:]

def png():
    def chunk(name, payload):
        return (struct.pack(">I", len(payload)) + name + payload
                + struct.pack(">I", zlib.crc32(name + payload)))
    buffer = io.BytesIO()
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(buffer, "PNG")
    data = buffer.getvalue()
    text = chunk(b"zTXt", b"Comment\0\0" + zlib.compress(bytes(8 << 20), 9))
    end = data.rindex(b"IEND") - 4
    return data[:end] + text * decode_budget.MAX_PNG_COMPRESSED_CHUNKS + data[end:]

kind, path, side = sys.argv[2], sys.argv[3], int(sys.argv[4])
data = jpeg(side, decode_budget.MAX_JPEG_SCANS) if kind == "jpeg" else png()
assert decode_budget.refusal(data, kind.upper()) is None
graph = tf.function(lambda d: image_header.decode_upright(
    d, image_header.checked_header(d, tf.constant(0), images.DEFAULT_MAX_PIXELS)[1]),
    input_signature=[tf.TensorSpec([], tf.string)])
if path == "graph":
    graph(tf.constant(images.encode_rgb(np.zeros((8, 8, 3), np.uint8))))  # traced first
if path == "server":
    from starlette.testclient import TestClient
    from conftest import fake_predictor
    from salgan_tf import serve_app
    client = TestClient(serve_app.create_app(fake_predictor()), base_url="http://127.0.0.1:8501")
    client.__enter__()
    post = lambda body: client.post("/api/saliency.png", content=body,
                                    headers={"Content-Type": "application/octet-stream"})
    post(images.encode_rgb(np.zeros((8, 8, 3), np.uint8)))
before_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.process_time()
if path == "host":
    shape = images.decode_image(data).shape
elif path == "graph":
    shape = tuple(graph(tf.constant(data)).shape)
else:
    reply = post(data)
    assert reply.status_code == 200, reply.text
    shape = (int(reply.headers["x-saliency-height"]), int(reply.headers["x-saliency-width"]))
cpu = time.process_time() - start
growth = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before_rss) / 1024
print(json.dumps({"case": kind, "path": path, "bytes": len(data), "shape": list(shape[:2]),
                  "cpu_s": round(cpu, 2), "peak_growth_mb": round(growth)}))
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", type=int, default=5000)
    parser.add_argument("--cases", nargs="+", default=["jpeg", "png"])
    args = parser.parse_args()
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    for kind in args.cases:
        for path in ("host", "graph", "server"):
            result = subprocess.run([sys.executable, "-c", _CASE, REPO, kind, path,
                                     str(args.side)], capture_output=True, text=True, env=env,
                                    check=False, timeout=1200)
            lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
            print(lines[-1] if lines else json.dumps(
                {"case": kind, "path": path, "error": result.stderr.strip().splitlines()[-1:]}))


if __name__ == "__main__":
    main()
