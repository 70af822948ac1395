"""Losses against hand-computed numbers (Pan et al. 2017, Eqs. 2-4)."""
import math

import numpy as np
import pytest
import tensorflow as tf

from salgan_tf import losses


def test_downsample_maps_is_4x4_average():
    maps = np.arange(8 * 8, dtype=np.float32).reshape(1, 8, 8, 1)
    small = losses.downsample_maps(maps).numpy()
    assert small.shape == (1, 2, 2, 1)
    assert small[0, 0, 0, 0] == pytest.approx(maps[0, :4, :4, 0].mean())
    assert small[0, 1, 1, 0] == pytest.approx(maps[0, 4:, 4:, 0].mean())
    assert losses.downsample_maps(np.zeros((2, 192, 256, 1))).shape == (2, 48, 64, 1)


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


def test_generator_loss_hand_computed():
    target_small = np.full((2, 1, 1, 1), 0.5, np.float32)
    predicted = np.full((2, 4, 4, 1), 0.5, np.float32)
    d_fake = np.array([[0.25], [0.5]], np.float32)
    total, content = losses.salgan_generator_loss(target_small, predicted, d_fake, alpha=0.05)
    np.testing.assert_allclose(content.numpy(), [math.log(2)] * 2, rtol=1e-6)
    np.testing.assert_allclose(total.numpy(), [0.05 * math.log(2) - math.log(0.25),
                                               0.05 * math.log(2) - math.log(0.5)], rtol=1e-6)


def test_discriminator_loss_hand_computed():
    d_real = np.array([[0.9], [0.6]], np.float32)
    d_fake = np.array([[0.2], [0.7]], np.float32)
    np.testing.assert_allclose(
        losses.discriminator_loss(d_real, d_fake).numpy(),
        [-math.log(0.9) - math.log(0.8), -math.log(0.6) - math.log(0.3)], rtol=1e-6)
    assert np.isfinite(losses.discriminator_loss(np.array([[0.0]]), np.array([[1.0]])).numpy()).all()
    assert losses.discriminator_accuracy(d_real, d_fake).numpy() == pytest.approx(0.75)


def test_l2_penalty_counts_kernels_only():
    kernel = tf.Variable([[1.0, -2.0]], name="kernel")
    bias = tf.Variable([3.0], name="bias")
    assert losses.l2_penalty([kernel, bias], 1e-4).numpy() == pytest.approx(5e-4)
    assert losses.l2_penalty([kernel, bias], 0.0).numpy() == 0.0
