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


def _vgg16_from_file(path):
    if not os.path.isfile(path):
        raise EncoderWeightsError(f"encoder weights file not found: {path}")
    if not path.endswith(LOCAL_SUFFIXES):
        raise EncoderWeightsError(
            f"encoder weights file {path}: unsupported type, expected one of {LOCAL_SUFFIXES}")
    try:
        if path.endswith(".keras"):
            return keras.models.load_model(path, compile=False)
        vgg = keras.applications.VGG16(include_top=False, weights=None)
        vgg.load_weights(path)
        return vgg
    except Exception as err:  # h5py / Keras raise many types for a bad or foreign file.
        raise EncoderWeightsError(
            f"encoder weights file {path} is not a readable VGG-16 (include_top=False) weights "
            f"file: {type(err).__name__}: {err}") from err


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
    vgg = _vgg16_from_imagenet() if source == "imagenet" else _vgg16_from_file(source)
    for name in layer_names:
        try:
            source_weights = vgg.get_layer(name).get_weights()
        except ValueError as err:
            raise EncoderWeightsError(f"{source}: has no layer named {name!r}") from err
        target = model.get_layer(name)
        expected = [tuple(w.shape) for w in target.get_weights()]
        found = [tuple(w.shape) for w in source_weights]
        if expected != found:
            raise EncoderWeightsError(
                f"{source}: layer {name} has weight shapes {found}, the encoder needs {expected}")
        target.set_weights(source_weights)
