"""The authors' map post-processing, as an option (`predict --postprocess=paper`, and
`salgan-export saved_model --postprocess=paper`, which LiteRT and ONNX exports inherit).

Their `scripts/utils.py` `predict()` (imatge-upc/saliency-salgan-2017) takes the 192×256 network
map back to the image size with `cv2.resize(..., INTER_CUBIC)`, then applies
`cv2.GaussianBlur(map, (5, 5), 0)`. Here the same steps run in TensorFlow on float maps:
- blur: what OpenCV really applies for ksize 5 and sigma 0. Its getGaussianKernel uses a fixed
  binomial table [1, 4, 6, 4, 1] / 16 for odd ksize <= 7 when sigma <= 0 (the rule
  sigma = 0.3 * ((ksize - 1) * 0.5 - 1) + 0.8 = 1.1 serves larger kernels only); checked with
  OpenCV 4.8: the impulse response of GaussianBlur((5, 5), 0) is exactly the binomial outer
  product (a sigma-1.1 Gaussian would give 0.0708, 0.2445, 0.3695 per axis, not 1/16, 4/16,
  6/16). Border: OpenCV's default BORDER_REFLECT_101 = `tf.pad(mode="REFLECT")`;
- resize: `tf.image.resize(method="bicubic")` (Keys cubic, a = -0.5; OpenCV's INTER_CUBIC uses
  a = -0.75, so the two differ slightly near edges) instead of this project's default
  antialiased bilinear (salgan_tf.preprocessing.resize_map_to_original);
- their cast of the map to uint8 before resizing (truncating, 1/255 steps) is not reproduced:
  maps stay float32 in [0, 1] until the caller writes them.
bench/salgan_theano/compare.py measures the difference to OpenCV (docs/import_salgan.md).
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from salgan_tf import preprocessing

CHOICES = ("none", "paper")
# cv2.GaussianBlur(ksize=(5, 5), sigma=0), per axis (see the module docstring).
PAPER_BLUR_TAPS = (1 / 16, 4 / 16, 6 / 16, 4 / 16, 1 / 16)


def paper_blur(maps):
    """cv2.GaussianBlur((5, 5), 0) of `[B, H, W, 1]` maps (reflect-101 border); H, W >= 3."""
    maps = tf.convert_to_tensor(maps, tf.float32)
    radius = len(PAPER_BLUR_TAPS) // 2
    taps = tf.constant(PAPER_BLUR_TAPS, tf.float32)
    padded = tf.pad(maps, [[0, 0], [radius, radius], [radius, radius], [0, 0]], mode="REFLECT")
    rows = tf.nn.conv2d(padded, tf.reshape(taps, [-1, 1, 1, 1]), strides=1, padding="VALID")
    return tf.nn.conv2d(rows, tf.reshape(taps, [1, -1, 1, 1]), strides=1, padding="VALID")


def paper_resize_maps(maps, original_size, mode="stretch"):
    """Their post-processing of network-size maps `[B, h, w, 1]` -> float32 `[B, H, W, 1]` in
    [0, 1], as TensorFlow ops (eager, or in a graph with a tensor `original_size`: the exported
    models carry it this way, salgan_tf.export).

    Args:
      maps: the network output at the model size.
      original_size: `(height, width)` of the original image(s) (below 3 px on a side: no blur).
      mode: the resize mode of the input; `"letterbox"` crops the padding first.
    """
    maps = tf.convert_to_tensor(maps, tf.float32)
    size = tf.cast(tf.convert_to_tensor(original_size), tf.int32)
    if mode == "letterbox":
        inner_h, inner_w, top, left = preprocessing.letterbox_geometry(size, tf.shape(maps)[1:3])
        maps = maps[:, top:top + inner_h, left:left + inner_w, :]
    resized = tf.image.resize(maps, size, method="bicubic")
    blurred = tf.cond(tf.reduce_min(size) > len(PAPER_BLUR_TAPS) // 2,  # reflect needs 3 px
                      lambda: paper_blur(resized), lambda: resized)
    return tf.clip_by_value(blurred, 0.0, 1.0)


def paper_to_original_size(small_map, original_size, mode="stretch"):
    """`paper_resize_maps` of one network-size map `[h, w]` -> numpy float32 `[H, W]`."""
    saliency = np.asarray(small_map, np.float32)[None, ..., None]
    return paper_resize_maps(saliency, original_size, mode).numpy()[0, ..., 0]
