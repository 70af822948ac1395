"""SalGAN losses as pure functions of maps and discriminator outputs (Pan et al. 2017, Sec. 3).

All per-example losses return a `[B]` float32 vector; the training steps average them over the
global batch (`tf.nn.compute_average_loss`) so that the same code is right under `tf.distribute`.
Probabilities are clipped to [EPSILON, 1 - EPSILON] before any log, so no loss is ever infinite.
"""
from __future__ import annotations

import tensorflow as tf

# Same clip as keras.losses.binary_crossentropy (keras.config.epsilon()).
EPSILON = 1e-7


def downsample_maps(maps, factor=4):
    """Average-pools `[B, H, W, 1]` maps by `factor` (Sec. 3.3: BCE on maps downsampled ×4).

    Average pooling of a map in [0, 1] stays in [0, 1]; for 192×256 inputs it gives 48×64.
    """
    maps = tf.cast(maps, tf.float32)
    if factor == 1:
        return maps
    return tf.nn.avg_pool2d(maps, ksize=factor, strides=factor, padding="VALID")


def _clip(p):
    return tf.clip_by_value(tf.cast(p, tf.float32), EPSILON, 1.0 - EPSILON)


def binary_cross_entropy(target, predicted):
    """Per-example mean pixelwise BCE between maps.

    L = -1/N * sum_j [ S_j log Ŝ_j + (1 - S_j) log(1 - Ŝ_j) ]  (paper Eq. 2)

    Args:
      target: ground-truth maps `[B, h, w, 1]` in [0, 1].
      predicted: predicted maps of the same shape, in [0, 1].

    Returns:
      `[B]` float32.
    """
    target = tf.cast(target, tf.float32)
    predicted = _clip(predicted)
    pixel_loss = -(target * tf.math.log(predicted) + (1.0 - target) * tf.math.log(1.0 - predicted))
    return tf.reduce_mean(pixel_loss, axis=[1, 2, 3])


def content_loss(target_small, predicted_full, factor=4):
    """BCE on ×`factor`-downsampled maps: the bootstrap loss and SalGAN's content term.

    Args:
      target_small: ground truth already downsampled, `[B, H/factor, W/factor, 1]`.
      predicted_full: generator output `[B, H, W, 1]`; downsampled here the same way.
      factor: downsampling factor (4 in the paper).

    Returns:
      `[B]` float32.
    """
    return binary_cross_entropy(target_small, downsample_maps(predicted_full, factor))


def adversarial_generator_loss(d_fake):
    """Generator's adversarial term -log D(I, Ŝ) per example (Sec. 3.3, Eq. 4, second term).

    Args:
      d_fake: discriminator probabilities on predicted maps, `[B, 1]` or `[B]`.
    """
    d_fake = tf.reshape(_clip(d_fake), [-1])
    return -tf.math.log(d_fake)


def salgan_generator_loss(target_small, predicted_full, d_fake, alpha=0.05, factor=4):
    """L_G = alpha * L_BCE(S, Ŝ) - log D(I, Ŝ) per example (Sec. 3.3, Eq. 4).

    Returns:
      `(total, content)`, both `[B]` float32.
    """
    content = content_loss(target_small, predicted_full, factor)
    return alpha * content + adversarial_generator_loss(d_fake), content


def discriminator_loss(d_real, d_fake):
    """L_D = L(D(I, S), 1) + L(D(I, Ŝ), 0) = -log D(I, S) - log(1 - D(I, Ŝ)) (Sec. 3.3, Eq. 3).

    Args:
      d_real: discriminator probabilities on ground-truth maps, `[B, 1]` or `[B]`.
      d_fake: discriminator probabilities on predicted maps, same shape.

    Returns:
      `[B]` float32.
    """
    d_real = tf.reshape(_clip(d_real), [-1])
    d_fake = tf.reshape(_clip(d_fake), [-1])
    return -tf.math.log(d_real) - tf.math.log(1.0 - d_fake)


def discriminator_accuracy(d_real, d_fake):
    """Fraction of real maps called real (> 0.5) and fake maps called fake, over both."""
    real_right = tf.cast(tf.reshape(d_real, [-1]) > 0.5, tf.float32)
    fake_right = tf.cast(tf.reshape(d_fake, [-1]) <= 0.5, tf.float32)
    return 0.5 * (tf.reduce_mean(real_right) + tf.reduce_mean(fake_right))


def is_weight_kernel(variable):
    """True for conv/dense kernels, False for biases (Lasagne's `regularizable` weights)."""
    return variable.path.endswith("kernel") if hasattr(variable, "path") else (
        "kernel" in variable.name)


def l2_penalty(variables, weight_decay):
    """weight_decay * sum of squared kernel entries over `variables` (biases excluded).

    The paper (Sec. 4.2) trains with L2 weight regularisation 1e-4; the original SalGAN code built
    this term and then never added it to the loss. The training steps here add it to both nets'
    losses, over their trainable kernels only (frozen VGG blocks 1-3 would add a constant).
    """
    kernels = [v for v in variables if is_weight_kernel(v)]
    if not kernels or weight_decay == 0:
        return tf.constant(0.0, tf.float32)
    return weight_decay * tf.add_n([tf.reduce_sum(tf.square(tf.cast(v, tf.float32)))
                                    for v in kernels])
