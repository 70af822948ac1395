"""The one check of an image given to a model: a path, a PIL image, an array or a tensor.

Every kind becomes `[H, W, 3]` RGB with values 0-255 by the same rules, or is refused with one
line (`InputError`, a ValueError) naming the image and the problem. The Python API
(`salgan_tf.read_image`, `Model.predict/overlay/crop`) and every `inference.Predictor` use
`to_rgb`; the SavedModel's `predict_tensor` signature applies the same value rules in its graph
(salgan_tf/export/saved_model.py).

- A path is read by `salgan_tf.data.images.decode_image` (the file's rules: EXIF orientation,
  16-bit keeps the high byte, gray/palette/alpha to RGB).
- A PIL image follows the same rules (`images.pil_to_rgb`): its EXIF orientation is applied and a
  16-bit image keeps its high byte, so a path and `PIL.Image.open(path)` give one map.
- An array or tensor: `[H, W]` / `[H, W, 1]` gray (replicated), `[H, W, 3]` RGB or `[H, W, 4]`
  RGBA (alpha dropped), an integer or float dtype with FINITE values in 0-255. Refused: NaN or
  infinity (one NaN pixel made the whole map NaN), values below 0 or above 255 (a 16-bit array is
  not rescaled: the message says `image >> 8`, what a 16-bit file gets), and a float image whose
  values all lie in [0, 1] but are not all 0: it looks scaled to [0, 1] and would silently get the
  map of a black image (multiply it by 255; the rare 0-255 image that dark: pass it as uint8).
  An all-zero image is black in both scales and accepted.
The shape and pixel limit are checked first, before any copy or conversion (a 2-D array far over
the limit costs no memory), then the values (a min and a max, no temporary array).
"""
from __future__ import annotations

import os

import numpy as np

from salgan_tf.data import images
from salgan_tf.data.images import DEFAULT_MAX_PIXELS

MAX_VALUE = 255  # pixel values are 0..MAX_VALUE, as 8-bit images (the network's VGG input range)


class InputError(ValueError):
    """An input image that cannot be predicted (wrong shape or values, too large); the message
    says why."""


def to_rgb(image, *, max_pixels=DEFAULT_MAX_PIXELS, name="image"):
    """A path, PIL image, array or tensor -> `[H, W, 3]` RGB with values 0-255 (module rules).

    Paths and PIL images come back uint8; arrays keep their dtype (a view when no conversion is
    needed).

    Raises:
      InputError (or `images.BadInputError` for a file): naming `name` (a path: the path) and the
        problem.
    """
    if isinstance(image, (str, os.PathLike)):
        return images.decode_image(os.fspath(image), max_pixels=max_pixels)
    from PIL import Image  # noqa: PLC0415 (only a PIL input needs it here)

    if isinstance(image, Image.Image):
        width, height = image.size
        check_size(height, width, max_pixels=max_pixels, name=name)  # before loading the pixels
        return images.pil_to_rgb(image, name=name)
    return check_array(image, max_pixels=max_pixels, name=name)


def check_size(height, width, *, max_pixels=DEFAULT_MAX_PIXELS, name="image"):
    """InputError when an image of `height` x `width` is empty or over `max_pixels`."""
    if height == 0 or width == 0:
        raise InputError(f"{name}: image is empty ({height}x{width})")
    if height * width > max_pixels:
        raise InputError(f"{name}: image of {height}x{width} (HxW) = {height * width} pixels is "
                         f"larger than the limit of {max_pixels} pixels")


def check_array(image, *, max_pixels=DEFAULT_MAX_PIXELS, name="image"):
    """An array or tensor -> `[H, W, 3]` RGB of its dtype, values checked (module rules)."""
    array = np.asarray(image)  # no copy for an array; a tensor's own buffer
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[-1] not in (1, 3, 4)):
        raise InputError(f"{name}: expected an [H, W, 3] RGB image (or [H, W] / [H, W, 1] gray, "
                         f"[H, W, 4] RGBA), got shape {array.shape}")
    check_size(*array.shape[:2], max_pixels=max_pixels, name=name)
    if not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
        raise InputError(f"{name}: image dtype {array.dtype} is not an integer or float type")
    if array.ndim == 3 and array.shape[-1] == 4:
        array = array[..., :3]  # a view: alpha is dropped, as decoding an RGBA file drops it
    if array.dtype != np.uint8:
        _check_values(array, name)
    if array.ndim == 2 or array.shape[-1] == 1:
        array = np.repeat(array.reshape(*array.shape[:2], 1), 3, axis=-1)
    return array


def _check_values(array, name):
    """InputError unless the values are finite, in 0-255 and (floats) not all in (0, 1]."""
    low, high = array.min(), array.max()  # NaN propagates through both
    if not (np.isfinite(low) and np.isfinite(high) and 0 <= low and high <= MAX_VALUE):
        hint = ""
        if np.issubdtype(array.dtype, np.integer) and MAX_VALUE < high <= 65535 and low >= 0:
            hint = "; a 16-bit image? pass `image >> 8`, as 16-bit files are read"
        raise InputError(f"{name}: pixel values must be finite and in 0-{MAX_VALUE} (RGB, as "
                         f"8-bit images), got min {low} and max {high}{hint}")
    if np.issubdtype(array.dtype, np.floating) and 0 < high <= 1:
        raise InputError(f"{name}: float values all in [0, 1] (max {high:g}) look like an image "
                         f"scaled to [0, 1]; the model takes 0-{MAX_VALUE}: multiply by "
                         f"{MAX_VALUE} (a 0-{MAX_VALUE} image this dark: pass it as uint8)")
