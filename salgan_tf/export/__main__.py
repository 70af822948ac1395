"""`salgan-export FORMAT [flags]` (or `python -m salgan_tf.export FORMAT [flags]`).

FORMAT is a module of this package: `saved_model` (TF Serving), `tflite` (LiteRT), `onnx`
(onnxruntime). Each is also runnable alone, e.g. `python -m salgan_tf.export.tflite --helpfull`.
"""
import importlib
import sys

from salgan_tf import cli

FORMATS = ("saved_model", "tflite", "onnx")


def run():
    """Dispatches to `salgan_tf.export.<FORMAT>.run` with the remaining arguments."""
    if len(sys.argv) < 2 or sys.argv[1] not in FORMATS:
        sys.exit(f"usage: salgan-export {{{','.join(FORMATS)}}} [flags]  "
                 f"(flags: salgan-export FORMAT --help)")
    export_format = sys.argv.pop(1)
    cli.quiet_start_from_argv()  # the format module imports TensorFlow
    importlib.import_module(f"salgan_tf.export.{export_format}").run()


if __name__ == "__main__":
    run()
