"""One reader example -> checked, encoded record fields (the converter's per-image work).

TensorFlow-free so the converter's spawned worker processes start fast (see `records`).
"""
import dataclasses
from typing import Optional, Tuple

import numpy as np

from salgan_tf.data import density
from salgan_tf.data import images
from salgan_tf.data import records


@dataclasses.dataclass(frozen=True)
class EncodeOptions:
    """How each example is stored (see docs/data.md)."""
    dataset: str
    resize: Optional[Tuple[int, int]] = None  # (H, W); None keeps the original size
    image_format: str = "jpeg"
    jpeg_quality: int = 95
    map_bit_depth: int = 8


@dataclasses.dataclass
class Prepared:
    """The outcome for one example: record fields, or the bad-input message naming the file."""
    name: str
    fields: Optional[dict] = None
    error: Optional[str] = None
    num_fixations: int = 0
    unique_pixels: int = 0


def check_fixations(rows, cols, size, path):
    """Raises `BadInputError` naming `path` if any fixation lies outside `size` = (H, W)."""
    rows = np.asarray(rows)
    cols = np.asarray(cols)
    outside = (rows < 0) | (rows >= size[0]) | (cols < 0) | (cols >= size[1])
    if outside.any():
        i = int(np.argmax(outside))
        raise images.BadInputError(
            f"{path}: {int(outside.sum())} of {len(rows)} fixations outside the "
            f"{size[0]}x{size[1]} image, e.g. (row {rows[i]}, col {cols[i]})")


def ground_truth_map(raw, size, dataset):
    """The example's GT map at the original size: the shipped map, else blurred fixations."""
    if raw.map_path is not None:
        saliency = images.load_map(raw.map_path)
        images.check_same_size(saliency, size, raw.map_path, raw.image_path)
        return saliency
    if len(raw.fixation_rows) == 0:
        raise images.BadInputError(f"{raw.image_path}: no fixations and no map: nothing to use "
                                   "as ground truth")
    sigma = raw.sigma or density.sigma_for(dataset, size)
    return density.density_map(raw.fixation_rows, raw.fixation_cols, size, sigma,
                               density.border_mode_for(dataset))


def prepare_example(raw, options):
    """Decodes and checks one `RawExample` and encodes it; never raises for bad input.

    Returns:
      `Prepared` with `fields` (keyword arguments of `schema.serialize_example`) or `error`.
    """
    try:
        if raw.error:
            raise images.BadInputError(raw.error)
        rgb, passthrough = images.load_rgb(raw.image_path, with_passthrough=True)
        size = rgb.shape[:2]
        if raw.image_size is not None and tuple(raw.image_size) != tuple(size):
            raise images.BadInputError(
                f"{raw.image_path}: image is {size[0]}x{size[1]} but the dataset's metadata says "
                f"{raw.image_size[0]}x{raw.image_size[1]} (HxW)")
        check_fixations(raw.fixation_rows, raw.fixation_cols, size, raw.image_path)
        saliency = ground_truth_map(raw, size, options.dataset)
        fields = records.prepare_fields(
            name=raw.name, rgb=rgb, saliency=saliency, fixation_rows=raw.fixation_rows,
            fixation_cols=raw.fixation_cols, fixation_observers=raw.fixation_observers,
            resize=options.resize, image_format=options.image_format,
            jpeg_quality=options.jpeg_quality, map_bit_depth=options.map_bit_depth,
            dataset=options.dataset, passthrough=passthrough)
    except (images.BadInputError, ValueError, MemoryError) as error:
        message = str(error)
        if raw.image_path not in message and (not raw.map_path or raw.map_path not in message):
            message = f"{raw.image_path}: {message}"
        return Prepared(raw.name, error=message)
    unique = len(density.unique_pixels(raw.fixation_rows, raw.fixation_cols, size)[0])
    return Prepared(raw.name, fields=fields, num_fixations=len(raw.fixation_rows),
                    unique_pixels=unique)


def prepare_star(args):
    """`prepare_example(*args)`, for `Pool.imap`."""
    return prepare_example(*args)
