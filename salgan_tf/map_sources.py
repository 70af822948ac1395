"""Where the maps being scored come from: a model, a folder of PNGs, the centre bias.

A source is fn(example) -> saliency map of any size; `resize_map` brings it to the example's
(original) size, bilinearly (MIT's MATLAB code uses bicubic imresize).
"""
from __future__ import annotations

import pathlib
from typing import Callable

import numpy as np
from PIL import Image

from salgan_tf import baselines
from salgan_tf.data.eval_examples import EvalExample

MapSource = Callable[[EvalExample], np.ndarray]
# The centre-bias row's name in tables, CSVs and the report.
BASELINE_SOURCE = "center_bias"


def resize_map(saliency_map, shape, out=None):
    """float64 [H, W] map resized (bilinear, PIL float mode) to `shape` = (H, W) if needed.

    `out`: optional float64 array of `shape` to write into (saves a large allocation per map).
    """
    smap = np.asarray(saliency_map)
    if smap.ndim == 3 and smap.shape[-1] == 1:
        smap = smap[..., 0]
    if smap.ndim != 2:
        raise ValueError(f"saliency map must be [H, W] or [H, W, 1], got {smap.shape}")
    if smap.shape != tuple(shape):
        resized = Image.fromarray(smap.astype(np.float32), mode="F").resize(
            (shape[1], shape[0]), Image.BILINEAR)
        smap = np.asarray(resized)
    if out is None:
        return smap.astype(np.float64)
    np.copyto(out, smap)
    return out


def load_map_png(path):
    """A saved map PNG (8/16-bit grey, or RGB averaged) -> float [H, W] in [0, 1]."""
    path = pathlib.Path(path)
    try:
        with Image.open(path) as image:
            image.load()
            array = np.asarray(image)
            mode = image.mode
    except (OSError, ValueError) as error:
        raise ValueError(f"{path}: cannot read saliency map PNG ({error})") from error
    if array.ndim == 3:
        array = array[..., :3].mean(axis=-1)
    maximum = 65535.0 if mode.startswith("I") or array.dtype == np.uint16 else 255.0
    if array.dtype.kind == "f":
        maximum = 1.0
    return array.astype(np.float64) / maximum


def maps_dir_source(maps_dir) -> MapSource:
    """Source reading `<maps_dir>/<stem>.png` (or `<name>.png`) for each example's name."""
    maps_dir = pathlib.Path(maps_dir)
    if not maps_dir.is_dir():
        raise FileNotFoundError(f"--maps folder {maps_dir} does not exist")

    def source(example):
        stem = pathlib.PurePath(example.name).stem
        for candidate in (maps_dir / f"{stem}.png", maps_dir / f"{example.name}.png"):
            if candidate.is_file():
                return load_map_png(candidate)
        raise FileNotFoundError(f"no map {maps_dir / (stem + '.png')} for image {example.name}")

    return source


def predictor_source(predictor) -> MapSource:
    """Source calling `predictor.predict(rgb_uint8 [H, W, 3]) -> [H, W] map`
    (salgan_tf.inference)."""

    def source(example):
        if example.image is None:
            raise ValueError(f"{example.name}: the record has no image to run the model on")
        return predictor.predict(example.image)

    return source


def center_bias_source(config) -> MapSource:
    """The centre-bias baseline map (`salgan_tf.baselines`) at each example's size; `config` is
    the `evaluate_lib.EvalConfig` (its `center_bias_sigma_fraction`)."""

    def source(example):
        return baselines.center_bias_map(*example.shape,
                                         sigma_fraction=config.center_bias_sigma_fraction)

    return source
