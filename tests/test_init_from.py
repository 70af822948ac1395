"""--init_from: a training run starts from a trained generator (and discriminator), once."""
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from salgan_tf import checkpoints
from salgan_tf import config as config_lib
from salgan_tf import discriminator as discriminator_lib
from salgan_tf import generator as generator_lib
from salgan_tf import init_from
from salgan_tf import optimizers
from salgan_tf import train_lib

SIZE = (32, 48)


def _nets(seed, size=SIZE, map_input="raw"):
    keras.utils.set_random_seed(seed)
    return (generator_lib.build_generator(size, encoder_weights="none"),
            discriminator_lib.build_discriminator(size, map_input=map_input))


def _assert_same(model_a, model_b):
    for a, b in zip(model_a.get_weights(), model_b.get_weights()):
        np.testing.assert_array_equal(a, b)


def _assert_differs(model_a, model_b):
    assert any(not np.array_equal(a, b) for a, b in zip(model_a.get_weights(),
                                                          model_b.get_weights()))


def _write_run(run_dir, generator, discriminator, step=7):
    """A run directory laid out as train_lib writes it, with optimizer state and progress."""
    config = config_lib.TrainConfig(output_dir=str(run_dir), image_height=generator.input_shape[1],
                                    image_width=generator.input_shape[2])
    config_lib.save(config, str(run_dir))
    g_optimizer, d_optimizer = optimizers.make_optimizer(config), optimizers.make_optimizer(config)
    g_optimizer.build(generator.trainable_variables)
    d_optimizer.build(discriminator.trainable_variables)
    progress = checkpoints.TrainingProgress()
    progress.epoch.assign(3)
    checkpoint = checkpoints.make_checkpoint(generator, discriminator, g_optimizer, d_optimizer,
                                             progress)
    manager = tf.train.CheckpointManager(
        checkpoint, os.path.join(run_dir, checkpoints.CHECKPOINT_SUBDIR), max_to_keep=1)
    return manager.save(checkpoint_number=step)


def test_weights_file_initialises_generator_only(tmp_path):
    source_g, _ = _nets(seed=1)
    path = str(tmp_path / "salgan_paper.weights.h5")
    source_g.save_weights(path)
    generator, discriminator = _nets(seed=2)
    initial_d = [w.copy() for w in discriminator.get_weights()]
    message = init_from.load_into(path, generator, discriminator)
    _assert_same(generator, source_g)
    for a, b in zip(initial_d, discriminator.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert message.startswith(f"generator from {path}; discriminator random")


# "standardized" (the CPU recipe's D) holds a Lambda layer, which keras.models.clone_model
# cannot rebuild: restoring must not depend on cloning.
@pytest.mark.parametrize("map_input", ["raw", "standardized"])
def test_run_dir_and_checkpoint_prefix_give_both_nets(tmp_path, map_input):
    source_g, source_d = _nets(seed=1, map_input=map_input)
    prefix = _write_run(tmp_path / "run", source_g, source_d)
    for path in (str(tmp_path / "run"), prefix):
        generator, discriminator = _nets(seed=2, map_input=map_input)
        _assert_differs(generator, source_g)
        message = init_from.load_into(path, generator, discriminator)
        _assert_same(generator, source_g)
        _assert_same(discriminator, source_d)
        assert message == f"generator and discriminator from {prefix}"


@pytest.mark.parametrize("map_input", ["raw", "standardized"])
def test_discriminator_of_another_size_stays_random_and_whole(tmp_path, map_input):
    source_g, source_d = _nets(seed=1, size=(64, 48), map_input=map_input)
    _write_run(tmp_path / "run", source_g, source_d)
    generator, discriminator = _nets(seed=2, map_input=map_input)
    fresh_d = [w.copy() for w in discriminator.get_weights()]
    message = init_from.load_into(str(tmp_path / "run"), generator, discriminator)
    _assert_same(generator, source_g)  # the generator's weights do not depend on the size
    for a, b in zip(fresh_d, discriminator.get_weights()):  # no half-restored discriminator
        np.testing.assert_array_equal(a, b)
    assert "discriminator random (the checkpoint's does not fit this image size" in message


def test_bad_sources_are_clear_errors(tmp_path):
    generator, discriminator = _nets(seed=2)
    with pytest.raises(FileNotFoundError, match="missing.weights.h5: generator weights file not found"):
        init_from.load_into(str(tmp_path / "missing.weights.h5"), generator)
    with pytest.raises(FileNotFoundError, match="no-run"):
        init_from.load_into(str(tmp_path / "no-run"), generator)
    foreign = str(tmp_path / "discriminator.weights.h5")
    discriminator.save_weights(foreign)
    with pytest.raises(init_from.InitFromError, match="not a SalGAN generator weights file"):
        init_from.load_into(foreign, generator)
    only_d = tf.train.Checkpoint(discriminator=discriminator).write(str(tmp_path / "d" / "ckpt-1"))
    with pytest.raises(init_from.InitFromError, match="checkpoint holds no generator"):
        init_from.load_into(only_d, generator)


def _tiny_config(output_dir, **overrides):
    values = dict(output_dir=str(output_dir), train_data="demo", demo_examples=4,
                  image_height=SIZE[0], image_width=SIZE[1], batch_size=4, bce_epochs=1,
                  gan_epochs=0, checkpoint_every_steps=1, num_sample_maps=1, log_every_steps=1)
    values.update(overrides)
    return config_lib.TrainConfig(**values)


def test_training_starts_from_source_and_a_rerun_resumes_instead(tmp_path):
    source_g, _ = _nets(seed=1)
    source = str(tmp_path / "source.weights.h5")
    source_g.save_weights(source)
    # No epochs: the run's final generator is exactly its initialisation.
    result = train_lib.train(_tiny_config(tmp_path / "start", bce_epochs=0, init_from=source))
    started, _ = checkpoints.load_generator(os.path.join(result["output_dir"],
                                                         checkpoints.FINAL_WEIGHTS))
    _assert_same(started, source_g)

    # One step (the whole run; its checkpoint is saved); the source then changes; the rerun must
    # resume from the run's own checkpoint, not initialise again from the (new) source.
    run_dir = tmp_path / "finetune"
    train_lib.train(_tiny_config(run_dir, init_from=source))
    after_step, _ = checkpoints.load_generator(str(run_dir))
    _assert_differs(after_step, source_g)  # it trained one step from the source
    other_g, _ = _nets(seed=3)
    other_g.save_weights(source)
    train_lib.train(_tiny_config(run_dir, init_from=source))
    final, _ = checkpoints.load_generator(str(run_dir / checkpoints.FINAL_WEIGHTS))
    _assert_same(final, after_step)  # one step per epoch: nothing left to train after resuming


def test_cli_bad_init_from_is_one_line_error(tmp_path):
    env = dict(os.environ, PYTHONPATH=os.getcwd(), TF_CPP_MIN_LOG_LEVEL="3")
    missing = tmp_path / "missing.weights.h5"
    result = subprocess.run(
        [sys.executable, "-m", "salgan_tf.train", f"--output_dir={tmp_path / 'run'}",
         "--train_data=demo", "--demo_examples=4", "--image_height=32", "--image_width=48",
         "--batch_size=4", "--bce_epochs=1", "--gan_epochs=0", f"--init_from={missing}"],
        capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: {missing}: generator weights file not found")
