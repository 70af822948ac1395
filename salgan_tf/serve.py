r"""Local demo server: TF Serving's REST predict API and a drop-an-image page.

  python -m salgan_tf.serve                                  # the model shipped with the package
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

from absl import flags

from salgan_tf.data import images  # light (numpy, PIL): the limits are defined there
from salgan_tf import cli
from salgan_tf import shipped

FLAGS = flags.FLAGS

flags.DEFINE_string("model", shipped.DEFAULT_MODEL, "SavedModel dir (base or version), .tflite or "
                    ".onnx file, training run dir or ckpt-N prefix, or a shipped model's name "
                    "(default: the one shipped with the package)")
flags.DEFINE_integer("port", 8501, "TCP port (8501 is TF Serving's REST port)")
flags.DEFINE_string("host", "127.0.0.1", "loopback address to listen on (127.0.0.1, ::1 or "
                    "localhost); this demo server never listens on other interfaces")
flags.DEFINE_list("allowed_hosts", [], "Host header names served besides localhost, "
                  "127.0.0.1 and [::1] (e.g. a name that resolves to this loopback address); "
                  "requests naming any other Host get 400 (DNS rebinding)")
flags.DEFINE_string("model_name", "salgan", "model name in /v1/models/<name>:predict")
flags.DEFINE_integer("model_version", None, "version reported by /v1/models/<name> (default: "
                     "the SavedModel's version directory, else 1)")
# Defaults of None take serve_app.ServeConfig's (32 MB, 30 s, 2 requests): defined there once,
# and importing serve_app here would make `--help` slow (TensorFlow).
flags.DEFINE_float("max_request_mb", None, "larger request bodies are refused with 413 "
                   "(default: 32)")
flags.DEFINE_integer("max_pixels", images.DEFAULT_MAX_PIXELS, "larger images (H*W) are refused "
                     "with 400, checked from the header before decoding")
flags.DEFINE_integer("max_request_pixels", images.DEFAULT_MAX_REQUEST_PIXELS,
                     "per-request budget (pixels): the images' total H*W and the padded output "
                     "N x H_max x W_max; larger requests are refused with 400 before decoding")
flags.DEFINE_integer("max_concurrent_requests", None, "predict/page requests in flight at once; "
                     "more get 503 with Retry-After (default: 2); peak memory is about this "
                     "many requests' worth")
flags.DEFINE_float("request_timeout", None, "seconds a request may take to arrive in full; "
                   "slower (half-sent) requests get 408 and are closed (default: 30)")
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
        optional = {"request_timeout": FLAGS.request_timeout,
                    "max_concurrent_requests": FLAGS.max_concurrent_requests}
        if FLAGS.max_request_mb is not None:
            optional["max_request_bytes"] = int(FLAGS.max_request_mb * 2**20)
        config = serve_app.ServeConfig(
            model_name=FLAGS.model_name,
            model_version=FLAGS.model_version or serve_app.version_of(predictor.path),
            max_pixels=FLAGS.max_pixels, max_request_pixels=FLAGS.max_request_pixels,
            allowed_hosts=tuple(FLAGS.allowed_hosts),
            **{name: value for name, value in optional.items() if value is not None}).validate()
    except (FileNotFoundError, ValueError) as error:
        sys.exit(f"error: {error}")
    print(f"loaded {predictor}; page: http://{host}:{FLAGS.port}/  predict: POST "
          f"http://{host}:{FLAGS.port}/v1/models/{config.model_name}:predict", flush=True)
    uvicorn.Server(serve_app.server_config(serve_app.create_app(predictor, config), config,
                                           host=host, port=FLAGS.port,
                                           log_level=FLAGS.log_level)).run()


def run():
    """The `salgan-serve` console script."""
    cli.run(main, __name__)


if __name__ == "__main__":
    run()
