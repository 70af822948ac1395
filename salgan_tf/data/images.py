"""Loading, validating, resizing and encoding images and density maps on the host (PIL + numpy).

Used by the converter and the readers, where bad input must be caught before anything is written:
every failure raises `BadInputError` whose message starts with the file name and says what is
wrong (missing, empty, truncated/corrupt, unsupported mode, map/image size mismatch).

Mode handling (documented in docs/data.md): CMYK, grayscale (L, LA, 1), palette (P), RGBA and
16-bit (I;16, I) images become 8-bit RGB (16-bit values are scaled by 255/65535; alpha is dropped).
Maps may be 8-bit (L), 16-bit (I;16/I), float (F) or RGB (converted to L); they are returned as
float64 in [0, 1] relative to their full scale (not re-normalised).
"""
import io
import os

import numpy as np
from PIL import Image

PIL_FORMATS = {"jpeg": "JPEG", "png": "PNG"}


class BadInputError(ValueError):
    """An input file that cannot be used; the message names the file and the problem."""


def _open(path):
    path = os.fspath(path)
    if not os.path.exists(path):
        raise BadInputError(f"{path}: missing file")
    if os.path.getsize(path) == 0:
        raise BadInputError(f"{path}: empty file (0 bytes)")
    try:
        image = Image.open(path)
        image.load()  # decodes fully: truncated/corrupt data fails here, not later
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        raise BadInputError(f"{path}: cannot decode image ({error})") from error
    if image.width == 0 or image.height == 0:
        raise BadInputError(f"{path}: zero-size image ({image.width}x{image.height})")
    return image


def _to_uint8_gray(image):
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        array = np.asarray(image, dtype=np.float64)
        return np.clip(np.round(array * (255.0 / 65535.0)), 0, 255).astype(np.uint8)
    if image.mode == "F":
        return np.clip(np.round(np.asarray(image, dtype=np.float64) * 255.0), 0, 255).astype(
            np.uint8)
    return np.asarray(image.convert("L"))


def load_rgb(path, *, with_passthrough=False):
    """Reads an image file as `uint8 [H, W, 3]` RGB; raises `BadInputError` naming the file.

    With `with_passthrough=True` returns `(rgb, passthrough)` where `passthrough` is
    `(file_bytes, "jpeg"|"png")` when the file is already an RGB JPEG/PNG that can be stored
    byte for byte (no re-encoding loss), else None.
    """
    image = _open(path)
    if with_passthrough:
        rgb = load_rgb(path)
        passthrough = None
        if image.mode == "RGB" and image.format in ("JPEG", "PNG"):
            with open(os.fspath(path), "rb") as handle:
                passthrough = (handle.read(), image.format.lower())
        return rgb, passthrough
    if image.mode == "RGB":
        return np.asarray(image)
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        gray = _to_uint8_gray(image)
        return np.repeat(gray[..., None], 3, axis=-1)
    try:
        return np.asarray(image.convert("RGB"))
    except (OSError, ValueError) as error:
        raise BadInputError(f"{path}: unsupported image mode {image.mode} ({error})") from error


def load_map(path):
    """Reads a grayscale density map file as `float64 [H, W]` in [0, 1] of its full scale."""
    image = _open(path)
    if image.mode in ("I;16", "I;16B", "I;16L"):
        return np.asarray(image, dtype=np.float64) / 65535.0
    if image.mode == "I":
        array = np.asarray(image, dtype=np.float64)
        scale = 65535.0 if array.max() > 255 else 255.0
        return np.clip(array / scale, 0.0, 1.0)
    if image.mode == "F":
        array = np.asarray(image, dtype=np.float64)
        top = array.max()
        return array / top if top > 1 else np.clip(array, 0.0, 1.0)
    return np.asarray(image.convert("L"), dtype=np.float64) / 255.0


def check_same_size(map_array, image_size, map_path, image_path):
    """Raises `BadInputError` when a map's `(H, W)` differs from its image's."""
    if tuple(map_array.shape[:2]) != tuple(image_size):
        raise BadInputError(
            f"{map_path}: map is {map_array.shape[0]}x{map_array.shape[1]} (HxW) but its image "
            f"{image_path} is {image_size[0]}x{image_size[1]}")


def resize_rgb(rgb, size):
    """Resizes `uint8 [H, W, 3]` to `size` = (height, width) with PIL bilinear (antialiased)."""
    if tuple(rgb.shape[:2]) == tuple(size):
        return rgb
    return np.asarray(Image.fromarray(rgb).resize((size[1], size[0]), Image.BILINEAR))


def resize_gray(array, size):
    """Resizes a float map `[H, W]` to `size` = (height, width) (PIL bilinear on float32)."""
    if tuple(array.shape[:2]) == tuple(size):
        return np.asarray(array, np.float64)
    image = Image.fromarray(np.asarray(array, np.float32))
    return np.asarray(image.resize((size[1], size[0]), Image.BILINEAR), dtype=np.float64)


def encode_rgb(rgb, image_format="jpeg", quality=95):
    """Encodes `uint8 [H, W, 3]` as JPEG or PNG bytes."""
    if image_format not in PIL_FORMATS:
        raise ValueError(f"image_format must be one of {sorted(PIL_FORMATS)}, got "
                         f"{image_format!r}")
    buffer = io.BytesIO()
    # 4:2:0 chroma subsampling (PIL's default): smaller and faster to decode in the pipeline.
    options = {"quality": quality} if image_format == "jpeg" else {}
    Image.fromarray(np.asarray(rgb, np.uint8)).save(
        buffer, format=PIL_FORMATS[image_format], **options)
    return buffer.getvalue()


def quantize_map(map_array, bit_depth=8):
    """Scales a non-negative map to max = full scale and rounds: uint8 or uint16 `[H, W]`.

    An all-zero map stays zero (an image nobody looked at is legal, if useless).
    """
    if bit_depth not in (8, 16):
        raise ValueError(f"bit_depth must be 8 or 16, got {bit_depth!r}")
    array = np.asarray(map_array, np.float64)
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    array = np.clip(array, 0.0, None)
    top = array.max() if array.size else 0.0
    if top > 0:
        array = array / top
    full = 255 if bit_depth == 8 else 65535
    return np.round(array * full).astype(np.uint8 if bit_depth == 8 else np.uint16)


def encode_map_png(map_array, bit_depth=8):
    """Encodes a map (scaled to its max) as a grayscale 8- or 16-bit PNG."""
    quantized = quantize_map(map_array, bit_depth)
    buffer = io.BytesIO()
    Image.fromarray(quantized).save(buffer, format="PNG")
    return buffer.getvalue()


def decode_png_map(png_bytes):
    """Decodes a map PNG written by `encode_map_png` to float64 `[H, W]` in [0, 1]."""
    image = Image.open(io.BytesIO(png_bytes))
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        return np.asarray(image, dtype=np.float64) / 65535.0
    return np.asarray(image.convert("L"), dtype=np.float64) / 255.0
