"""Loading ImageNet VGG-16 conv weights into the generator's encoder, by layer name.

Sources (the `--encoder_weights` flag):
- `imagenet`: `keras.applications.VGG16(weights="imagenet")`, which downloads (needs internet);
- a local file: a Keras VGG-16 weights file (`vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5`, a
  Keras 3 `.weights.h5` of `VGG16(include_top=False)`, as written by
  `python -m salgan_tf.tools.import_vgg16`), or a whole `.keras` model that has `block1_conv1` …
  `block5_conv3` layers;
- `none`: keep the random initialisation.
"""
from __future__ import annotations

import os

import keras
import numpy as np

LOCAL_SUFFIXES = (".weights.h5", ".h5", ".keras")


class EncoderWeightsError(RuntimeError):
    """The encoder weights could not be obtained or do not fit the encoder."""


def _vgg16_from_imagenet():
    try:
        return keras.applications.VGG16(include_top=False, weights="imagenet")
    except Exception as err:  # Keras raises plain Exception subclasses from urllib / get_file.
        raise EncoderWeightsError(
            "could not download the ImageNet VGG-16 weights "
            f"({type(err).__name__}: {err}). Without internet, make a local file with "
            "`python -m salgan_tf.tools.import_vgg16 --source=... --output=vgg16.weights.h5` and "
            "pass --encoder_weights=vgg16.weights.h5") from err


def load_vgg16_file(path, *, source=None):
    """A Keras model holding VGG-16 conv layers, from a local weights file or `.keras` model.

    `.h5` (Keras 2 layout) and `.weights.h5` (Keras 3) are loaded into
    `keras.applications.VGG16(include_top=False)`; a `.keras` archive is loaded whole (its conv
    layers are found by name, `conv_weights`). Keras picks the reader by suffix; `source` names
    the file in errors when `path` is a link giving it one (salgan_tf.tools.import_vgg16).

    Raises:
      EncoderWeightsError: missing, of another type, unreadable, or a weights file that left a
        conv layer at its random initialisation (Keras 3 skips what it cannot place).
    """
    source = source or path
    if not os.path.isfile(path):
        raise EncoderWeightsError(f"encoder weights file not found: {source}")
    if not path.endswith(LOCAL_SUFFIXES):
        raise EncoderWeightsError(
            f"encoder weights file {source}: unsupported type, expected one of {LOCAL_SUFFIXES}")
    if path.endswith(".keras"):
        try:
            return keras.models.load_model(path, compile=False)
        except Exception as err:  # Keras raises many types for a foreign archive.
            raise EncoderWeightsError(f"{source}: cannot load the .keras archive: "
                                      f"{type(err).__name__}: {_first_line(err)}") from err
    kind = "Keras 3 weights file" if path.endswith(".weights.h5") else "Keras HDF5 weights file"
    vgg = keras.applications.VGG16(include_top=False, weights=None)
    initial = {layer.name: layer.get_weights()[0] for layer in vgg.layers if layer.get_weights()}
    try:
        vgg.load_weights(path)
    except Exception as err:  # h5py / Keras raise many types for a bad or foreign file.
        raise EncoderWeightsError(
            f"{source}: {kind} does not fit keras.applications.VGG16(include_top=False): "
            f"{type(err).__name__}: {_first_line(err)}") from err
    for name, kernel in initial.items():
        if np.array_equal(vgg.get_layer(name).get_weights()[0], kernel):
            raise EncoderWeightsError(
                f"{source}: {kind} left layer {name} at its random initialisation (the file "
                "does not hold VGG-16 conv weights)")
    return vgg


def _first_line(error):
    return str(error).splitlines()[0] if str(error) else ""


def _layers_by_name(model):
    """Every layer of `model` by name, nested models' layers included (the first of a name)."""
    found, stack = {}, [model]
    while stack:
        layer = stack.pop()
        found.setdefault(layer.name, layer)
        stack.extend(getattr(layer, "layers", []))
    return found


def conv_weights(model, layer_names, source):
    """`{name: [kernel, bias]}` of `model`'s layers `layer_names` (searched in nested models too).

    Raises:
      EncoderWeightsError: a layer is missing (all missing ones named) or is not a kernel + bias.
    """
    layers = _layers_by_name(model)
    missing = [name for name in layer_names if name not in layers]
    if missing:
        raise EncoderWeightsError(f"{source}: model {model.name!r} lacks the VGG-16 conv "
                                  f"layer(s) {', '.join(missing)}")
    weights = {}
    for name in layer_names:
        arrays = layers[name].get_weights()
        if len(arrays) != 2:
            raise EncoderWeightsError(f"{source}: layer {name} has {len(arrays)} weight arrays, "
                                      "expected kernel and bias")
        weights[name] = arrays
    return weights


def load_into(model, source, layer_names):
    """Copies VGG-16 conv weights from `source` into `model`'s layers of the same names.

    Args:
      model: a Keras model with layers named like `keras.applications.VGG16`'s.
      source: `"imagenet"` or a path to a local weights file (see module docstring).
      layer_names: the conv layer names to copy (`block1_conv1` … `block5_conv3`).

    Raises:
      EncoderWeightsError: download failed, file missing/unreadable, or a layer is missing or has
        another shape.
    """
    vgg = _vgg16_from_imagenet() if source == "imagenet" else load_vgg16_file(source)
    for name, source_weights in conv_weights(vgg, layer_names, source).items():
        target = model.get_layer(name)
        expected = [tuple(w.shape) for w in target.get_weights()]
        found = [tuple(w.shape) for w in source_weights]
        if expected != found:
            raise EncoderWeightsError(
                f"{source}: layer {name} has weight shapes {found}, the encoder needs {expected}")
        target.set_weights(source_weights)
