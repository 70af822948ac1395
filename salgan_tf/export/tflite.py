"""Converts an exported SalGAN SavedModel to TFLite: float32, float16, dynamic-range or full int8.

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
APIs do them better). Full int8 keeps a float32 interface: the converter adds the (de)quantize
steps at the edges. A sidecar `<output>.json` records the resize mode and input size, which
`salgan_tf.inference.load_predictor` reads.

Why not `TFLiteConverter.from_saved_model`: on a `tf.Module` holding a Keras 3 model it keeps the
weights as resource variables (no weight quantisation, int8 calibration fails; see
shared/notes/tflite.md). We freeze the SavedModel's `network` function into constants first.
"""
from __future__ import annotations

import glob
import json
import os
import sys
import time

import tensorflow as tf
from tensorflow.python.framework import convert_to_constants

from salgan_tf import cli
from salgan_tf import inference
from salgan_tf.data import images
from salgan_tf.data.images import IMAGE_EXTENSIONS

QUANTIZATIONS = ("none", "float16", "dynamic", "int8")
DEFAULT_CALIBRATION_STEPS = 100


def load_serving_module(saved_model):
    """Loads an `salgan_tf.export.saved_model` SavedModel (version dir or base dir: newest version)."""
    predictor = inference.load_predictor(saved_model)
    if predictor.kind != "saved_model":
        raise ValueError(f"{saved_model}: not a SavedModel directory (found a {predictor.kind})")
    return predictor


def frozen_network(loaded, image_size):
    """The SavedModel's `network` at batch 1, weights folded into constants."""
    height, width = image_size

    @tf.function(input_signature=[tf.TensorSpec([1, height, width, 3], tf.float32, name="image")])
    def network(image):
        return {"saliency": loaded.network(image)}

    return convert_to_constants.convert_variables_to_constants_v2(network.get_concrete_function())


def calibration_images(*, image_paths=None, tfrecords=None, limit=DEFAULT_CALIBRATION_STEPS):
    """Yields uint8 RGB `[H, W, 3]` arrays for int8 calibration.

    Args:
      image_paths: a folder (searched recursively), a glob, or a list of image files.
      tfrecords: a glob of TFRecords written by `python -m salgan_tf.convert` (read with
        `salgan_tf.evaluate_lib.read_tfrecord_examples`).
      limit: number of images.
    """
    if tfrecords:
        from salgan_tf import evaluate_lib

        for example in evaluate_lib.read_tfrecord_examples(tfrecords, with_images=True,
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


def convert(saved_model, quantize="none", *, representative_images=None):
    """Converts the SavedModel's network to a TFLite flatbuffer.

    Args:
      saved_model: directory written by `salgan_tf.export.saved_model`.
      quantize: "none" (float32), "float16" (weights fp16), "dynamic" (int8 weights, float
        activations) or "int8" (int8 weights and activations, float32 interface).
      representative_images: iterable of RGB images `[H, W, 3]` (any size; resized here like the
        network's own input), required for "int8".

    Returns:
      `(tflite_bytes, metadata dict)`.
    """
    if quantize not in QUANTIZATIONS:
        raise ValueError(f"quantize must be one of {QUANTIZATIONS}, got {quantize!r}")
    predictor = load_serving_module(saved_model)
    frozen = frozen_network(predictor.saved_model, predictor.image_size)
    converter = tf.lite.TFLiteConverter.from_concrete_functions([frozen], predictor.saved_model)
    calibrated = 0
    if quantize != "none":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantize == "float16":
        converter.target_spec.supported_types = [tf.float16]
    elif quantize == "int8":
        if representative_images is None:
            raise ValueError("int8 quantisation needs representative images "
                             "(--calibration_images or --calibration_tfrecords)")
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        samples = []
        for i, image in enumerate(representative_images):
            rgb = inference.as_rgb(image, name=f"calibration image {i}")
            samples.append(predictor.to_network_input(rgb)[None])
        if not samples:
            raise ValueError("the representative dataset is empty")
        calibrated = len(samples)

        def representative_dataset():
            for sample in samples:
                yield [sample]

        converter.representative_dataset = representative_dataset
    tflite_bytes = converter.convert()
    metadata = {"image_height": predictor.image_size[0], "image_width": predictor.image_size[1],
                "resize_mode": predictor.resize_mode, "quantize": quantize,
                "calibration_images": calibrated, "saved_model": os.path.abspath(saved_model),
                "input": "image float32 [1, H, W, 3] RGB 0-255 at the network size",
                "output": "saliency float32 [1, H, W, 1] in [0, 1]"}
    return tflite_bytes, metadata


def write(tflite_bytes, metadata, output):
    """Writes `output` (.tflite) and its sidecar `output + '.json'`."""
    if not output.endswith(".tflite"):
        raise ValueError(f"{output}: the output file name must end in .tflite")
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    with open(output, "wb") as f:
        f.write(tflite_bytes)
    with open(output + inference.TFLITE_METADATA_SUFFIX, "w") as f:
        json.dump(metadata, f, indent=2, sort_keys=True)
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
        if flag_values.quantize == "int8":
            representative = calibration_images(image_paths=flag_values.calibration_images,
                                                tfrecords=flag_values.calibration_tfrecords,
                                                limit=flag_values.calibration_steps)
        tflite_bytes, metadata = convert(flag_values.saved_model, flag_values.quantize,
                                         representative_images=representative)
        write(tflite_bytes, metadata, output)
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


def run():
    """`salgan-export tflite` / `python -m salgan_tf.export.tflite`."""
    define_flags()
    cli.run(_main, __name__)


if __name__ == "__main__":
    run()
