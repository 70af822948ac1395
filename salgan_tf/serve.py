r"""Local demo server: TF Serving's REST predict API and a drop-an-image page.

  python -m salgan_tf.serve --model=models/salgan/1 [--port=8501]
  python -m salgan_tf.serve --model=salgan.tflite
  python -m salgan_tf.serve --model=runs/salicon            # a training run (latest checkpoint)

Open http://127.0.0.1:8501/ for the page; TF Serving clients call
`POST http://127.0.0.1:8501/v1/models/salgan:predict` with `{"instances": [{"b64": ...}]}`.
For development and demos; serve production traffic with TF Serving (export/README.md). The app
is `salgan_tf.serve_app`; this file only reads flags. See docs/serve.md.
"""
from __future__ import annotations

import sys

from absl import app, flags

FLAGS = flags.FLAGS

flags.DEFINE_string("model", None, "SavedModel dir (base or version), .tflite file, training "
                    "run dir or ckpt-N prefix", required=True)
flags.DEFINE_integer("port", 8501, "TCP port (8501 is TF Serving's REST port)")
flags.DEFINE_string("host", "127.0.0.1", "loopback address to listen on (127.0.0.1, ::1 or "
                    "localhost); this demo server never listens on other interfaces")
flags.DEFINE_string("model_name", "salgan", "model name in /v1/models/<name>:predict")
flags.DEFINE_integer("model_version", None, "version reported by /v1/models/<name> (default: "
                     "the SavedModel's version directory, else 1)")
flags.DEFINE_float("max_request_mb", 32.0, "larger request bodies are refused with 413")
# 25 MP, as inference.DEFAULT_MAX_PIXELS and the SavedModel (not imported: keeps --help fast).
flags.DEFINE_integer("max_pixels", 25_000_000, "larger images (H*W) are refused with 400, "
                     "checked from the header before decoding")
flags.DEFINE_enum("resize_mode", None, ["stretch", "letterbox"],
                  "override the model's resize mode (default: the model's own)")
flags.DEFINE_string("log_level", "info", "uvicorn log level")


def main(argv):
    del argv
    # Heavy imports after flag parsing, so `--help` and flag errors are instant.
    import uvicorn

    from salgan_tf import inference, serve_app

    try:
        host = serve_app.check_loopback(FLAGS.host)
        predictor = inference.load_predictor(FLAGS.model, resize_mode=FLAGS.resize_mode)
        config = serve_app.ServeConfig(
            model_name=FLAGS.model_name,
            model_version=FLAGS.model_version or serve_app.version_of(predictor.path),
            max_request_bytes=int(FLAGS.max_request_mb * 2**20),
            max_pixels=FLAGS.max_pixels).validate()
    except (FileNotFoundError, ValueError) as error:
        sys.exit(f"error: {error}")
    print(f"loaded {predictor}; page: http://{host}:{FLAGS.port}/  predict: POST "
          f"http://{host}:{FLAGS.port}/v1/models/{config.model_name}:predict", flush=True)
    uvicorn.run(serve_app.create_app(predictor, config), host=host, port=FLAGS.port,
                log_level=FLAGS.log_level)


if __name__ == "__main__":
    app.run(main)
