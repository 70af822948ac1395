"""Reading, validating, resizing and encoding images and maps on the host: the one place for it.

Every host-side reader of image files uses `decode_image` (the converter via `load_rgb`, predict,
the demo server, TFLite calibration) and every writer of a saliency map as an 8-bit PNG uses
`encode_map_png` (predict, the demo server, the report; training's sample maps), so the same file
gives the same pixels, and the same map the same PNG, everywhere. Failures raise `BadInputError`
whose message starts with the file or request item and says what is wrong (missing, empty, not an
image, wrong format, too many pixels, truncated/corrupt, map/image size mismatch).

Decoding (documented in docs/data.md and docs/serve.md):
- The decode budget first (`salgan_tf.data.decode_budget`: JPEG scans, PNG chunks and metadata
  bytes, the SavedModel's limits too), then the header (Pillow, no pixels): format and size are
  checked before anything is decoded, so a 100-megapixel PNG bomb costs no memory.
- JPEG and PNG pixels are decoded by TensorFlow (`tf.io.decode_jpeg/png(channels=3)`), exactly as
  the training pipeline and the SavedModel's serving signature decode them (Pillow's JPEG decoder
  differs from TF's by up to ~17 levels on OSIE); other formats by Pillow.
- Gray is replicated to RGB, alpha dropped, palettes expanded, CMYK converted, 16-bit scaled to
  8 bits by keeping the high byte (`>> 8`, as libpng and `tf.io.decode_png` do).
- EXIF orientation: one rule, Pillow's `ImageOps.exif_transpose` (Pillow reads the EXIF here,
  without decoding the pixels twice), except where Pillow versions differ (repeated Orientation
  entries): there the project's own rule in salgan_tf/data/exif.py. A phone photo stored sideways
  with "rotate 90" in its EXIF is returned upright, as every image viewer and browser shows it.
  The SavedModel's serving signature follows the same rule in its graph
  (salgan_tf/export/image_header.py); tests/test_faults_exif.py checks both on a corpus of
  hostile headers.
Maps may be 8-bit (L), 16-bit (I;16/I), float (F) or RGB (converted to L); they are returned as
float64 in [0, 1] relative to their full scale (not re-normalised).
"""
import io
import os
import struct
import warnings
import zlib

import numpy as np
from PIL import Image, ImageFile, JpegImagePlugin, PngImagePlugin

from salgan_tf.data import decode_budget
from salgan_tf.data import exif

PIL_FORMATS = {"jpeg": "JPEG", "png": "PNG"}
# File name extensions of the images that predict, the dataset readers and TFLite calibration
# pick up from a folder (case-insensitive): what `decode_image` reads.
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
# Largest accepted decoded image, H*W, for predict, the demo server and the SavedModel: 25
# megapixels (e.g. 6000x4000, or SUN500's largest 2736x3648 = 10 MP). Its uint8 pixels are 75 MB
# and their float32 copy 300 MB, which one request may hold; 10k x 10k (100 MP) is refused.
DEFAULT_MAX_PIXELS = 25_000_000
# Per-request budget of a serving request (SavedModel `serving_default` and the demo server), in
# pixels, checked from the headers before anything is decoded (the rule: salgan_tf.request_budget):
# both the images in total (sum of max(H*W, the network's h*w): a 1x1 image still becomes a
# network input) and the padded `saliency` output (N x max H x max W, dense as TF Serving needs)
# must fit. As much as one largest image: a 1x10000 and a 10000x1 PNG would otherwise pad to
# 2 x 10000 x 10000 floats (800 MB); at 192x256, at most 508 images per request.
DEFAULT_MAX_REQUEST_PIXELS = DEFAULT_MAX_PIXELS
# The formats the SavedModel's serving signature decodes (and so the demo server accepts).
SERVING_FORMATS = ("JPEG", "PNG")
# The first bytes of each (the SavedModel's graph sniffs the format with them too).
FORMAT_MAGIC = {"JPEG": b"\xff\xd8\xff", "PNG": b"\x89PNG\r\n\x1a\n"}

_EXIF_ORIENTATION = exif.ORIENTATION_TAG
_TRANSPOSED_ORIENTATIONS = frozenset(range(2, 9))  # the keys of exif_transpose's table
# What Pillow's readers raise on bad bytes (Image.open itself turns some into OSError).
_PILLOW_READ_ERRORS = (OSError, SyntaxError, ValueError, TypeError, IndexError, struct.error)
_SIXTEEN_BIT_MODES = ("I;16", "I;16B", "I;16L", "I")


class BadInputError(ValueError):
    """An input file that cannot be used; the message names the file and the problem."""


def _read_bytes(source, name):
    """`(bytes, name)` of a path or of bytes; BadInputError for a missing or empty file."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        name = name or "image"
    else:
        path = os.fspath(source)
        name = name or path
        if not os.path.exists(path):
            raise BadInputError(f"{name}: missing file")
        try:
            with open(path, "rb") as handle:
                data = handle.read()
        except OSError as error:
            raise BadInputError(f"{name}: cannot read file ({error.strerror})") from error
    if not data:
        raise BadInputError(f"{name}: the file is empty (0 bytes)" if isinstance(
            source, (bytes, bytearray, memoryview)) else f"{name}: empty file (0 bytes)")
    return data, name


def _open_header(data, name, max_pixels, formats):
    """The lazily opened PIL image (header only) after the decode budget (a JPEG/PNG's
    structure, `salgan_tf.data.decode_budget`), format and pixel-count checks."""
    kind = next((kind for kind, magic in FORMAT_MAGIC.items() if data.startswith(magic)), None)
    if (reason := decode_budget.refusal(data, kind)) is not None:
        raise BadInputError(f"{name}: {reason}")
    try:
        with warnings.catch_warnings():
            # Pillow warns above ~89 MP and raises above ~179 MP; our own limit is checked below.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as error:
        raise BadInputError(f"{name}: image is larger than the limit of {max_pixels} pixels "
                            f"({error})") from error
    except (OSError, SyntaxError, ValueError, struct.error) as error:
        kind = next((kind for kind, magic in FORMAT_MAGIC.items() if data.startswith(magic)),
                    None)
        if kind:  # the right magic bytes, then a broken header (e.g. a chunk's bad CRC)
            raise BadInputError(f"{name}: cannot decode image: {kind} header is truncated or "
                                f"corrupt ({_header_error(kind, data) or error})") from error
        raise BadInputError(f"{name}: cannot decode image: not a JPEG or PNG image, nor another "
                            f"format Pillow reads ({len(data)} bytes starting "
                            f"{data[:8].hex(' ')})") from error
    if formats is not None and image.format not in formats:
        raise BadInputError(f"{name}: is a {image.format} image; only "
                            f"{' and '.join(formats)} are accepted (as by the SavedModel's "
                            "serving signature)")
    width, height = image.size
    if width * height == 0:
        raise BadInputError(f"{name}: zero-size image ({height}x{width} HxW)")
    if max_pixels is not None and width * height > max_pixels:
        raise BadInputError(f"{name}: image of {height}x{width} (HxW) = {height * width} pixels "
                            f"is larger than the limit of {max_pixels} pixels")
    return image


def _header_error(kind, data):
    """Pillow's own reason why a JPEG or PNG header does not open (`Image.open` replaces it by
    "cannot identify image file"), or None."""
    reader = JpegImagePlugin.JpegImageFile if kind == "JPEG" else PngImagePlugin.PngImageFile
    try:
        reader(io.BytesIO(data))
    except _PILLOW_READ_ERRORS as error:
        return error
    return None


def _orientation(image, data):
    """The EXIF orientation 2-8 that `PIL.ImageOps.exif_transpose` applies to an opened image
    under the project's rule for repeated Orientation entries (salgan_tf/data/exif.py), else 1
    (also where Pillow raises on corrupt EXIF); the pixels are not decoded.

    exif_transpose loads the image before `getexif()`; for a PNG that reads the chunks after the
    image data too, which `_png_info_after_image` does here without decoding it.
    """
    info = image.info
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Pillow warns about corrupt EXIF and reads what it can
        try:
            if image.format == "PNG" and image.tile:
                info = _png_info_after_image(image, data)
            block = info.get("exif")
            if block is None and "Raw profile type exif" in info:  # ImageMagick's PNG text
                block = bytes.fromhex("".join(info["Raw profile type exif"].split("\n")[3:]))
            if block is None and image.format == "TIFF":  # its own IFD: Pillow's reading
                orientation = image.getexif().get(_EXIF_ORIENTATION, 1)
            else:
                parsed = Image.Exif()
                if block is not None:
                    parsed.load(exif.first_orientation_only(block))
                orientation = parsed.get(_EXIF_ORIENTATION)
                if orientation is None:
                    orientation = exif.xmp_orientation(info) or 1
        except (*_PILLOW_READ_ERRORS, KeyError, zlib.error):
            return 1
    # exif_transpose looks the value up in a dict keyed 2-8: 6.0 and the rational 6/1 match.
    return int(orientation) if orientation in _TRANSPOSED_ORIENTATIONS else 1


def _png_info_after_image(image, data):
    """A PNG's `info` as Pillow holds it after loading: the chunks after the first IDAT read as
    `PngImageFile.load_end` reads them (no CRC check, stop at a broken chunk, IEND or an animated
    PNG's next frame)."""
    info = dict(image.info)
    stream = PngImagePlugin.PngStream(io.BytesIO(data))
    stream.im_info, stream.im_text = info, {}
    image_data = image.tile[0].offset  # the first IDAT's data, found by Image.open
    stream.fp.seek(image_data + struct.unpack(">I", data[image_data - 8:image_data - 4])[0])
    # The SavedModel's walk reads the first MAX_HEADER_STEPS chunks (IHDR is chunk 0): so here.
    for _ in range(decode_budget.png_counts(data)[0] + 1, decode_budget.MAX_HEADER_STEPS):
        stream.fp.read(4)  # the previous chunk's CRC
        try:
            name, position, length = stream.read()
        except (struct.error, SyntaxError):
            return info
        if name == b"IEND" or (name == b"fcTL" and image.is_animated):  # the next frame
            return info
        try:
            stream.call(name, position, length)
        except UnicodeDecodeError:
            return info
        except (EOFError, AttributeError):  # more image data, or a chunk Pillow does not read
            ImageFile._safe_read(stream.fp, length)
    return info


def _upright(array, orientation):
    """`[H, W, ...]` as stored -> as shown, for EXIF orientation 1-8 (TIFF/EXIF 2.3 table)."""
    if orientation == 2:
        return array[:, ::-1]
    if orientation == 3:
        return array[::-1, ::-1]
    if orientation == 4:
        return array[::-1]
    if orientation == 5:
        return array.swapaxes(0, 1)
    if orientation == 6:
        return np.rot90(array, k=-1)
    if orientation == 7:
        return array[::-1, ::-1].swapaxes(0, 1)
    if orientation == 8:
        return np.rot90(array, k=1)
    return array


def _pixels(image, data, name):
    """uint8 `[H, W, 3]` as stored (no EXIF orientation applied) of an opened image."""
    if image.format in ("JPEG", "PNG"):
        import tensorflow as tf  # noqa: PLC0415 (only the pixel decoding needs TF)

        decode = tf.io.decode_jpeg if image.format == "JPEG" else tf.io.decode_png
        try:
            return decode(data, channels=3).numpy()
        except tf.errors.InvalidArgumentError as error:
            raise BadInputError(f"{name}: cannot decode image: {image.format} data is truncated "
                                f"or corrupt ({error.message.splitlines()[0]})") from error
    return _pillow_pixels(image, name)


def _pillow_pixels(image, name):
    """uint8 `[H, W, 3]` as stored of a PIL image, decoded by Pillow: 16-bit keeps the high
    byte, float ("F") is taken as [0, 1], every other mode is converted to RGB."""
    try:
        image.load()
        if image.mode in _SIXTEEN_BIT_MODES:
            gray = (np.clip(np.asarray(image, np.int64), 0, 65535) >> 8).astype(np.uint8)
            return np.repeat(gray[..., None], 3, axis=-1)
        if image.mode == "F":
            gray = np.clip(np.round(np.asarray(image, np.float64) * 255.0), 0, 255)
            return np.repeat(gray.astype(np.uint8)[..., None], 3, axis=-1)
        return np.asarray(image.convert("RGB"))
    except (OSError, SyntaxError, ValueError) as error:
        raise BadInputError(f"{name}: cannot decode image: {image.format} data is truncated, "
                            f"corrupt or of an unsupported mode {image.mode} ({error})") from error


def pil_to_rgb(image, *, name="image"):
    """A PIL image (opened from a file or made in memory) -> uint8 `[H, W, 3]` RGB, upright, by
    the rules `decode_image` applies to a file: the mode rules of `_pillow_pixels` and the EXIF
    orientation (read from the loaded image as Pillow holds it). Its pixels are Pillow's: a JPEG
    opened by Pillow may differ by a few levels from its path, which TensorFlow decodes. Check its
    `size` against the pixel limit before calling: this loads the pixels."""
    rgb = _pillow_pixels(image, name)  # loads it: a PNG's chunks after the image data are read
    return np.ascontiguousarray(_upright(rgb, _orientation(image, None)))


def image_size(source, *, name=None, max_pixels=DEFAULT_MAX_PIXELS, formats=None):
    """`(H, W)` of an image as `decode_image` returns it (EXIF orientation applied), from its
    header alone; BadInputError as `decode_image`."""
    data, name = _read_bytes(source, name)
    image = _open_header(data, name, max_pixels, formats)
    width, height = image.size
    return (width, height) if _orientation(image, data) >= 5 else (height, width)


def decode_image(source, *, name=None, max_pixels=DEFAULT_MAX_PIXELS, formats=None):
    """An image file or its bytes -> uint8 `[H, W, 3]` RGB, upright; the one host image decoder.

    Args:
      source: a path, or the encoded bytes.
      name: what errors call the image (default: the path, or "image").
      max_pixels: largest accepted H*W, checked from the header before decoding; None: only
        Pillow's own decompression-bomb limit (~179 MP).
      formats: accepted Pillow format names (e.g. `SERVING_FORMATS`); None: any Pillow reads.

    Returns:
      uint8 `[H, W, 3]`, EXIF orientation applied (module docstring).

    Raises:
      BadInputError: naming `name` and the problem (missing, empty, not an image, wrong format,
        too many pixels, truncated or corrupt).
    """
    data, name = _read_bytes(source, name)
    return _decode(data, name, max_pixels, formats)[0]


def _decode(data, name, max_pixels, formats):
    """`(upright uint8 [H, W, 3], the opened PIL image)` of encoded bytes."""
    image = _open_header(data, name, max_pixels, formats)
    rgb = _upright(_pixels(image, data, name), _orientation(image, data))
    return np.ascontiguousarray(rgb), image


def _open(path):
    """A fully decoded PIL image of a map file; BadInputError naming the file."""
    data, name = _read_bytes(path, None)
    image = _open_header(data, name, None, None)
    try:
        image.load()  # decodes fully: truncated/corrupt data fails here, not later
    except (OSError, SyntaxError, ValueError) as error:
        raise BadInputError(f"{name}: cannot decode image ({error})") from error
    return image


def load_rgb(path, *, with_passthrough=False):
    """Reads an image file as `uint8 [H, W, 3]` RGB (`decode_image`, no pixel limit beyond
    Pillow's bomb check); raises `BadInputError` naming the file.

    With `with_passthrough=True` returns `(rgb, passthrough)` where `passthrough` is
    `(file_bytes, "jpeg"|"png")` when the file is an upright RGB JPEG/PNG that can be stored byte
    for byte (no re-encoding loss; the training pipeline's `pipeline.decode_record_image` gives
    the pixels `decode_image` does), else None (re-encode `rgb`).
    """
    data, name = _read_bytes(path, None)
    rgb, image = _decode(data, name, None, None)
    if not with_passthrough:
        return rgb
    passthrough = None
    if (image.mode == "RGB" and image.format in ("JPEG", "PNG")
            and _orientation(image, data) == 1):
        passthrough = (data, image.format.lower())
    return rgb, passthrough


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


def quantize_map(map_array, bit_depth=8, *, scale_to_max=True):
    """A non-negative map -> uint8 or uint16 `[H, W]` levels (rounded half to even).

    Args:
      map_array: `[H, W]` or `[H, W, 1]`.
      bit_depth: 8 or 16.
      scale_to_max: True for ground-truth densities (stored with max = full scale; an all-zero
        map stays zero); False for saliency maps already in [0, 1] (clipped, 1.0 = full scale).
    """
    if bit_depth not in (8, 16):
        raise ValueError(f"bit_depth must be 8 or 16, got {bit_depth!r}")
    array = np.asarray(map_array, np.float64)
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    array = np.clip(array, 0.0, None if scale_to_max else 1.0)
    top = array.max() if array.size else 0.0
    if scale_to_max and top > 0:
        array = array / top
    full = 255 if bit_depth == 8 else 65535
    return np.round(array * full).astype(np.uint8 if bit_depth == 8 else np.uint16)


def encode_map_png(map_array, bit_depth=8, *, scale_to_max=True):
    """Encodes a map as a grayscale 8- or 16-bit PNG: the one map encoder.

    Predicted saliency maps (float in [0, 1], value * 255 rounded) use `scale_to_max=False`:
    predict, the demo server's page route, the report's thumbnails (`quantize_map`) and
    training's sample maps; ground-truth densities in the records are scaled to their max.
    """
    quantized = quantize_map(map_array, bit_depth, scale_to_max=scale_to_max)
    buffer = io.BytesIO()
    Image.fromarray(quantized).save(buffer, format="PNG")
    return buffer.getvalue()


def decode_png_map(png_bytes):
    """Decodes a map PNG written by `encode_map_png` to float64 `[H, W]` in [0, 1]."""
    image = Image.open(io.BytesIO(png_bytes))
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        return np.asarray(image, dtype=np.float64) / 65535.0
    return np.asarray(image.convert("L"), dtype=np.float64) / 255.0
