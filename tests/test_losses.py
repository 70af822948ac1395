"""Losses against hand-computed numbers (Pan et al. 2017, Eqs. 2-4)."""
import math

import numpy as np
import pytest
import tensorflow as tf

from salgan_tf import losses
from salgan_tf.data import maps as maps_lib


def test_downsample_maps_is_4x4_average():
    maps = np.arange(8 * 8, dtype=np.float32).reshape(1, 8, 8, 1)
    small = maps_lib.downsample_maps(maps).numpy()
    assert small.shape == (1, 2, 2, 1)
    assert small[0, 0, 0, 0] == pytest.approx(maps[0, :4, :4, 0].mean())
    assert small[0, 1, 1, 0] == pytest.approx(maps[0, 4:, 4:, 0].mean())
    assert maps_lib.downsample_maps(np.zeros((2, 192, 256, 1))).shape == (2, 48, 64, 1)


def test_bce_hand_computed():
    target = np.array([1.0, 0.0, 0.5, 0.25], np.float32).reshape(1, 2, 2, 1)
    predicted = np.array([0.9, 0.2, 0.5, 0.5], np.float32).reshape(1, 2, 2, 1)
    # Pixels 3 and 4 predict 0.5, so each costs log 2 whatever the target.
    expected = (-math.log(0.9) - math.log(0.8) + 2 * math.log(2.0)) / 4
    assert losses.binary_cross_entropy(target, predicted).numpy() == pytest.approx([expected],
                                                                                    rel=1e-6)


def test_bce_is_finite_at_saturation():
    target = np.array([1.0, 0.0], np.float32).reshape(1, 1, 2, 1)
    predicted = np.array([0.0, 1.0], np.float32).reshape(1, 1, 2, 1)
    value = losses.binary_cross_entropy(target, predicted).numpy()[0]
    assert np.isfinite(value)
    # Clipped to [eps, 1 - eps] (1 - eps rounds to 1 - 2**-23 in float32): about -log(1e-7).
    assert value == pytest.approx(-math.log(losses.EPSILON), rel=0.02)


def test_content_loss_downsamples_prediction_only():
    target_small = np.full((1, 1, 1, 1), 0.5, np.float32)
    predicted = np.zeros((1, 4, 4, 1), np.float32)
    predicted[0, :2, :, 0] = 1.0  # pools to 0.5
    assert losses.content_loss(target_small, predicted).numpy() == pytest.approx(
        [math.log(2.0)], rel=1e-6)


def _logit(p):
    return math.log(p / (1 - p))


def test_generator_loss_hand_computed():
    target_small = np.full((2, 1, 1, 1), 0.5, np.float32)
    predicted = np.full((2, 4, 4, 1), 0.5, np.float32)
    d_fake_logits = np.array([[_logit(0.25)], [_logit(0.5)]], np.float32)
    total, content = losses.salgan_generator_loss(target_small, predicted, d_fake_logits,
                                                  alpha=0.05)
    np.testing.assert_allclose(content.numpy(), [math.log(2)] * 2, rtol=1e-6)
    np.testing.assert_allclose(total.numpy(), [0.05 * math.log(2) - math.log(0.25),
                                               0.05 * math.log(2) - math.log(0.5)], rtol=1e-6)


def test_generator_loss_weights_the_adversarial_term():
    target_small = np.full((1, 1, 1, 1), 0.5, np.float32)
    predicted = np.full((1, 4, 4, 1), 0.5, np.float32)
    d_fake_logits = np.array([[_logit(0.25)]], np.float32)
    total, _ = losses.salgan_generator_loss(target_small, predicted, d_fake_logits, alpha=1.0,
                                            adversarial_weight=0.1)
    np.testing.assert_allclose(total.numpy(), [math.log(2) - 0.1 * math.log(0.25)], rtol=1e-6)


def test_mse_content_loss_hand_computed():
    target_small = np.array([0.0, 1.0], np.float32).reshape(1, 1, 2, 1)
    predicted = np.array([0.5, 0.5], np.float32).reshape(1, 1, 2, 1)
    assert losses.content_loss(target_small, predicted, factor=1, kind="mse").numpy() == (
        pytest.approx([0.25]))


@pytest.mark.parametrize("factor", [1, 2, 4, 8])
def test_content_loss_pools_by_factor(factor):
    predicted = np.zeros((1, 16, 16, 1), np.float32)
    predicted[0, :factor, :factor, 0] = 1.0  # one pooled cell is 1, the rest 0
    target_small = np.zeros((1, 16 // factor, 16 // factor, 1), np.float32)
    target_small[0, 0, 0, 0] = 1.0
    assert losses.content_loss(target_small, predicted, factor=factor, kind="mse").numpy() == (
        pytest.approx([0.0], abs=1e-7))


def test_adversarial_gradient_is_minus_one_for_a_confident_discriminator():
    # The non-saturating loss -log D exists for this case: D rejects the map (logit -20,
    # D = 2e-9), and G must still get the full gradient d(-log sigmoid(l))/dl = -(1 - D) ~ -1.
    # A clipped log of a sigmoid gives exactly 0 here.
    logits = tf.constant([[-20.0], [0.0], [20.0]])
    with tf.GradientTape() as tape:
        tape.watch(logits)
        loss = tf.reduce_sum(losses.adversarial_generator_loss(logits))
    grad = tape.gradient(loss, logits).numpy().ravel()
    assert grad[0] == pytest.approx(-1.0, abs=1e-6)
    assert grad[1] == pytest.approx(-0.5)
    assert grad[2] == pytest.approx(0.0, abs=1e-6)
    assert losses.adversarial_generator_loss(logits).numpy()[0] == pytest.approx(20.0, rel=1e-6)


def test_discriminator_loss_hand_computed():
    d_real = np.array([[0.9], [0.6]])
    d_fake = np.array([[0.2], [0.7]])
    real_logits = np.vectorize(_logit)(d_real).astype(np.float32)
    fake_logits = np.vectorize(_logit)(d_fake).astype(np.float32)
    np.testing.assert_allclose(
        losses.discriminator_loss(real_logits, fake_logits).numpy(),
        [-math.log(0.9) - math.log(0.8), -math.log(0.6) - math.log(0.3)], rtol=1e-5)
    # Finite and exact at any logit (no clipping): D sure and wrong by 100 costs 200 nats.
    assert losses.discriminator_loss(np.array([[-100.0]]), np.array([[100.0]])).numpy() == (
        pytest.approx([200.0]))
    real_acc, fake_acc = losses.discriminator_accuracies(real_logits, fake_logits)
    assert (float(real_acc), float(fake_acc)) == (1.0, 0.5)


def test_l2_penalty_counts_kernels_only():
    kernel = tf.Variable([[1.0, -2.0]], name="kernel")
    bias = tf.Variable([3.0], name="bias")
    assert losses.l2_penalty([kernel, bias], 1e-4).numpy() == pytest.approx(5e-4)
    assert losses.l2_penalty([kernel, bias], 0.0).numpy() == 0.0
