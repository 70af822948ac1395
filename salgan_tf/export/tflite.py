"""Converts an exported SalGAN SavedModel to LiteRT (TFLite): float32, float16, dynamic or int8.

  python -m salgan_tf.export.tflite --saved_model=models/salgan/1 --quantize=float16 --output=salgan_fp16.tflite
  python -m salgan_tf.export.tflite --saved_model=models/salgan/1 --quantize=int8 \\
      --calibration_images=../shared/data/osie/data/stimuli --calibration_steps=100
  python -m salgan_tf.export.tflite --saved_model=models/salgan/1 --quantize=int8 \\
      --calibration_tfrecords='records/salicon-train-*.tfrecord'

The TFLite model is the network alone, at its trained size with batch 1:
  input  `image`:    float32 [1, h, w, 3], RGB 0-255 already resized to the network size
                     (`salgan_tf.preprocessing.resize_image`, the run's resize mode);
  output `saliency`: float32 [1, h, w, 1] in [0, 1].
The VGG caffe preprocessing is inside; decoding and resizing stay with the caller (mobile image
APIs do them better). Every variant uses TFLite builtin ops only and runs in LiteRT's
interpreter (`ai_edge_litert.interpreter`). The file carries its settings in its own flatbuffer
`metadata` (salgan_tf.export.model_settings: input size, resize mode, post-processing, the
tensors; `postprocess` is the SavedModel's unless `--postprocess` is given, "paper" = the authors'
cubic resize + 5x5 blur back to the image size, which depends on that size and so runs on the
host), which `salgan_tf.inference.load_predictor` checks and applies; `<output>.json` is a copy
for apps that do not read flatbuffers.

int8 quantises every op up to the logits (the last 1x1 conv) to int8 and applies the output
sigmoid in float32 to the dequantised logits. Quantising the sigmoid too, as the converter does
by default, puts the map on a fixed grid of 1/256 steps: the faint part of the map becomes
exactly 0 (8-39 % of the pixels of a trained model on OSIE) and KLD, which charges log(G / eps)
wherever fixations land on a 0, rose from 0.757 to 1.091 (docs/export.md). Dequantised logits
keep that tail (a logit step of ~0.1 is a ~10 % relative step of the probability at any level).

The converter freezes the SavedModel's `network` function itself (`from_concrete_functions`
with the loaded SavedModel as its trackable object): the SavedModel holds plain `tf.Variable`s,
so they become constants and are quantised.
"""
from __future__ import annotations

if __name__ == "__main__":  # `python -m`: TensorFlow's log hidden before the imports load it
    from salgan_tf import cli as _cli
    _cli.quiet_start_from_argv()

import glob
import os
import sys
import time
import warnings

import tensorflow as tf

from salgan_tf import atomic
from salgan_tf import cli
from salgan_tf import inference
from salgan_tf import postprocess as postprocess_lib
from salgan_tf.data import images
from salgan_tf.data.images import IMAGE_EXTENSIONS
from salgan_tf.export import model_settings

QUANTIZATIONS = model_settings.QUANTIZATIONS
DEFAULT_CALIBRATION_STEPS = 100
# int8 leaves this TFLite op in float32: the output sigmoid (the generator's only LOGISTIC).
FLOAT_OPS_IN_INT8 = ("LOGISTIC",)


def load_serving_module(saved_model):
    """Loads an `salgan_tf.export.saved_model` SavedModel (version dir or base dir: newest version)."""
    predictor = inference.load_predictor(saved_model)
    if predictor.kind != "saved_model":
        raise ValueError(f"{saved_model}: not a SavedModel directory (found a {predictor.kind})")
    return predictor


def network_function(module, image_size, batch_size=1):
    """`module.network` (a `SalganServingModule`, fresh or loaded) as a `tf.function`
    `image float32 [batch_size, h, w, 3] -> {"saliency": [batch_size, h, w, 1]}`.

    `batch_size=None` leaves the batch dimension open (ONNX); TFLite takes batch 1.
    """
    height, width = image_size

    @tf.function(input_signature=[
        tf.TensorSpec([batch_size, height, width, 3], tf.float32, name="image")])
    def network(image):
        return {"saliency": module.network(image)}

    return network


def calibration_images(*, image_paths=None, tfrecords=None, limit=DEFAULT_CALIBRATION_STEPS):
    """Yields uint8 RGB `[H, W, 3]` arrays for int8 calibration.

    Args:
      image_paths: a folder (searched recursively), a glob, or a list of image files.
      tfrecords: a glob of TFRecords written by `python -m salgan_tf.convert` (read with
        `salgan_tf.data.eval_examples.read_tfrecord_examples`).
      limit: number of images.
    """
    if tfrecords:
        from salgan_tf.data import eval_examples

        for example in eval_examples.read_tfrecord_examples(tfrecords, with_images=True,
                                                            limit=limit):
            yield example.image
        return
    files = list_image_files(image_paths)
    if not files:
        raise FileNotFoundError(f"{image_paths}: no calibration images ({IMAGE_EXTENSIONS})")
    for path in files[:limit]:
        yield images.decode_image(path)  # as predict and the server read them


def list_image_files(image_paths):
    """Sorted image files of a folder (recursive), a glob, or a list of paths."""
    if isinstance(image_paths, (list, tuple)):
        return list(image_paths)
    if os.path.isdir(image_paths):
        found = []
        for root, _, names in os.walk(image_paths):
            found += [os.path.join(root, n) for n in names
                      if n.lower().endswith(IMAGE_EXTENSIONS)]
        return sorted(found)
    return sorted(p for p in glob.glob(image_paths) if p.lower().endswith(IMAGE_EXTENSIONS))


def convert(saved_model, quantize="none", *, representative_images=None, postprocess=None):
    """Converts the SavedModel's network to a TFLite flatbuffer.

    Args:
      saved_model: directory written by `salgan_tf.export.saved_model`.
      quantize: "none" (float32), "float16" (weights fp16), "dynamic" (int8 weights, float
        activations) or "int8" (int8 weights and activations up to the logits, the sigmoid in
        float32; float32 interface).
      representative_images: iterable of RGB images `[H, W, 3]` (any size; resized here like the
        network's own input), required for "int8".
      postprocess: "none" or "paper" for the settings; None: the SavedModel's.

    Returns:
      `(tflite_bytes with the settings embedded, the settings dict)`.
    """
    if quantize not in QUANTIZATIONS:
        raise ValueError(f"quantize must be one of {QUANTIZATIONS}, got {quantize!r}")
    if postprocess not in (None, *postprocess_lib.CHOICES):
        raise ValueError(f"postprocess must be one of {postprocess_lib.CHOICES}, got "
                         f"{postprocess!r}")
    if quantize == "int8" and representative_images is None:
        raise ValueError("int8 quantisation needs representative images "
                         "(--calibration_images or --calibration_tfrecords)")
    predictor = load_serving_module(saved_model)
    converter = tf.lite.TFLiteConverter.from_concrete_functions(
        [network_function(predictor.runtime, predictor.image_size).get_concrete_function()],
        predictor.runtime)
    calibrated = 0
    if quantize != "none":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantize == "float16":
        converter.target_spec.supported_types = [tf.float16]
    if quantize == "int8":
        samples = [predictor.to_network_input(inference.as_rgb(image,
                                                               name=f"calibration image {i}"))[None]
                   for i, image in enumerate(representative_images)]
        if not samples:
            raise ValueError("the representative dataset is empty")
        calibrated = len(samples)
        tflite_bytes = _int8_with_float_sigmoid(converter, samples)
    else:
        tflite_bytes = converter.convert()
    return with_settings(tflite_bytes, predictor.image_size, predictor.resize_mode,
                         postprocess or predictor.postprocess, source=os.path.abspath(saved_model),
                         quantize=quantize, calibration_images=calibrated)


def with_settings(tflite_bytes, image_size, resize_mode, postprocess, **provenance):
    """`(tflite_bytes with its settings embedded, the settings)`: `salgan_tf.export.
    model_settings.record` of the arguments and of the tensors as LiteRT reads them."""
    from ai_edge_litert import interpreter as litert

    converted = litert.Interpreter(model_content=tflite_bytes)
    settings = model_settings.record(
        image_size, resize_mode, postprocess,
        inputs=model_settings.tflite_tensors(converted.get_input_details()),
        outputs=model_settings.tflite_tensors(converted.get_output_details()), **provenance)
    return model_settings.embed_in_tflite(tflite_bytes, settings), settings


def _int8_with_float_sigmoid(converter, samples):
    """Full-integer quantisation of every op but `FLOAT_OPS_IN_INT8` (module docstring).

    The converter has no public switch to keep one op in float; TF's quantisation debugger
    (`tf.lite.experimental.QuantizationDebugger`) is the public route to the quantiser's op
    deny-list. It calibrates with `converter.representative_dataset` and quantises the rest.
    """
    def representative_dataset():
        for sample in samples:
            yield [sample]

    converter.representative_dataset = representative_dataset
    with warnings.catch_warnings():
        # The debugger runs TF's own deprecated interpreter, whose warning would tell the user
        # to move to LiteRT, which everything here already uses to run models.
        warnings.filterwarnings("ignore", message=r".*tf\.lite\.Interpreter is deprecated",
                                category=UserWarning)
        debugger = tf.lite.experimental.QuantizationDebugger(
            converter=converter, debug_dataset=representative_dataset,
            debug_options=tf.lite.experimental.QuantizationDebugOptions(
                denylisted_ops=list(FLOAT_OPS_IN_INT8)))
        return debugger.get_nondebug_quantized_model()


def check_output(output):
    """ValueError unless `output` names a .tflite file."""
    if not output.endswith(".tflite"):
        raise ValueError(f"{output}: the output file name must end in .tflite")


def write(tflite_bytes, settings, output):
    """Writes `output` (.tflite, settings inside) and their copy `output + '.json'`, atomically."""
    check_output(output)
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    # Both written in full before either replaces its file, then swapped in back to back: a
    # failure leaves the previous pair untouched.
    with atomic.open_replaced(output + model_settings.SIDECAR_SUFFIX, "wb") as sidecar, \
            atomic.open_replaced(output, "wb") as model:
        sidecar.write(model_settings.to_json(settings))
        model.write(tflite_bytes)
    return output


def _main(argv):
    from absl import app, flags

    del argv
    flag_values = flags.FLAGS
    representative = None
    if flag_values.quantize == "int8" and not (flag_values.calibration_images or
                                               flag_values.calibration_tfrecords):
        raise app.UsageError("--quantize=int8 needs --calibration_images or "
                             "--calibration_tfrecords")
    output = flag_values.output or f"salgan_{flag_values.quantize}.tflite"
    start = time.time()
    try:
        check_output(output)
        if flag_values.quantize == "int8":
            representative = calibration_images(image_paths=flag_values.calibration_images,
                                                tfrecords=flag_values.calibration_tfrecords,
                                                limit=flag_values.calibration_steps)
        tflite_bytes, settings = convert(flag_values.saved_model, flag_values.quantize,
                                         representative_images=representative,
                                         postprocess=flag_values.postprocess)
        write(tflite_bytes, settings, output)
    except (FileNotFoundError, ValueError) as error:  # names the path or the problem
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"wrote {output} ({len(tflite_bytes) / 1e6:.1f} MB, {flag_values.quantize}) in "
          f"{time.time() - start:.0f} s")


def define_flags():
    """The CLI's flags (defined only by the CLI, so importing this module defines none)."""
    from absl import flags

    flags.DEFINE_string("saved_model", None, "SavedModel written by salgan_tf.export.saved_model",
                        required=True)
    flags.DEFINE_enum("quantize", "none", list(QUANTIZATIONS), "TFLite quantisation")
    flags.DEFINE_string("output", None, "output .tflite file (default salgan_<quantize>.tflite)")
    flags.DEFINE_string("calibration_images", None, "int8: image folder (recursive) or glob")
    flags.DEFINE_string("calibration_tfrecords", None, "int8: TFRecord glob from salgan_tf.convert")
    flags.DEFINE_integer("calibration_steps", DEFAULT_CALIBRATION_STEPS,
                         "int8: number of calibration images")
    flags.DEFINE_enum("postprocess", None, ["none", "paper"],
                      "post-processing recorded for loaders (default: the SavedModel's)")


def run():
    """`salgan-export tflite` / `python -m salgan_tf.export.tflite`."""
    define_flags()
    cli.run(_main, __name__)


if __name__ == "__main__":
    run()
