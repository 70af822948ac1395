"""SalGAN losses as pure functions of maps and discriminator outputs (Pan et al. 2017, Sec. 3).

All per-example losses return a `[B]` float32 vector; the training steps average them over the
global batch (`tf.nn.compute_average_loss`) so that the same code is right under `tf.distribute`.
The discriminator emits logits and both adversarial losses take them (sigmoid cross-entropy on
logits: finite and with the full gradient at any logit). Generator maps are probabilities from a
sigmoid; they are clipped to [EPSILON, 1 - EPSILON] before the BCE's logs.
"""
from __future__ import annotations

import tensorflow as tf

from salgan_tf import config as config_lib
# The content loss pools maps as the data pipeline pools its targets (one function, data layer).
from salgan_tf.data import maps as maps_lib

# Same clip as keras.losses.binary_crossentropy (keras.config.epsilon()).
EPSILON = 1e-7


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


def mean_squared_error(target, predicted):
    """Per-example mean pixelwise squared error between maps (the MSE row of Table 3).

    Returns:
      `[B]` float32.
    """
    diff = tf.cast(target, tf.float32) - tf.cast(predicted, tf.float32)
    return tf.reduce_mean(tf.square(diff), axis=[1, 2, 3])


# The function of each --content_loss choice, in the order config.CONTENT_LOSSES names them.
CONTENT_LOSSES = dict(zip(config_lib.CONTENT_LOSSES, (binary_cross_entropy, mean_squared_error),
                          strict=True))


def content_loss(target_small, predicted_full, factor=4, kind="bce"):
    """Content loss on ×`factor`-downsampled maps: the bootstrap loss and SalGAN's content term.

    Args:
      target_small: ground truth already downsampled, `[B, H/factor, W/factor, 1]`.
      predicted_full: generator output `[B, H, W, 1]`; downsampled here the same way.
      factor: downsampling factor (4 in the paper; Table 2 compares 1, 2, 4, 8).
      kind: "bce" (paper Eq. 2) or "mse" (Table 3's MSE baseline).

    Returns:
      `[B]` float32.
    """
    return CONTENT_LOSSES[kind](target_small, maps_lib.downsample_maps(predicted_full, factor))


def adversarial_generator_loss(d_fake_logits):
    """Generator's adversarial term -log D(I, Ŝ) per example (Sec. 3.3, Eq. 4, second term).

    Computed from D's logit l as softplus(-l) = -log sigmoid(l), the non-saturating loss of
    Goodfellow et al. (TF-GAN `modified_generator_loss`): its gradient -(1 - sigmoid(l)) tends to
    -1 when D confidently rejects the map (l << 0), which is when G most needs the signal. A
    sigmoid followed by a clipped log would give exactly 0 there.

    Args:
      d_fake_logits: discriminator logits on predicted maps, `[B, 1]` or `[B]`.
    """
    logits = tf.reshape(tf.cast(d_fake_logits, tf.float32), [-1])
    return tf.nn.sigmoid_cross_entropy_with_logits(labels=tf.ones_like(logits), logits=logits)


def salgan_generator_loss(target_small, predicted_full, d_fake_logits, alpha=0.05, factor=4,
                          kind="bce", adversarial_weight=1.0):
    """L_G = alpha * L_content(S, Ŝ) - adversarial_weight * log D(I, Ŝ) per example (Eq. 4).

    The paper's Eq. 4 has adversarial_weight = 1; only the ratio adversarial_weight / alpha
    sets the balance of the two gradients (docs/discriminator.md).

    Returns:
      `(total, content)`, both `[B]` float32.
    """
    content = content_loss(target_small, predicted_full, factor, kind)
    return (alpha * content + adversarial_weight * adversarial_generator_loss(d_fake_logits),
            content)


# The adaptive balance's weight is clipped to [0, ADAPTIVE_WEIGHT_MAX] (VQGAN's range, Esser et al.
# 2021): if -log D's gradient vanishes, the weight stops at 1e4 instead of growing without bound.
ADAPTIVE_WEIGHT_MAX = 1e4
# Only guards the division: the norms of an untrained generator's last-layer gradients can be
# ~1e-6, so VQGAN's 1e-4 would swamp them.
ADAPTIVE_EPSILON = 1e-12


def adaptive_adversarial_weight(content_grad_norm, adversarial_grad_norm, ratio):
    """The weight λ of -log D that makes its gradient `ratio` times the content term's.

    λ = ratio * ‖∇ alpha·L_content‖ / (‖∇ -log D‖ + ADAPTIVE_EPSILON), clipped to
    [0, ADAPTIVE_WEIGHT_MAX]: VQGAN's adaptive weight (Esser et al. 2021, Eq. 7), with the two
    gradients taken on the generator's last layer. λ is a constant of the loss (stop_gradient):
    G's update is alpha·∇L_content + λ·∇(-log D), nothing flows through the norms.

    Args:
      content_grad_norm: global norm of the gradient of alpha * (batch-mean content loss).
      adversarial_grad_norm: global norm of the gradient of the batch-mean -log D.
      ratio: the wanted ‖λ ∇(-log D)‖ / ‖∇ alpha·L_content‖ (--balance_ratio).

    Returns:
      float32 scalar.
    """
    weight = ratio * tf.cast(content_grad_norm, tf.float32) / (
        tf.cast(adversarial_grad_norm, tf.float32) + ADAPTIVE_EPSILON)
    return tf.stop_gradient(tf.clip_by_value(weight, 0.0, ADAPTIVE_WEIGHT_MAX))


def discriminator_loss(d_real_logits, d_fake_logits):
    """L_D = -log D(I, S) - log(1 - D(I, Ŝ)) from logits (Sec. 3.3, Eq. 3).

    Sigmoid cross-entropy on logits: label 1 for the human map, 0 for the predicted one.

    Args:
      d_real_logits: discriminator logits on ground-truth maps, `[B, 1]` or `[B]`.
      d_fake_logits: discriminator logits on predicted maps, same shape.

    Returns:
      `[B]` float32.
    """
    real = tf.reshape(tf.cast(d_real_logits, tf.float32), [-1])
    fake = tf.reshape(tf.cast(d_fake_logits, tf.float32), [-1])
    return (tf.nn.sigmoid_cross_entropy_with_logits(labels=tf.ones_like(real), logits=real)
            + tf.nn.sigmoid_cross_entropy_with_logits(labels=tf.zeros_like(fake), logits=fake))


def discriminator_accuracies(d_real_logits, d_fake_logits):
    """Fractions of human maps called human (logit > 0) and of predicted maps called predicted.

    Returns:
      `(real_accuracy, fake_accuracy)` float32 scalars; their mean is D's accuracy on the pairs.
    """
    real_right = tf.cast(tf.reshape(d_real_logits, [-1]) > 0, tf.float32)
    fake_right = tf.cast(tf.reshape(d_fake_logits, [-1]) <= 0, tf.float32)
    return tf.reduce_mean(real_right), tf.reduce_mean(fake_right)


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
