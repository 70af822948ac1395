"""Exports the SalGAN network to ONNX (tf2onnx), from a SavedModel or a training run.

  python -m salgan_tf.export.onnx --saved_model=models/salgan/1 --output=salgan.onnx
  python -m salgan_tf.export.onnx --checkpoint=runs/salicon --output=salgan.onnx

The ONNX model is the network alone, at its trained size, any batch size (NHWC, as TF and the
TFLite model):
  input  `image`:    float32 [N, h, w, 3], RGB 0-255 already resized to the network size
                     (`salgan_tf.preprocessing.resize_image`, the run's resize mode);
  output `saliency`: float32 [N, h, w, 1] in [0, 1].
The VGG caffe preprocessing is inside. The model's `metadata_props["salgan_tf_settings"]` holds
its settings as JSON (salgan_tf.export.model_settings: input size, `resize_mode`, `postprocess`
("paper": the authors' cubic resize + 5x5 blur back to the image size; the SavedModel's unless
`--postprocess` is given, "none" for a training run), the tensors), which
`salgan_tf.inference.load_predictor` checks and applies (onnxruntime runs the network). Needs
`pip install 'salgan_tf[onnx]'` (tf2onnx, onnxruntime).
"""
from __future__ import annotations

if __name__ == "__main__":  # `python -m`: TensorFlow's log hidden before the imports load it
    from salgan_tf import cli as _cli
    _cli.quiet_start_from_argv()

import contextlib
import os
import sys
import time

import tensorflow as tf

from salgan_tf import atomic
from salgan_tf import cli
from salgan_tf import postprocess as postprocess_lib
from salgan_tf.export import model_settings
from salgan_tf.export import saved_model as saved_model_lib
from salgan_tf.export import tflite as tflite_lib

# Opset 17: supported by tf2onnx 1.17 and by every onnxruntime since 1.11 (2022).
OPSET = 17
INPUT_NAME = "image"
OUTPUT_NAME = "saliency"
# tf2onnx.constants.ENV_TF2ONNX_CATCH_ERRORS, read by tf2onnx.convert at each conversion.
_CATCH_ERRORS_VARIABLE = "TF2ONNX_CATCH_ERRORS"


def network_source(*, saved_model=None, checkpoint=None):
    """`(object with a `network` tf.function, (h, w), resize mode, post-processing, source path)`
    of exactly one of a SavedModel directory or a training run."""
    if (saved_model is None) == (checkpoint is None):
        raise ValueError("give exactly one of a SavedModel (--saved_model) or a training run "
                         "(--checkpoint)")
    if saved_model is not None:
        predictor = tflite_lib.load_serving_module(saved_model)
        return (predictor.runtime, predictor.image_size, predictor.resize_mode,
                predictor.postprocess, predictor.path)
    from salgan_tf import checkpoints  # keeps `import salgan_tf.export.onnx` light for loaders

    generator, config = checkpoints.load_generator(checkpoint)
    module = saved_model_lib.SalganServingModule(generator, resize_mode=config.resize_mode)
    return module, config.image_size, config.resize_mode, "none", checkpoint


def convert(*, saved_model=None, checkpoint=None, opset=OPSET, postprocess=None):
    """The network of a SavedModel or a training run as an ONNX `ModelProto`.

    Args:
      saved_model: directory written by `salgan_tf.export.saved_model` (version or base dir).
      checkpoint: a training run dir, `checkpoints/` or `ckpt-N`, or a generator `.weights.h5`
        (`salgan_tf.checkpoints.load_generator`). Exactly one of the two.
      opset: ONNX opset.
      postprocess: "none" or "paper" for the metadata; None: the source's.

    Returns:
      `onnx.ModelProto` with input `image`, output `saliency` and the metadata above.
    """
    if postprocess not in (None, *postprocess_lib.CHOICES):
        raise ValueError(f"postprocess must be one of {postprocess_lib.CHOICES}, got "
                         f"{postprocess!r}")
    module, image_size, resize_mode, source_postprocess, source = network_source(
        saved_model=saved_model, checkpoint=checkpoint)
    try:
        import onnx
        import tf2onnx
    except ImportError as error:
        raise ImportError(f"ONNX export needs tf2onnx and onnx (pip install 'salgan_tf[onnx]'): "
                          f"{error}") from error
    network = tflite_lib.network_function(module, image_size, batch_size=None)
    with _tf2onnx_without_graph_copies():
        model, _ = tf2onnx.convert.from_function(
            network, input_signature=[tf.TensorSpec([None, *image_size, 3], tf.float32,
                                                    INPUT_NAME)], opset=opset)
    _rename_output(model.graph, OUTPUT_NAME)
    settings = model_settings.record(
        image_size, resize_mode, postprocess or source_postprocess,
        inputs=_tensors(model.graph.input, model.graph.initializer),
        outputs=_tensors(model.graph.output, ()), source=os.path.abspath(source))
    onnx.helper.set_model_props(
        model, {model_settings.METADATA_NAME: model_settings.to_json(settings).decode("utf-8")})
    onnx.checker.check_model(model)
    return model


@contextlib.contextmanager
def _tf2onnx_without_graph_copies():
    """tf2onnx deep-copies the whole graph, weights included, before each of its ~36 optimizer
    passes so that a failing pass can be skipped (`TF2ONNX_CATCH_ERRORS`, default on): with the
    127 MB of SalGAN weights that took the peak memory past 10.8 GB (7.5 GB without). Off here, a
    failing pass raises instead; every pass succeeds on this network."""
    previous = os.environ.get(_CATCH_ERRORS_VARIABLE)
    os.environ[_CATCH_ERRORS_VARIABLE] = "FALSE"
    try:
        yield
    finally:
        if previous is None:
            del os.environ[_CATCH_ERRORS_VARIABLE]
        else:
            os.environ[_CATCH_ERRORS_VARIABLE] = previous


def _tensors(values, initializers):
    """Graph inputs / outputs (initializers left out) as `model_settings.tensor` dicts."""
    import onnx

    constant = {initializer.name for initializer in initializers}
    return [model_settings.tensor(
        value.name, onnx.helper.tensor_dtype_to_np_dtype(value.type.tensor_type.elem_type).name,
        [d.dim_value if d.HasField("dim_value") else None
         for d in value.type.tensor_type.shape.dim])
        for value in values if value.name not in constant]


def _rename_output(graph, name):
    """Names the graph's single output `name` (tf2onnx names it after the TF tensor)."""
    (output,) = graph.output
    old = output.name
    for node in graph.node:
        node.output[:] = [name if value == old else value for value in node.output]
        node.input[:] = [name if value == old else value for value in node.input]
    output.name = name


def check_output(output):
    """ValueError unless `output` names a .onnx file."""
    if not output.endswith(".onnx"):
        raise ValueError(f"{output}: the output file name must end in .onnx")


def write(model, output):
    """Writes the `onnx.ModelProto` to `output` (.onnx) atomically; returns `output`."""
    check_output(output)
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    with atomic.open_replaced(output, "wb") as handle:
        handle.write(model.SerializeToString())
    return output


def _main(argv):
    from absl import flags

    del argv
    flag_values = flags.FLAGS
    start = time.time()
    try:
        check_output(flag_values.output)
        model = convert(saved_model=flag_values.saved_model, checkpoint=flag_values.checkpoint,
                        opset=flag_values.opset, postprocess=flag_values.postprocess)
        write(model, flag_values.output)
    except (FileNotFoundError, ValueError, ImportError) as error:  # names the path or the problem
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"wrote {flag_values.output} ({os.path.getsize(flag_values.output) / 1e6:.1f} MB, "
          f"opset {flag_values.opset}) in {time.time() - start:.0f} s")


def define_flags():
    """The CLI's flags (defined only by the CLI, so importing this module defines none)."""
    from absl import flags

    flags.DEFINE_string("saved_model", None, "SavedModel written by salgan_tf.export.saved_model")
    flags.DEFINE_string("checkpoint", None, "or: training run dir, its checkpoints/ dir, a ckpt-N "
                        "prefix, a generator .weights.h5 or a shipped model's name")
    flags.DEFINE_string("output", "salgan.onnx", "output .onnx file")
    flags.DEFINE_integer("opset", OPSET, "ONNX opset")
    flags.DEFINE_enum("postprocess", None, ["none", "paper"],
                      "post-processing recorded for loaders (default: the SavedModel's; 'none' "
                      "for a training run)")


def run():
    """`salgan-export onnx` / `python -m salgan_tf.export.onnx`."""
    define_flags()
    cli.run(_main, __name__)


if __name__ == "__main__":
    run()
