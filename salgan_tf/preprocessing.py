"""Image preprocessing shared by training, evaluation and export: VGG caffe mode and resizing.

Conventions (docs/conventions.md): sizes are `(height, width)`; images are RGB `float32` in 0-255
until `vgg_preprocess`; saliency maps are `[..., H, W, 1]` `float32` in [0, 1].

Every function here is plain TensorFlow and works eagerly, inside `tf.function` and inside
`tf.data.Dataset.map` (tests run all three), with static or dynamic image sizes.

Resize modes:
  * `"stretch"` (default, as the paper, Sec. 4.1: images are resized to 256x192 W x H ignoring
    the aspect ratio);
  * `"letterbox"`: scale so the whole image fits inside `size` keeping its aspect ratio, centre
    it, pad the rest (images with `pad_value`, maps with 0 = "not salient").
`resize_map_to_original` inverts either mode, so a prediction made at the training size can be
compared with fixations in the original image grid.
"""
import tensorflow as tf

from salgan_tf.config import RESIZE_MODES

# ImageNet channel means in BGR order, as used by the caffe VGG-16 weights (Simonyan & Zisserman).
IMAGENET_BGR_MEAN = (103.939, 116.779, 123.68)
# The same means in RGB order: the value a letterbox pad must have to become 0 after preprocessing.
IMAGENET_RGB_MEAN = IMAGENET_BGR_MEAN[::-1]

# RGB -> BGR as a 1x1 convolution (permutation kernel). Exact (each output is 1 * one input), and
# ~5x less CPU than the strided reverse `x[..., ::-1]` inside keras' preprocess_input (0.23 vs
# 1.07 ms per 192x256 image on this 2-core machine; bench/data_throughput.py needs it).
_RGB_TO_BGR_KERNEL = ((0.0, 0.0, 1.0), (0.0, 1.0, 0.0), (1.0, 0.0, 0.0))


def _as_float32(values):
    """Tensor of `values` in float32 (cast only when needed: tf.cast of float32 is a no-op op)."""
    values = tf.convert_to_tensor(values)
    return values if values.dtype == tf.float32 else tf.cast(values, tf.float32)


def vgg_preprocess(rgb):
    """VGG-16 "caffe" preprocessing: RGB -> BGR, minus the ImageNet BGR mean, no scaling.

    Args:
      rgb: float RGB image(s) with values in 0-255, shape `[..., H, W, 3]`.

    Returns:
      `float32` tensor of the same shape: channel 0 = B - 103.939, 1 = G - 116.779, 2 = R - 123.68.
      Identical to `keras.applications.vgg16.preprocess_input` (tests pin the agreement), computed
      as a 1x1 convolution for speed (see `_RGB_TO_BGR_KERNEL`).
    """
    rgb = _as_float32(rgb)
    flat = tf.reshape(rgb, [1, -1, 1, 3])  # any rank -> the 4-D layout conv2d wants
    kernel = tf.constant(_RGB_TO_BGR_KERNEL, tf.float32)[None, None]
    bgr = tf.nn.conv2d(flat, kernel, strides=1, padding="VALID")
    bgr = tf.nn.bias_add(bgr, [-m for m in IMAGENET_BGR_MEAN])
    return tf.ensure_shape(tf.reshape(bgr, tf.shape(rgb)), rgb.shape)


def _check_mode(mode):
    if mode not in RESIZE_MODES:
        raise ValueError(f"resize mode must be one of {RESIZE_MODES}, got {mode!r}")


def _size_tensor(size):
    return tf.cast(tf.convert_to_tensor(size), tf.int32)


def letterbox_geometry(original_size, size):
    """Where an image of `original_size` lands inside a `size` letterbox.

    Args:
      original_size: `(height, width)` of the source image (ints or int tensor).
      size: `(height, width)` of the letterbox.

    Returns:
      `(inner_height, inner_width, top, left)` int32 scalars: the image is resized to
      `inner_height x inner_width` (aspect ratio kept, at least 1 px) and placed at `(top, left)`.
    """
    original = tf.cast(_size_tensor(original_size), tf.float64)
    target = _size_tensor(size)
    scale = tf.minimum(tf.cast(target[0], tf.float64) / original[0],
                       tf.cast(target[1], tf.float64) / original[1])
    inner = tf.cast(tf.round(original * scale), tf.int32)
    inner = tf.clip_by_value(inner, 1, target)
    top = (target[0] - inner[0]) // 2
    left = (target[1] - inner[1]) // 2
    return inner[0], inner[1], top, left


def _resize(images, size, antialias):
    return tf.image.resize(images, size, method="bilinear", antialias=antialias)


def resize_image(image, size, mode="stretch", *, pad_value=0.0, antialias=True):
    """Resizes `[..., H, W, C]` image(s) to `size` = `(height, width)`.

    Args:
      image: `[H, W, C]` or `[B, H, W, C]` tensor (any numeric dtype; returned as float32).
      size: target `(height, width)`.
      mode: `"stretch"` (ignore aspect ratio) or `"letterbox"` (keep it, pad around).
      pad_value: letterbox fill, a scalar or per-channel values (e.g. `IMAGENET_RGB_MEAN`, which
        becomes 0 after `vgg_preprocess`). Saliency maps use 0.
      antialias: bilinear with an anti-aliasing kernel when shrinking (matters for large
        originals such as the 3648 px SUN500 images).

    Returns:
      `float32` tensor `[..., size[0], size[1], C]`.
    """
    _check_mode(mode)
    image = _as_float32(image)
    target = _size_tensor(size)
    if mode == "stretch":
        return _resize(image, target, antialias)
    shape = tf.shape(image)
    rank = image.shape.rank
    original = shape[rank - 3:rank - 1]
    inner_h, inner_w, top, left = letterbox_geometry(original, target)
    inner = _resize(image, tf.stack([inner_h, inner_w]), antialias)
    pad_value = tf.cast(tf.convert_to_tensor(pad_value), tf.float32)
    # Pad with 0 then add the pad value outside the image: tf.pad takes one scalar constant only.
    paddings = tf.stack([[top, target[0] - inner_h - top], [left, target[1] - inner_w - left],
                         [0, 0]])
    if rank == 4:
        paddings = tf.concat([[[0, 0]], paddings], axis=0)
    padded = tf.pad(inner, paddings)
    inside = tf.pad(tf.ones_like(inner[..., :1]), paddings)
    result = padded + (1.0 - inside) * pad_value
    static = list(image.shape)
    static[rank - 3:rank - 1] = [None, None]
    if isinstance(size, (tuple, list)) and all(isinstance(s, int) for s in size):
        static[rank - 3:rank - 1] = list(size)
    return tf.ensure_shape(result, static)


def resize_map(saliency, size, mode="stretch", *, antialias=True):
    """Resizes a saliency map `[..., H, W, 1]` like `resize_image` (letterbox pads with 0)."""
    return resize_image(saliency, size, mode, pad_value=0.0, antialias=antialias)


def resize_map_to_original(saliency, original_size, mode="stretch", *, antialias=True):
    """Inverse of `resize_image`: brings a map made at the model size back to the original grid.

    Args:
      saliency: `[h, w, C]` or `[B, h, w, C]` map(s) at the model size (the `size` given to
        `resize_image`).
      original_size: `(height, width)` of the original image.
      mode: the mode used to resize the input; `"letterbox"` crops the padding away first.

    Returns:
      `float32` tensor `[..., original_height, original_width, C]`.
    """
    _check_mode(mode)
    saliency = _as_float32(saliency)
    original = _size_tensor(original_size)
    if mode == "letterbox":
        rank = saliency.shape.rank
        shape = tf.shape(saliency)
        model_size = shape[rank - 3:rank - 1]
        inner_h, inner_w, top, left = letterbox_geometry(original, model_size)
        if rank == 4:
            saliency = saliency[:, top:top + inner_h, left:left + inner_w, :]
        else:
            saliency = saliency[top:top + inner_h, left:left + inner_w, :]
    return _resize(saliency, original, antialias)
