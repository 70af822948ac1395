"""The per-request memory budget of serving, in pixels: one rule for the graph and the host.

A serving request (the SavedModel's `serving_default`, the demo server's predict route) is
checked from its images' header sizes, before anything is decoded, against `max_request_pixels`
(`salgan_tf.data.images.DEFAULT_MAX_REQUEST_PIXELS`). Two totals must fit:

- charged pixels: the sum over images of max(H*W, h*w), h x w the network input size. Each image
  costs at least the network input it is resized to (and its `saliency_small` map), however few
  pixels it holds: without the floor, a request of 1,000 1x1 PNGs counted 1,000 pixels but held
  1,000 network-size inputs (3 GB at a 32x48 network, issue 23).
- padded pixels: N x H_max x W_max, the dense `saliency` output (TF Serving needs dense
  tensors), so a 1x10000 and a 10000x1 image cannot pad to 2 x 10^8 floats.

Every per-request buffer is a small multiple of these totals: the decoded images (3 bytes per
pixel), their float32 copy while resizing (12), the network inputs (12 per charged pixel, made
one chunk at a time), the maps (4) and the padded output (4). `check` is written in TensorFlow
ops so the SavedModel evaluates it in its graph and the demo server eagerly, with the same
arithmetic and the same message.
"""
import tensorflow as tf


def check(sizes, network_size, limit):
    """Whether a request fits the budget, and the refusal message when it does not.

    Args:
      sizes: int `[N, 2]` upright (H, W) of the request's images, read from their headers.
      network_size: `(h, w)` of the network input.
      limit: `max_request_pixels`.

    Returns:
      `(within, message)`: a scalar bool tensor, and a scalar string tensor naming the first
      total over `limit` ("" when `within`).
    """
    # float64: N x H_max x W_max may overflow int64 for hostile headers; exact below 2**53.
    sizes = tf.cast(tf.convert_to_tensor(sizes), tf.float64)
    heights, widths = sizes[:, 0], sizes[:, 1]
    count = tf.cast(tf.shape(sizes)[0], tf.float64)
    network_pixels = float(network_size[0] * network_size[1])
    charged = tf.reduce_sum(tf.maximum(heights * widths, network_pixels))
    padded_height, padded_width = tf.reduce_max(heights), tf.reduce_max(widths)
    padded = count * padded_height * padded_width
    limit = float(limit)

    def text(value):
        return tf.strings.as_string(tf.cast(value, tf.int64))

    charged_message = tf.strings.join([
        "request: its images count ", text(charged), " pixels (each at least the network input "
        f"of {network_size[0]} x {network_size[1]} = {int(network_pixels)} pixels), more than "
        "the per-request limit of ", text(limit), " pixels (max_request_pixels); send fewer or "
        "smaller images per request"])
    padded_message = tf.strings.join([
        "request: the padded saliency output would be ", text(count), " x ",
        text(padded_height), " x ", text(padded_width), " = ", text(padded), " pixels, more than "
        "the per-request limit of ", text(limit), " pixels (max_request_pixels); batch images "
        "of similar size together, or send them in separate requests"])
    within = tf.logical_and(charged <= limit, padded <= limit)
    message = tf.where(charged > limit, charged_message,
                       tf.where(padded > limit, padded_message, ""))
    return within, message
