"""The train steps change exactly the variables they should, and apply the paper's L2 term."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from salgan_tf import discriminator as discriminator_lib
from salgan_tf import generator as generator_lib
from salgan_tf import steps as steps_lib

SIZE = (32, 48)


def _adagrad():
    return keras.optimizers.Adagrad(3e-4, initial_accumulator_value=0.0, epsilon=1e-6)


@pytest.fixture(scope="module")
def nets():
    keras.utils.set_random_seed(1)
    return generator_lib.build_generator(SIZE), discriminator_lib.build_discriminator(SIZE)


def _snapshot(model):
    return {v.path: v.numpy().copy() for v in model.weights}


def _changed(before, model):
    return {v.path for v in model.weights if not np.array_equal(before[v.path], v.numpy())}


def _trainable_paths(model):
    return {v.path for v in model.trainable_weights}


def test_bce_step_updates_trainable_generator_only(nets, train_batch):
    generator, discriminator = nets
    steps = steps_lib.SalGANSteps(generator, discriminator, _adagrad(), _adagrad())
    g0, d0 = _snapshot(generator), _snapshot(discriminator)
    out = steps.bce_step(train_batch(SIZE))
    assert set(out) == {"g_loss", "content_loss", "g_l2", "g_grad_norm"}
    assert _changed(g0, generator) == _trainable_paths(generator)  # conv4/5 + decoder, all of them
    assert not any(p.startswith(("block1", "block2", "block3")) for p in _changed(g0, generator))
    assert _changed(d0, discriminator) == set()


def test_discriminator_half_leaves_generator_untouched(nets, train_batch):
    generator, discriminator = nets
    steps = steps_lib.SalGANSteps(generator, discriminator, _adagrad(), _adagrad())
    g0, d0 = _snapshot(generator), _snapshot(discriminator)
    out = steps.discriminator_step(train_batch(SIZE, seed=1))
    assert {"d_loss", "d_accuracy", "d_l2"} <= set(out)
    assert _changed(g0, generator) == set()
    assert _changed(d0, discriminator) == _trainable_paths(discriminator)


def test_generator_half_leaves_discriminator_untouched(nets, train_batch):
    generator, discriminator = nets
    steps = steps_lib.SalGANSteps(generator, discriminator, _adagrad(), _adagrad())
    g0, d0 = _snapshot(generator), _snapshot(discriminator)
    out = steps.generator_step(train_batch(SIZE, seed=2))
    assert {"g_loss", "content_loss", "g_adversarial_loss", "g_l2"} <= set(out)
    assert _changed(d0, discriminator) == set()
    assert _changed(g0, generator) == _trainable_paths(generator)


def test_adversarial_step_is_d_then_g(nets, train_batch):
    generator, discriminator = nets
    g_opt, d_opt = _adagrad(), _adagrad()
    steps = steps_lib.SalGANSteps(generator, discriminator, g_opt, d_opt, alpha=0.05)
    g0, d0 = _snapshot(generator), _snapshot(discriminator)
    out = steps.adversarial_step(train_batch(SIZE, seed=3))
    assert _changed(g0, generator) == _trainable_paths(generator)
    assert _changed(d0, discriminator) == _trainable_paths(discriminator)
    assert int(g_opt.iterations) == 1 and int(d_opt.iterations) == 1
    # g_loss = alpha * BCE + adversarial + L2, as reported.
    assert out["g_loss"].numpy() == pytest.approx(
        0.05 * out["content_loss"].numpy() + out["g_adversarial_loss"].numpy()
        + out["g_l2"].numpy(), rel=1e-5)


def test_l2_weight_decay_is_in_the_gradient(train_batch):
    """The paper's L2 term (which the original SalGAN code dropped) reaches the update.

    With plain SGD, w' = w - lr * (dL_data/dw + 2 * wd * w) for kernels, so two runs from the same
    weights with and without weight decay differ by exactly -lr * 2 * wd * w on kernels and not at
    all on biases.
    """
    lr, wd = 0.1, 0.01
    results = {}
    for decay in (0.0, wd):
        keras.utils.set_random_seed(7)
        generator = generator_lib.build_generator(SIZE)
        discriminator = discriminator_lib.build_discriminator(SIZE)
        steps = steps_lib.SalGANSteps(generator, discriminator, keras.optimizers.SGD(lr),
                                      keras.optimizers.SGD(lr), weight_decay=decay)
        before = {v.path: v.numpy().copy() for v in generator.trainable_weights}
        out = steps.bce_step(train_batch(SIZE, seed=4))
        results[decay] = ({v.path: v.numpy() for v in generator.trainable_weights}, before, out)
    (plain, w0, out0), (decayed, w0_again, out_wd) = results[0.0], results[wd]
    for path, w in w0.items():
        np.testing.assert_array_equal(w, w0_again[path])  # same start
        delta = decayed[path] - plain[path]
        if path.endswith("kernel"):
            np.testing.assert_allclose(delta, -lr * 2 * wd * w, rtol=1e-3, atol=1e-8)
        else:
            np.testing.assert_array_equal(delta, 0.0)
    kernels_sq = sum(float(np.sum(w ** 2)) for p, w in w0.items() if p.endswith("kernel"))
    assert out0["g_l2"].numpy() == 0.0
    assert out_wd["g_l2"].numpy() == pytest.approx(wd * kernels_sq, rel=1e-5)
    assert out_wd["g_loss"].numpy() == pytest.approx(
        out_wd["content_loss"].numpy() + out_wd["g_l2"].numpy(), rel=1e-6)
