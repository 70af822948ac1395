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
                    Each image's values must be finite, in 0-255 and not all in (0, 1] (the
                    rules of salgan_tf.image_input, checked in the graph): InvalidArgument
                    naming the first bad image otherwise.

Bad input fails the request with InvalidArgument (never crashes the server), its message naming
the item or the limit: an empty batch; empty or undecodable bytes; formats other than JPEG/PNG
(the message names BMP/GIF/WebP/TIFF and shows the first bytes in hex); an image larger than
`max_pixels`; a request over the budget of `salgan_tf.request_budget` (its images counting more
than `max_request_pixels`, each at least the network input; or its padded `saliency` output
N x H_max x W_max more than that). All sizes are read from the headers BEFORE anything is
decoded, so neither a 10k x 10k image nor a 1x10000 + 10000x1 pair (800 MB of padding) allocates
its pixels. Both signatures decode, resize and run the generator `SERVING_CHUNK_SIZE` images at a
time, so a request's peak memory does not grow with its image count (400 1x1 PNGs: +159 MB at
192x256, docs/serve.md "Memory"). Grayscale and RGBA images are accepted: decoded with 3 channels
(gray replicated, alpha dropped). The EXIF orientation is read in the graph by Pillow's rule
(`ImageOps.exif_transpose`, as `salgan_tf.data.images` decodes on the host; see
`salgan_tf.export.image_header`) and the image turned upright before anything else, so
`height`/`width` and the map are those of the image as it is shown.

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

if __name__ == "__main__":  # `python -m`: TensorFlow's log hidden before the imports load it
    from salgan_tf import cli as _cli
    _cli.quiet_start_from_argv()

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
from salgan_tf.export import image_header
from salgan_tf.export.image_header import check as _check
from salgan_tf.image_input import MAX_VALUE

SERVING_SIGNATURE = "serving_default"
# Images per generator call in both signatures: a request's peak memory is that of one chunk
# through the network plus its outputs, whatever its image count (docs/serve.md, "Memory").
SERVING_CHUNK_SIZE = 4
TENSOR_SIGNATURE = "predict_tensor"


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
        orientation), after every item check (`image_header.checked_header`)."""
        data, index = args
        return image_header.checked_header(data, index, self._max_pixels)

    def _check_request(self, sizes):
        """Assert for the request budget (`salgan_tf.request_budget`) from the `[N, 2]` header
        sizes."""
        within, message = request_budget.check(sizes, self._image_size, self._max_request_pixels)
        return tf.debugging.Assert(within, [message])

    def _decode_one(self, args):
        """(checked JPEG/PNG bytes, EXIF orientation) -> (float32 [h, w, 3] at the network size,
        int32 upright (H, W))."""
        data, orientation = args
        image = image_header.decode_upright(data, orientation)
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
            checks += _check_values(images)
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


def _check_values(images):
    """Asserts for `predict_tensor`'s pixel values, the rules of `salgan_tf.image_input` (the
    host's one input check): each image's values finite and in 0-255, and not all in (0, 1] (an
    image scaled to [0, 1] would get the map of a black image). A min and a max per image (NaN
    propagates through both), no temporary of the batch's size; the message names the first bad
    image."""
    low = tf.reduce_min(images, axis=[1, 2, 3])
    high = tf.reduce_max(images, axis=[1, 2, 3])
    valid = (tf.math.is_finite(low) & tf.math.is_finite(high) & (low >= 0.0)
             & (high <= MAX_VALUE))
    first = tf.argmin(tf.cast(valid, tf.int32))
    scaled = (high > 0.0) & (high <= 1.0)
    first_scaled = tf.argmax(tf.cast(scaled, tf.int32))
    low, high = (tf.strings.as_string(values, shortest=True) for values in (low, high))  # 1e+30
    return [
        _check(tf.reduce_all(valid),
               "images[{}]: pixel values must be finite and in 0-" f"{MAX_VALUE} (RGB, as "
               "8-bit images), got min {} and max {}", first, low[first], high[first]),
        _check(tf.logical_not(tf.reduce_any(scaled)),
               "images[{}]: float values all in [0, 1] (max {}) look like an image scaled to "
               "[0, 1]; predict_tensor takes RGB 0-" f"{MAX_VALUE}: multiply by {MAX_VALUE}",
               first_scaled, high[first_scaled])]


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

    flags.DEFINE_string("checkpoint", None, "training run dir, its checkpoints/ dir, a ckpt-N "
                        "prefix or a shipped model's name (salgan-osie)", required=True)
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
