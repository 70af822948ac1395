"""Exports a trained SalGAN generator as a SavedModel laid out for TF Serving.

  python -m salgan_tf.export.saved_model --checkpoint=runs/salicon --output=models/salgan/1

The SavedModel is a `tf.Module` (`SalganServingModule`) with two signatures; preprocessing
(decode, resize, VGG "caffe" mean subtraction) and the inverse resize live in the graph, so clients
send raw images (see export/README.md for the TF Serving guide):

  serving_default   images: string [N]  (JPEG or PNG bytes, any size; one batch may mix sizes)
                    -> saliency:       float32 [N, H_max, W_max, 1] in [0, 1], each map at its
                                       image's ORIGINAL size, top-left aligned, zero padded to the
                                       largest image of the request (TF Serving needs dense outputs)
                       height, width:  int32 [N], each image's original size: crop
                                       saliency[i, :height[i], :width[i], 0]
                       saliency_small: float32 [N, h, w, 1], the network-size map (192x256 by
                                       default) before resizing back
  predict_tensor    images: float32 [N, H, W, 3], RGB 0-255, one size per batch
                    -> saliency: float32 [N, H, W, 1]; saliency_small: float32 [N, h, w, 1]

Bad input fails the request with InvalidArgument (never crashes the server), its message naming
the item or the limit: an empty batch; empty or undecodable bytes; formats other than JPEG/PNG
(the message names BMP/GIF/WebP/TIFF and shows the first bytes in hex); an image larger than
`max_pixels`; a request over the budget of `salgan_tf.request_budget` (its images counting more
than `max_request_pixels`, each at least the network input; or its padded `saliency` output
N x H_max x W_max more than that). All sizes are read from the headers BEFORE anything is
decoded, so neither a 10k x 10k image nor a 1x10000 + 10000x1 pair (800 MB of padding) allocates
its pixels. Both signatures decode, resize and run the generator `SERVING_CHUNK_SIZE` images at a
time, so a request's peak memory does not grow with its image count (400 1x1 PNGs: +159 MB at
192x256, docs/serve.md "Memory"). Grayscale and RGBA images are accepted: decoded with 3 channels (gray replicated,
alpha dropped). The EXIF orientation (a JPEG's APP1 "Exif" segment, a PNG's eXIf chunk) is read
in the graph and the image turned upright before anything else, as `salgan_tf.data.images`
decodes it on the host, so `height`/`width` and the map are those of the image as it is shown.

`postprocess="paper"` (`--postprocess=paper`) returns the maps of both signatures through the
authors' cubic resize + 5x5 blur (`salgan_tf.postprocess.paper_resize_maps`) instead of the
plain inverse resize; `saliency_small` is the network map either way.

The module also carries, for loaders (`salgan_tf.inference`, `salgan_tf.export.tflite`), the plain
`tf.function` `network` (RGB 0-255 at the network size -> map) and read-only variables
`image_height`, `image_width`, `resize_mode`, `postprocess`, `max_pixels`, `max_request_pixels`.

The version directory is readable by other users (directories 0755, files 0644 under the usual
umask 022), as TF Serving's own exports: TF Serving often runs as another user.
"""
from __future__ import annotations

import os
import sys

import tensorflow as tf

from salgan_tf import atomic
from salgan_tf import cli
from salgan_tf import postprocess as postprocess_lib
from salgan_tf import preprocessing
from salgan_tf import request_budget
from salgan_tf.config import RESIZE_MODES
from salgan_tf.data.images import DEFAULT_MAX_PIXELS, DEFAULT_MAX_REQUEST_PIXELS

SERVING_SIGNATURE = "serving_default"
# Images per generator call in both signatures: a request's peak memory is that of one chunk
# through the network plus its outputs, whatever its image count (docs/serve.md, "Memory").
SERVING_CHUNK_SIZE = 4
TENSOR_SIGNATURE = "predict_tensor"

_JPEG_MAGIC = b"\xff\xd8\xff"
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# (offset, magic bytes, name) of formats clients send by mistake, named in the refusal.
_OTHER_FORMATS = ((0, b"BM", "BMP"), (0, b"GIF8", "GIF"), (8, b"WEBP", "WebP"),
                  (0, b"II*\x00", "TIFF"), (0, b"MM\x00*", "TIFF"))


class SalganServingModule(tf.Module):
    """The generator plus in-graph pre/post-processing, with TF Serving signatures.

    Args:
      generator: Keras model `[B, h, w, 3]` caffe-preprocessed -> `[B, h, w, 1]` in [0, 1] with a
        fixed input size (`salgan_tf.generator.build_generator`).
      resize_mode: "stretch" or "letterbox", as in training (config.json).
      max_pixels: largest accepted H*W of one input image.
      max_request_pixels: largest total H*W of one request's images, and largest padded output
        N x H_max x W_max (serving_default) or N x H x W (predict_tensor).
      postprocess: "none" or "paper" (`_to_original_size`).
    """

    def __init__(self, generator, *, resize_mode="stretch", max_pixels=DEFAULT_MAX_PIXELS,
                 max_request_pixels=DEFAULT_MAX_REQUEST_PIXELS, postprocess="none"):
        super().__init__(name="salgan_serving")
        if resize_mode not in RESIZE_MODES:
            raise ValueError(f"resize_mode must be one of {RESIZE_MODES}, got {resize_mode!r}")
        if postprocess not in postprocess_lib.CHOICES:
            raise ValueError(f"postprocess must be one of {postprocess_lib.CHOICES}, got "
                             f"{postprocess!r}")
        self._postprocess = postprocess
        height, width = generator.input_shape[1:3]
        if height is None or width is None:
            raise ValueError("the generator must have a fixed input size, got "
                             f"{generator.input_shape}")
        if max_pixels <= 0:
            raise ValueError(f"max_pixels must be positive, got {max_pixels}")
        if max_request_pixels <= 0:
            raise ValueError(f"max_request_pixels must be positive, got {max_request_pixels}")
        # Save the generator's raw tf.Variables, not the Keras model: tracking the Keras model
        # saves its variables under generic names that the functions do not read, so a
        # session-based loader (TF Serving, `saved_model_cli run`) fails with "Could not find
        # variable block1_conv1/kernel"; tracking both would store every weight twice.
        object.__setattr__(self, "_generator", generator)  # untracked: not a SavedModel child
        self.generator_variables = [variable.value for variable in generator.variables]
        self._image_size = (int(height), int(width))
        self._resize_mode = resize_mode
        self._max_pixels = int(max_pixels)
        self._max_request_pixels = int(max_request_pixels)
        # Saved with the model so loaders know how it was trained (read with `.numpy()`).
        self.image_height = tf.Variable(self._image_size[0], trainable=False, name="image_height")
        self.image_width = tf.Variable(self._image_size[1], trainable=False, name="image_width")
        self.resize_mode = tf.Variable(resize_mode, trainable=False, name="resize_mode")
        self.postprocess = tf.Variable(postprocess, trainable=False, name="postprocess")
        self.max_pixels = tf.Variable(self._max_pixels, dtype=tf.int64, trainable=False,
                                      name="max_pixels")
        self.max_request_pixels = tf.Variable(self._max_request_pixels, dtype=tf.int64,
                                              trainable=False, name="max_request_pixels")
        height, width = self._image_size
        self.network = tf.function(
            self._network,
            input_signature=[tf.TensorSpec([None, height, width, 3], tf.float32, name="images")])
        self.serve_encoded = tf.function(
            self._serve_encoded,
            input_signature=[tf.TensorSpec([None], tf.string, name="images")])
        self.predict_tensor = tf.function(
            self._predict_tensor,
            input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32, name="images")])

    # ------------------------------------------------------------------ graph pieces

    def _network(self, images):
        """RGB 0-255 `[N, h, w, 3]` at the network size -> `[N, h, w, 1]` map in [0, 1]."""
        return self._generator(preprocessing.vgg_preprocess(images), training=False)

    def _resize_input(self, images):
        """RGB 0-255 image(s) of any size -> the network size (letterbox pads with the mean)."""
        return preprocessing.resize_image(images, self._image_size, mode=self._resize_mode,
                                          pad_value=preprocessing.IMAGENET_RGB_MEAN)

    def _checked_size(self, args):
        """(JPEG/PNG bytes, item index) -> (int64 upright (H, W) from the header, int32 EXIF
        orientation), after every item check.

        Nothing is decoded here; bad bytes and huge images fail with an InvalidArgument naming
        the request item. Messages hold only ASCII: the first bytes are shown in hex (raw bytes
        in an Assert message made Python raise UnicodeDecodeError instead).
        """
        data, index = args
        item = tf.strings.format("images[{}]:", index)
        checks = [_check(tf.strings.length(data) > 0, "{} image bytes are empty", item)]
        with tf.control_dependencies(checks):
            is_jpeg = tf.equal(tf.strings.substr(data, 0, 3), _JPEG_MAGIC)
            is_png = tf.equal(tf.strings.substr(data, 0, 8), _PNG_MAGIC)
            checks.append(_check(
                tf.logical_or(is_jpeg, is_png),
                "{} bytes are neither JPEG nor PNG (the formats this model decodes); they look "
                "like {} data; first bytes (hex): {}", item, _format_name(data), _hex_head(data)))
        with tf.control_dependencies(checks):
            size = tf.cond(is_jpeg,
                           lambda: tf.cast(tf.io.extract_jpeg_shape(data)[:2], tf.int64),
                           lambda: _png_size(data, item))
            orientation = _exif_orientation(
                data, tf.cond(is_jpeg, lambda: _jpeg_exif_offset(data),
                              lambda: _png_exif_offset(data)))
            # Orientations 5-8 turn the image by 90 degrees: height and width swap.
            size = tf.where(orientation >= 5, tf.reverse(size, [0]), size)
            pixels = size[0] * size[1]
            checks.append(_check(
                tf.logical_and(pixels > 0, pixels <= self._max_pixels),
                "{} image of {} x {} (HxW) is empty or larger than the limit of {} pixels "
                "(max_pixels)", item, size[0], size[1], self._max_pixels))
        with tf.control_dependencies(checks):
            return tf.identity(size), tf.identity(orientation)

    def _check_request(self, sizes):
        """Assert for the request budget (`salgan_tf.request_budget`) from the `[N, 2]` header
        sizes."""
        within, message = request_budget.check(sizes, self._image_size, self._max_request_pixels)
        return tf.debugging.Assert(within, [message])

    def _decode_one(self, args):
        """(checked JPEG/PNG bytes, EXIF orientation) -> (float32 [h, w, 3] at the network size,
        int32 upright (H, W))."""
        data, orientation = args
        is_jpeg = tf.equal(tf.strings.substr(data, 0, 3), _JPEG_MAGIC)
        image = tf.cond(is_jpeg,
                        lambda: tf.io.decode_jpeg(data, channels=3),
                        lambda: tf.io.decode_png(data, channels=3))
        image = _upright(tf.ensure_shape(image, [None, None, 3]), orientation)
        original_size = tf.shape(image)[:2]
        resized = self._resize_input(tf.cast(image, tf.float32))
        return tf.ensure_shape(resized, [*self._image_size, 3]), original_size

    def _to_original_size(self, small_maps, size):
        """`[B, h, w, 1]` network maps -> `[B, H, W, 1]` in [0, 1] at `size`: the inverse resize
        or, with `postprocess="paper"`, the authors' post-processing (as `inference.Predictor`)."""
        if self._postprocess == "paper":
            return postprocess_lib.paper_resize_maps(small_maps, size, self._resize_mode)
        saliency = preprocessing.resize_map_to_original(small_maps, size, mode=self._resize_mode)
        return tf.clip_by_value(saliency, 0.0, 1.0)

    def _map_to_size(self, small_map, size, padded_size):
        """One `[h, w, 1]` network map -> its original `size`, zero padded to `padded_size`."""
        saliency = self._to_original_size(small_map[None], size)[0]
        return tf.pad(saliency, [[0, padded_size[0] - size[0]], [0, padded_size[1] - size[1]],
                                 [0, 0]])

    def _serve_encoded(self, images):
        count = tf.shape(images)[0]
        nonempty = _check(count > 0, _EMPTY_BATCH)
        with tf.control_dependencies([nonempty]):
            header_sizes, orientations = tf.map_fn(
                self._checked_size, (images, tf.range(count)),
                fn_output_signature=(tf.TensorSpec([2], tf.int64), tf.TensorSpec([], tf.int32)))
        with tf.control_dependencies([self._check_request(header_sizes)]):
            small, sizes = _in_chunks(
                self._predict_encoded_chunk, (tf.identity(images), orientations),
                (tf.TensorSpec([None, *self._image_size, 1], tf.float32),
                 tf.TensorSpec([None, 2], tf.int32)))
        padded_size = tf.reduce_max(sizes, axis=0)
        saliency = tf.map_fn(
            lambda args: self._map_to_size(args[0], args[1], padded_size), (small, sizes),
            fn_output_signature=tf.TensorSpec([None, None, 1], tf.float32))
        return {"saliency": saliency, "height": sizes[:, 0], "width": sizes[:, 1],
                "saliency_small": small}

    def _predict_encoded_chunk(self, images, orientations):
        """At most `SERVING_CHUNK_SIZE` checked JPEG/PNG bytes -> (`[n, h, w, 1]` network maps,
        int32 `[n, 2]` upright sizes): decoded, resized and run through the generator once."""
        resized, sizes = tf.map_fn(
            self._decode_one, (images, orientations),
            fn_output_signature=(tf.TensorSpec([*self._image_size, 3], tf.float32),
                                 tf.TensorSpec([2], tf.int32)))
        return self._network(resized), sizes

    def _predict_tensor_chunk(self, images):
        """At most `SERVING_CHUNK_SIZE` RGB images `[n, H, W, 3]` -> (maps `[n, H, W, 1]` at
        their size, network maps `[n, h, w, 1]`)."""
        small = self._network(self._resize_input(images))
        return self._to_original_size(small, tf.shape(images)[1:3]), small

    def _predict_tensor(self, images):
        shape = tf.shape(images)
        pixels = tf.cast(shape[1], tf.int64) * tf.cast(shape[2], tf.int64)
        checks = [_check(shape[0] > 0, _EMPTY_BATCH)]
        checks.append(_check(
            tf.logical_and(pixels > 0, pixels <= self._max_pixels),
            "images of {} x {} (HxW) are empty or larger than the limit of {} pixels "
            "(max_pixels)", shape[1], shape[2], self._max_pixels))
        with tf.control_dependencies(checks):
            sizes = tf.tile(tf.cast(shape[None, 1:3], tf.int64), [shape[0], 1])
            checks.append(self._check_request(sizes))
        with tf.control_dependencies(checks):
            saliency, small = _in_chunks(
                self._predict_tensor_chunk, (tf.identity(images),),
                (tf.TensorSpec([None, None, None, 1], tf.float32),
                 tf.TensorSpec([None, *self._image_size, 1], tf.float32)))
        return {"saliency": saliency, "saliency_small": small}

    def signatures(self):
        """`{name: concrete function}` for `tf.saved_model.save`."""
        return {SERVING_SIGNATURE: self.serve_encoded.get_concrete_function(),
                TENSOR_SIGNATURE: self.predict_tensor.get_concrete_function()}


_EMPTY_BATCH = "empty batch: `images` holds no image; send at least one"


def _in_chunks(predict_chunk, per_image, output_specs):
    """`predict_chunk` over `SERVING_CHUNK_SIZE` images at a time, outputs concatenated.

    `per_image` is a tuple of tensors whose first axis is the image; `predict_chunk(*slices)`
    returns a tuple of tensors, also by image, matching `output_specs` (`tf.TensorSpec`s of one
    chunk's outputs). The chunks run one after the other
    (`parallel_iterations=1`), so the generator's activations, the biggest buffers of a
    request, never exist for more than one chunk: peak memory does not grow with N.
    """
    count = tf.shape(per_image[0])[0]
    chunks = (count + SERVING_CHUNK_SIZE - 1) // SERVING_CHUNK_SIZE

    def step(index, arrays):
        start = index * SERVING_CHUNK_SIZE
        outputs = predict_chunk(*[tensor[start:start + SERVING_CHUNK_SIZE]
                                  for tensor in per_image])
        return index + 1, [array.write(index, output) for array, output in zip(arrays, outputs)]

    arrays = [tf.TensorArray(spec.dtype, size=chunks, infer_shape=False,
                             element_shape=spec.shape) for spec in output_specs]
    _, arrays = tf.while_loop(lambda index, _: index < chunks, step, (0, arrays),
                              parallel_iterations=1)
    return tuple(array.concat() for array in arrays)


def _check(condition, template, *values):
    """`tf.debugging.Assert` with one readable message: `template` with each `{}` replaced by
    a value (a string tensor as is, a number as its decimal digits)."""
    texts = [value if isinstance(value, tf.Tensor) and value.dtype == tf.string
             else tf.strings.as_string(value) for value in values]
    pieces = template.split("{}")
    message = [pieces[0]]
    for text, piece in zip(texts, pieces[1:]):
        message += [text, piece]
    return tf.debugging.Assert(condition, [tf.strings.join(message)])
_HEX_BYTES = [f"{value:02x}" for value in range(256)]


def _hex_head(data, length=8):
    """The first `length` bytes of a string tensor as ASCII hex, e.g. "42 4d 36 00"."""
    values = tf.cast(tf.io.decode_raw(tf.strings.substr(data, 0, length), tf.uint8), tf.int32)
    return tf.strings.reduce_join(tf.gather(tf.constant(_HEX_BYTES), values), separator=" ")


def _format_name(data):
    """"BMP", "GIF", "WebP", "TIFF" or "unknown" from a string tensor's magic bytes."""
    name = tf.constant("unknown")
    for offset, magic, format_name in _OTHER_FORMATS:
        name = tf.where(tf.equal(tf.strings.substr(data, offset, len(magic)), magic),
                        format_name, name)
    return name


# ---------------------------------------------------------------- EXIF orientation, in the graph
# The same EXIF block Pillow reads from the header (salgan_tf.data.images._orientation): a JPEG's
# first APP1 "Exif" segment, a PNG's eXIf chunk before IDAT; then IFD0's Orientation tag (0x0112).
# Every read is bounds-safe (zeros past the end), so corrupt EXIF means "upright", never an error.
_MAX_SEGMENTS = 64  # JPEG segments / PNG chunks searched
_MAX_IFD_ENTRIES = 256


def _bytes_at(data, offset, count):
    """int64 `[count]`: the bytes of `data` at `offset`, all zeros unless all are inside it."""
    length = tf.cast(tf.strings.length(data), tf.int64)
    piece = tf.strings.substr(data, tf.clip_by_value(offset, 0, length),
                              tf.constant(count, tf.int64))
    padded = tf.strings.substr(tf.strings.join([piece, "\0" * count]), 0, count)
    values = tf.cast(tf.io.decode_raw(padded, tf.uint8), tf.int64)
    inside = tf.logical_and(offset >= 0, offset + count <= length)
    return tf.where(inside, values, tf.zeros_like(values))


def _uint(data, offset, count, little_endian=False):
    """The unsigned integer of `count` bytes at `offset` (big-endian unless `little_endian`)."""
    little_weights = tf.constant([256 ** i for i in range(count)], tf.int64)
    weights = tf.where(little_endian, little_weights, tf.reverse(little_weights, [0]))
    return tf.reduce_sum(_bytes_at(data, offset, count) * weights)


def _bytes_equal(data, offset, expected):
    return tf.reduce_all(tf.equal(_bytes_at(data, offset, len(expected)), list(expected)))


def _walk(next_item, start):
    """Steps `next_item(count, position, found) -> (count, next position, found)` from byte
    `start` until it finds an offset (>= 0) or has looked at `_MAX_SEGMENTS` items; the offset
    or -1."""
    _, _, found = tf.while_loop(
        lambda count, position, found: (count < _MAX_SEGMENTS) & (found < 0), next_item,
        (tf.constant(0, tf.int64), tf.constant(start, tf.int64), tf.constant(-1, tf.int64)))
    return found


def _jpeg_exif_offset(data):
    """Offset of the TIFF header in a JPEG's first APP1 "Exif" segment, or -1."""

    def next_segment(count, position, found):
        is_marker = _bytes_equal(data, position, b"\xff")
        kind = _uint(data, position + 1, 1)
        length = _uint(data, position + 2, 2)
        # Segments before the scan all carry a length; the scan (SOS) or EOI ends the search.
        stop = (tf.logical_not(is_marker) | tf.equal(kind, 0xDA) | tf.equal(kind, 0xD9)
                | (length < 2))
        is_exif = tf.equal(kind, 0xE1) & _bytes_equal(data, position + 4, b"Exif\x00\x00")
        found = tf.where(is_exif & tf.logical_not(stop), position + 10, found)
        count = tf.where(stop, tf.constant(_MAX_SEGMENTS, tf.int64), count + 1)
        return count, position + 2 + length, found

    return _walk(next_segment, start=2)  # after the SOI marker


def _png_exif_offset(data):
    """Offset of the TIFF header in a PNG's eXIf chunk before IDAT, or -1."""

    def next_chunk(count, position, found):
        length = _uint(data, position, 4)
        kind = position + 4
        stop = (_bytes_equal(data, kind, b"IDAT") | _bytes_equal(data, kind, b"IEND")
                | _bytes_equal(data, kind, b"\x00\x00\x00\x00"))
        is_exif = _bytes_equal(data, kind, b"eXIf")
        found = tf.where(is_exif & tf.logical_not(stop), position + 8, found)
        count = tf.where(stop, tf.constant(_MAX_SEGMENTS, tf.int64), count + 1)
        return count, position + 12 + length, found

    return _walk(next_chunk, start=8)  # after the PNG signature


def _exif_orientation(data, tiff):
    """int32 EXIF orientation 1-8 from the TIFF header at `tiff` (1: none, invalid, tiff < 0)."""
    little = _bytes_equal(data, tiff, b"II")
    big = _bytes_equal(data, tiff, b"MM")
    ifd = tiff + _uint(data, tiff + 4, 4, little)
    entries = tf.minimum(_uint(data, ifd, 2, little), _MAX_IFD_ENTRIES)

    def next_entry(index, orientation):
        entry = ifd + 2 + 12 * index
        is_orientation = tf.equal(_uint(data, entry, 2, little), 0x0112)
        orientation = tf.where(is_orientation, _uint(data, entry + 8, 2, little), orientation)
        return index + 1, orientation

    _, orientation = tf.while_loop(
        lambda index, orientation: (index < entries) & tf.equal(orientation, 0), next_entry,
        (tf.constant(0, tf.int64), tf.constant(0, tf.int64)))
    valid = (tiff >= 0) & (little | big) & (orientation >= 1) & (orientation <= 8)
    return tf.cast(tf.where(valid, orientation, 1), tf.int32)


def _upright(image, orientation):
    """`[H, W, C]` as stored -> as shown, for EXIF orientation 1-8 (as images._upright)."""
    def turned():  # rows become columns
        return tf.transpose(image, [1, 0, 2])

    return tf.switch_case(orientation - 1, [
        lambda: image,
        lambda: tf.reverse(image, [1]),
        lambda: tf.reverse(image, [0, 1]),
        lambda: tf.reverse(image, [0]),
        turned,
        lambda: tf.reverse(turned(), [1]),  # 6: 90 degrees clockwise
        lambda: tf.reverse(turned(), [0, 1]),
        lambda: tf.reverse(turned(), [0]),  # 8: 90 degrees counter-clockwise
    ])


def _png_size(data, item):
    """(H, W) int64 from a PNG's IHDR chunk (bytes 16-23, big-endian width then height)."""
    check = _check(tf.strings.length(data) >= 24, "{} PNG bytes too short to hold an IHDR header",
                   item)
    with tf.control_dependencies([check]):
        header = tf.cast(tf.io.decode_raw(tf.strings.substr(data, 16, 8), tf.uint8), tf.int64)
    weights = tf.constant([1 << 24, 1 << 16, 1 << 8, 1], tf.int64)
    width = tf.reduce_sum(header[:4] * weights)
    height = tf.reduce_sum(header[4:] * weights)
    return tf.stack([height, width])


def check_version_dir(output):
    """TF Serving loads `<model_base_path>/<integer version>/`; refuse anything else."""
    version = os.path.basename(os.path.normpath(output))
    if not version.isdigit():
        raise ValueError(f"{output}: the last path component must be an integer version "
                         "(TF Serving layout MODEL_DIR/1, MODEL_DIR/2, ...), got "
                         f"{version!r}")
    if os.path.exists(output) and os.listdir(output):
        raise FileExistsError(f"{output}: already exists and is not empty; export a new version "
                              "number instead of overwriting a model that may be serving")


def export_saved_model(generator, output, *, resize_mode="stretch",
                       max_pixels=DEFAULT_MAX_PIXELS,
                       max_request_pixels=DEFAULT_MAX_REQUEST_PIXELS, require_version_dir=True,
                       postprocess="none"):
    """Writes the serving SavedModel of `generator` to `output`.

    The model is written to a temporary, non-numeric sibling directory and renamed into place,
    so a TF Serving instance polling the base directory never loads a half-written version.

    Args:
      generator: fixed-size Keras generator (see `SalganServingModule`).
      output: the version directory, e.g. `models/salgan/1`.
      resize_mode: "stretch" or "letterbox" (use the training run's mode).
      max_pixels: largest accepted input image, in pixels (H*W).
      max_request_pixels: per-request budget, in pixels (`SalganServingModule`).
      require_version_dir: check that `output` ends in an integer version (TF Serving layout).
      postprocess: "none" or "paper" (`SalganServingModule`).

    Returns:
      `output`.
    """
    output = os.path.abspath(output)
    if require_version_dir:
        check_version_dir(output)
    elif os.path.exists(output) and os.listdir(output):
        raise FileExistsError(f"{output}: already exists and is not empty")
    module = SalganServingModule(generator, resize_mode=resize_mode, max_pixels=max_pixels,
                                 max_request_pixels=max_request_pixels, postprocess=postprocess)
    # Staged beside `output` and swapped in whole; the staging folder gets the modes of a plain
    # mkdir (0755 under umask 022), so a TF Serving running as another user can read it.
    with atomic.replaced_directory(output) as staging:
        tf.saved_model.save(module, staging, signatures=module.signatures())
    return output


def export_checkpoint(checkpoint, output, *, resize_mode=None, max_pixels=DEFAULT_MAX_PIXELS,
                      max_request_pixels=DEFAULT_MAX_REQUEST_PIXELS, postprocess="none"):
    """Loads a training run (dir, `checkpoints/` or `ckpt-N`) and exports it to `output`.

    The network input size and (unless given) the resize mode come from the run's config.json.
    """
    from salgan_tf import checkpoints  # keeps `import salgan_tf.export.saved_model` light for loaders

    generator, config = checkpoints.load_generator(checkpoint)
    return export_saved_model(generator, output, resize_mode=resize_mode or config.resize_mode,
                              max_pixels=max_pixels, max_request_pixels=max_request_pixels,
                              postprocess=postprocess)



def _main(argv):
    """Exports `--checkpoint` to `--output`."""
    from absl import flags

    del argv
    flag_values = flags.FLAGS
    try:
        path = export_checkpoint(flag_values.checkpoint, flag_values.output,
                                 resize_mode=flag_values.resize_mode,
                                 max_pixels=flag_values.max_pixels,
                                 max_request_pixels=flag_values.max_request_pixels,
                                 postprocess=flag_values.postprocess)
    except (FileNotFoundError, FileExistsError, ValueError) as error:  # names the path
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"wrote SavedModel {path}\n  inspect: saved_model_cli show --dir {path} --all")


def define_flags():
    """The CLI's flags (defined only by the CLI, so importing this module defines none)."""
    from absl import flags

    flags.DEFINE_string("checkpoint", None, "training run dir, its checkpoints/ dir or a ckpt-N "
                        "prefix", required=True)
    flags.DEFINE_string("output", None, "version directory to write, e.g. models/salgan/1",
                        required=True)
    flags.DEFINE_enum("resize_mode", None, list(RESIZE_MODES),
                      "override the run's resize mode (default: config.json)")
    flags.DEFINE_integer("max_pixels", DEFAULT_MAX_PIXELS,
                         "largest accepted input image (H*W); larger requests get InvalidArgument")
    flags.DEFINE_integer("max_request_pixels", DEFAULT_MAX_REQUEST_PIXELS,
                         "per-request budget (pixels): the images' total H*W and the padded "
                         "output N x H_max x W_max; larger requests get InvalidArgument")
    flags.DEFINE_enum("postprocess", "none", ["none", "paper"],
                      "'paper': the maps come back through the authors' cubic resize + 5x5 blur "
                      "(salgan_tf.postprocess), in the graph; LiteRT/ONNX exports of this model "
                      "inherit it")


def run():
    """`salgan-export saved_model` / `python -m salgan_tf.export.saved_model`."""
    define_flags()
    cli.run(_main, __name__)


if __name__ == "__main__":
    run()
