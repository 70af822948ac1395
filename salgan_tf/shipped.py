"""Models shipped inside the package, loadable offline by name: `salgan_tf.load("salgan-osie")`.

A packaged model folder (`salgan_tf/models/<name>/`, written by
`python -m salgan_tf.tools.package_model`) holds:
  weights.npz     the generator's weights as float16 arrays, keyed by Keras variable path
                  (`block1_conv1/kernel`, ...) in the generator's order; float32 again at load
  model.json      network input size, resize mode, post-processing, preprocessing, the weights
                  file's sha256 and size, the source run and its training command
  MODEL_CARD.md   what the model is, its data, recipe, limits and measured scores

Every loader resolves a model argument with `resolve`: an existing local path always wins (a run
dir, a .weights.h5, a copy of a packaged folder...); else a shipped name gives its folder; else
the path goes on unchanged to the caller's usual "not found" error, which `not_found_hint` ends
with the shipped names. The weights file's sha256 is checked before every load: a damaged or
missing file is one `ModelFileError` line naming it and the expected checksum.

Light to import (no TensorFlow): the CLIs' flag definitions use it.
"""
from __future__ import annotations

import json
import os

import numpy as np

from salgan_tf import config as config_lib

MODELS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "models")
DEFAULT_MODEL = "salgan-osie"  # what `salgan-serve` serves without --model
MODEL_JSON = "model.json"
WEIGHTS_FILE = "weights.npz"
CARD_FILE = "MODEL_CARD.md"
FORMAT = "salgan_tf packaged model 1"
WEIGHTS_DTYPE = "float16"
_POSTPROCESS_CHOICES = ("none", "paper")  # salgan_tf.postprocess.CHOICES (imports TensorFlow)


class ModelFileError(ValueError):
    """A packaged model whose model.json or weights file is missing, damaged or foreign."""


def names():
    """The names of the models shipped in this install (folders of `MODELS_DIR`), sorted."""
    if not os.path.isdir(MODELS_DIR):
        return []
    return sorted(name for name in os.listdir(MODELS_DIR) if is_model_folder(
        os.path.join(MODELS_DIR, name)))


def is_model_folder(path):
    """True for a folder holding a packaged model's model.json."""
    return os.path.isfile(os.path.join(os.fspath(path), MODEL_JSON))


def resolve(path):
    """`path` itself if it exists locally (a checkpoint prefix counts), else the folder of the
    shipped model of that name, else `path` unchanged (the caller reports it missing)."""
    path = os.fspath(path)
    if os.path.exists(path) or os.path.exists(path + ".index"):
        return path
    if path in names():
        return os.path.join(MODELS_DIR, path)
    return path


def not_found_hint():
    """The end of a loader's "not found" message: what a shipped name could have been."""
    shipped = names()
    if not shipped:
        return f"; nor a shipped model name (none in {MODELS_DIR})"
    return f"; nor a shipped model name ({', '.join(shipped)})"


def sha256_of(path):
    """Hex sha256 of a file (imported here: salgan_tf.data loads TensorFlow)."""
    from salgan_tf.data import shards

    return shards.sha256_of(path)


def read_spec(folder):
    """The checked model.json of a packaged model folder (`ModelFileError` naming it)."""
    path = os.path.join(os.fspath(folder), MODEL_JSON)
    try:
        with open(path) as f:
            spec = json.load(f)
    except (OSError, json.JSONDecodeError) as error:
        raise ModelFileError(f"{path}: cannot read the model description ({error})") from None
    if not isinstance(spec, dict) or spec.get("format") != FORMAT:
        raise ModelFileError(f"{path}: not a salgan_tf packaged model (format must be {FORMAT!r})")
    weights = spec.get("weights")
    checks = {
        "image_height": isinstance(spec.get("image_height"), int),
        "image_width": isinstance(spec.get("image_width"), int),
        "resize_mode": spec.get("resize_mode") in config_lib.RESIZE_MODES,
        "postprocess": spec.get("postprocess") in _POSTPROCESS_CHOICES,
        "weights": isinstance(weights, dict) and isinstance(weights.get("file"), str)
        and isinstance(weights.get("sha256"), str) and weights.get("dtype") == WEIGHTS_DTYPE,
    }
    bad = [key for key, ok in checks.items() if not ok]
    if bad:
        raise ModelFileError(f"{path}: missing or invalid {bad[0]!r}")
    return spec


def checked_weights_path(folder, spec):
    """The weights file of a packaged model, after its sha256 matched model.json's.

    Raises:
      ModelFileError: the file is missing or its sha256 differs (one line: file, expected sum).
    """
    path = os.path.join(os.fspath(folder), spec["weights"]["file"])
    expected = spec["weights"]["sha256"]
    if not os.path.isfile(path):
        raise ModelFileError(f"{path}: weights file missing (expected sha256 {expected}); "
                             "reinstall salgan_tf or repackage the model")
    actual = sha256_of(path)
    if actual != expected:
        raise ModelFileError(f"{path}: weights file damaged: sha256 {actual}, expected "
                             f"{expected}; reinstall salgan_tf or repackage the model")
    return path


def weight_arrays(generator):
    """`{variable path: float16 array}` of a generator, in its weights' order."""
    arrays = {}
    for variable in generator.weights:
        value = np.asarray(variable.numpy(), np.float32)
        half = value.astype(np.float16)
        if not np.isfinite(half).all():
            raise ValueError(f"{variable.path}: a weight beyond float16's range (|w| > 65504): "
                             f"max |w| {np.abs(value).max():.4g}")
        arrays[variable.path] = half
    if len(arrays) != len(generator.weights):
        raise ValueError("the generator's variable paths are not unique")
    return arrays


def restore(generator, folder):
    """Sets a built generator's weights (float32) from a packaged model folder; returns its spec.

    The generator may be built at any image size (the weights are convolutions only).
    """
    spec = read_spec(folder)
    path = checked_weights_path(folder, spec)
    with np.load(path) as stored:
        keys = list(stored.keys())
        wanted = [variable.path for variable in generator.weights]
        if keys != wanted:
            first = next((f"{k!r} vs {w!r}" for k, w in zip(keys, wanted) if k != w),
                         f"{len(keys)} arrays vs {len(wanted)}")
            raise ModelFileError(f"{path}: holds other weights than the SalGAN generator's "
                                 f"(first difference: {first})")
        values = [stored[key].astype(np.float32) for key in keys]
    for variable, value in zip(generator.weights, values):
        if tuple(variable.shape) != value.shape:
            raise ModelFileError(f"{path}: {variable.path} has shape {value.shape}, the "
                                 f"generator's is {tuple(variable.shape)}")
    generator.set_weights(values)
    return spec


def load_generator(folder):
    """`(generator, config)` of a packaged model folder: the generator at model.json's size with
    float32 weights, and a TrainConfig holding its image size and resize mode."""
    from salgan_tf import generator as generator_lib

    spec = read_spec(folder)
    config = config_lib.TrainConfig(
        output_dir=os.fspath(folder), image_height=spec["image_height"],
        image_width=spec["image_width"], resize_mode=spec["resize_mode"]).validate()
    generator = generator_lib.build_generator(config.image_size, encoder_weights="none")
    restore(generator, folder)
    return generator, config


def recorded_postprocess(path):
    """model.json's post-processing for a packaged model folder; "none" for any other path."""
    return read_spec(path)["postprocess"] if is_model_folder(path) else "none"
