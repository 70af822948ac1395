r"""The authors' trained SalGAN generator (Theano/Lasagne `.npz`) as a Keras weights file.

    python -m salgan_tf.tools.import_salgan --source=gen_modelWeights0090.npz \
        --output=salgan_paper.weights.h5

The source is the file the authors' `scripts/02-train.py` writes with
`np.savez(path, *lasagne.layers.get_all_param_values(net['output']))` (repository
imatge-upc/saliency-salgan-2017): 54 arrays `arr_0 … arr_53`, read here with
`allow_pickle=False`. The output loads into `salgan_tf.generator.build_generator` (any input size;
the paper's is 192×256 H×W) and is accepted wherever a model is (docs/import_salgan.md).

Conventions where the data crosses the boundary (checked against their code with Theano,
bench/salgan_theano/):
- order: the 13 VGG-16 convs conv1_1 … conv5_3 as (W, b), the 13 decoder convs
  uconv5_3 … uconv1_1, then the 1×1 output conv (sigmoid);
- Lasagne `W` is `(out, in, kh, kw)`, Keras `Conv2D` kernels are `(kh, kw, in, out)`;
- their encoder (`models/vgg16.py`) uses `flip_filters=False`, a cross-correlation like Keras: the
  kernel is only transposed. Their decoder and output convs (`models/generator.py`) leave
  Lasagne's default `flip_filters=True`, a true convolution: the kernel is also flipped in both
  spatial axes, otherwise Keras' cross-correlation computes a different function;
- their `RGBtoBGRLayer` turns RGB 0-255 into BGR minus the ImageNet BGR mean, which is exactly
  `salgan_tf.preprocessing.vgg_preprocess` (Keras' "caffe" mode), so conv1_1's input channels
  keep their order.
"""
from __future__ import annotations

if __name__ == "__main__":  # `python -m`: TensorFlow's log hidden before the imports load it
    from salgan_tf import cli as _cli
    _cli.quiet_start_from_argv()

import dataclasses
import os
import sys
import zipfile

from absl import app
from absl import flags
import numpy as np

from salgan_tf import atomic
from salgan_tf import cli
from salgan_tf import generator as generator_lib


class SalganWeightsError(ValueError):
    """A source that is not the authors' generator npz; the message names the file and why."""


@dataclasses.dataclass(frozen=True)
class ImportedConv:
    """Where one Lasagne conv of the authors' generator goes in `build_generator`."""

    lasagne_name: str  # their layer name (models/vgg16.py, models/generator.py)
    keras_name: str  # our layer name (salgan_tf.generator)
    shape: tuple  # their W shape (out, in, kh, kw)
    flip_filters: bool  # Lasagne flag: True = true convolution (kernel flipped for Keras)


def _lasagne_name(keras_name):
    """`block3_conv2` -> `conv3_2`; `decoder_block3_conv2` -> `uconv3_2` (their names)."""
    decoder = keras_name.startswith("decoder_")
    block, conv = keras_name.removeprefix("decoder_").split("_")
    return f"{'u' if decoder else ''}conv{block.removeprefix('block')}_{conv.removeprefix('conv')}"


def _layer_plan():
    """The 27 convs in the order of their npz, derived from our generator's layer tables."""
    plan = []
    in_channels = 3
    for table, flip in ((generator_lib.ENCODER_TABLE, False), (generator_lib.DECODER_TABLE, True)):
        for row in table:
            if row.kind == "conv":
                plan.append(ImportedConv(_lasagne_name(row.name), row.name,
                                         (row.filters, in_channels, 3, 3), flip))
                in_channels = row.filters
    plan.append(ImportedConv("output", generator_lib.OUTPUT_LOGITS_LAYER, (1, in_channels, 1, 1),
                             True))
    return tuple(plan)


LAYER_PLAN = _layer_plan()
NUM_ARRAYS = 2 * len(LAYER_PLAN)  # 54: (W, b) per conv
# First array of their discriminator file (models/discriminator.py, 'merge'): a 1×1 conv from
# the 4 channels [saliency map, R, G, B] to 3.
DISCRIMINATOR_FIRST_SHAPE = (3, 4, 1, 1)


def read_npz(path):
    """The 54 arrays of the authors' generator file, checked (count, shapes, dtype, finite).

    Args:
      path: `gen_modelWeights*.npz` as written by their `02-train.py`.

    Returns:
      List of 54 numpy arrays in file order (`arr_0 … arr_53`), their layout.

    Raises:
      FileNotFoundError: no such file. SalganWeightsError: not a zip/npz, holds pickled objects,
        is their discriminator file, has the wrong array count, names or shapes, non-float or
        non-finite values.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: SalGAN weights file not found")
    if not zipfile.is_zipfile(path):
        raise SalganWeightsError(f"{path}: not an .npz archive (np.savez output is a zip file)")
    try:
        with np.load(path, allow_pickle=False) as npz:
            names = list(npz.files)
            arrays = {name: npz[name] for name in names}
    except ValueError as error:
        if "allow_pickle" in str(error):  # numpy: "Object arrays cannot be loaded when ..."
            raise SalganWeightsError(
                f"{path}: holds pickled Python objects, refused (read with allow_pickle=False)"
            ) from error
        raise SalganWeightsError(f"{path}: damaged .npz archive: {error}") from error
    except (OSError, zipfile.BadZipFile, EOFError) as error:
        raise SalganWeightsError(f"{path}: damaged .npz archive: {error}") from error
    if "arr_0" in arrays and arrays["arr_0"].shape == DISCRIMINATOR_FIRST_SHAPE:
        raise SalganWeightsError(
            f"{path}: this is the SalGAN discriminator (first conv {DISCRIMINATOR_FIRST_SHAPE}: "
            "4 input channels = map + RGB), not the generator; pass gen_modelWeights*.npz")
    expected_names = [f"arr_{i}" for i in range(NUM_ARRAYS)]
    if len(names) != NUM_ARRAYS:
        raise SalganWeightsError(
            f"{path}: holds {len(names)} arrays, the SalGAN generator has {NUM_ARRAYS} "
            f"(arr_0 … arr_{NUM_ARRAYS - 1}: 27 convs as W, b)")
    if sorted(names) != sorted(expected_names):
        unexpected = sorted(set(names) - set(expected_names))
        raise SalganWeightsError(
            f"{path}: arrays named {unexpected[:3]}, expected arr_0 … arr_{NUM_ARRAYS - 1} as "
            "np.savez(path, *arrays) names them")
    ordered = [arrays[name] for name in expected_names]
    for index, layer in enumerate(LAYER_PLAN):
        for offset, (part, shape) in enumerate((("W", layer.shape), ("b", layer.shape[:1]))):
            array = ordered[2 * index + offset]
            where = f"arr_{2 * index + offset} ({layer.lasagne_name}.{part})"
            if array.shape != shape:
                raise SalganWeightsError(
                    f"{path}: {where} has shape {array.shape}, the SalGAN generator needs {shape}")
            if not np.issubdtype(array.dtype, np.floating):
                raise SalganWeightsError(f"{path}: {where} has dtype {array.dtype}, not float")
            if not np.all(np.isfinite(array)):
                raise SalganWeightsError(f"{path}: {where} has NaN or infinite values")
    return ordered


def to_keras_weights(arrays):
    """Lasagne arrays (file order) -> `{keras layer name: (kernel HWIO, bias)}` float32.

    A layer with `flip_filters=True` computed a true convolution: its kernel is flipped in both
    spatial axes so Keras' cross-correlation gives the same result (see the module docstring).
    """
    weights = {}
    for index, layer in enumerate(LAYER_PLAN):
        w, b = arrays[2 * index], arrays[2 * index + 1]
        if layer.flip_filters:
            w = w[:, :, ::-1, ::-1]
        kernel = np.transpose(w, (2, 3, 1, 0))  # (out, in, kh, kw) -> (kh, kw, in, out)
        weights[layer.keras_name] = (np.ascontiguousarray(kernel, np.float32),
                                     np.asarray(b, np.float32))
    return weights


def set_generator_weights(generator, weights):
    """Copies `{layer: (kernel, bias)}` into a `build_generator` model (any input size)."""
    for name, (kernel, bias) in weights.items():
        generator.get_layer(name).set_weights([kernel, bias])
    return generator


def import_salgan(source, output, *, overwrite=False, echo=print):
    """Converts the authors' generator npz into a Keras `.weights.h5` for `build_generator`.

    The file is written under a temporary name beside `output`, loaded back into a fresh
    generator and compared with the converted arrays, then renamed: a failure leaves nothing.

    Args:
      source: `gen_modelWeights*.npz`.
      output: path ending in `.weights.h5` (Keras requires the suffix).
      overwrite: replace an existing `output` (default: refuse).
      echo: called with each report line.

    Returns:
      The `{layer: (kernel, bias)}` written.

    Raises:
      FileNotFoundError, SalganWeightsError (see `read_npz`); SalganWeightsError also for a bad
      `output` name, an existing `output` without `overwrite`, or a reload that differs.
    """
    source = os.path.expanduser(os.fspath(source))
    output = os.path.expanduser(os.fspath(output))
    if not output.endswith(".weights.h5"):
        raise SalganWeightsError(f"{output}: output name must end in .weights.h5 (Keras format)")
    if os.path.exists(output) and not overwrite:
        raise SalganWeightsError(f"{output}: already exists; pass --overwrite to replace it")
    arrays = read_npz(source)
    echo(f"source: {source} ({os.path.getsize(source):,} bytes): {NUM_ARRAYS} arrays, shapes as "
         "the SalGAN generator, values finite")
    weights = to_keras_weights(arrays)
    for layer in LAYER_PLAN:
        kernel = weights[layer.keras_name][0]
        how = "flipped (flip_filters=True)" if layer.flip_filters else "as is (flip_filters=False)"
        echo(f"  {layer.lasagne_name:9s} W {str(layer.shape):20s} -> {layer.keras_name:21s} "
             f"kernel {str(kernel.shape):19s} {how}")
    generator = set_generator_weights(generator_lib.build_generator(encoder_weights="none"),
                                      weights)
    directory = os.path.dirname(os.path.abspath(output))
    os.makedirs(directory, exist_ok=True)
    with atomic.replaced_file(output) as tmp_path:  # nothing under `output` unless verified
        generator.save_weights(tmp_path)
        reloaded = generator_lib.build_generator(encoder_weights="none")
        reloaded.load_weights(tmp_path)
        for name, arrays_written in weights.items():
            for saved, wanted in zip(reloaded.get_layer(name).get_weights(), arrays_written):
                if not np.array_equal(saved, wanted):
                    raise SalganWeightsError(f"{output}: layer {name} reloaded differs")
    echo(f"wrote {output} ({os.path.getsize(output):,} bytes): reloads into build_generator and "
         "equals the converted arrays; feed it caffe-preprocessed images (vgg_preprocess)")
    return weights


FLAGS = flags.FLAGS


def define_flags():
    """Flags exist only when run as a script (importing the library leaves absl FLAGS alone)."""
    flags.DEFINE_string("source", None, "gen_modelWeights*.npz of the authors' Theano SalGAN.",
                        required=True)
    flags.DEFINE_string("output", None, "Keras weights file to write (ends in .weights.h5).",
                        required=True)
    flags.DEFINE_bool("overwrite", False, "Replace an existing --output.")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    try:
        import_salgan(FLAGS.source, FLAGS.output, overwrite=FLAGS.overwrite)
    except (SalganWeightsError, FileNotFoundError) as error:
        sys.exit(f"import_salgan: error: {error}")


def run():
    """The console script."""
    define_flags()
    cli.run(main, __name__)


if __name__ == "__main__":
    run()
