"""End-to-end training on tiny data: phases, resume after interruption, kill -9, real-data BCE."""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

from salgan_tf import checkpoints
from salgan_tf import config as config_lib
from salgan_tf import discriminator as discriminator_lib
from salgan_tf import generator as generator_lib
from salgan_tf import optimizers
from salgan_tf import train_lib

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _tiny_config(output_dir, **overrides):
    values = dict(output_dir=str(output_dir), train_data="demo", demo_examples=8, image_height=32,
                  image_width=32, batch_size=4, bce_epochs=1, gan_epochs=1,
                  checkpoint_every_steps=1, num_sample_maps=2, log_every_steps=1)
    values.update(overrides)
    return config_lib.TrainConfig(**values)


def _final_weights(run_dir):
    generator, _ = checkpoints.load_generator(str(run_dir))
    return generator.get_weights()


@pytest.mark.slow
def test_resume_after_interruption_matches_uninterrupted_run(tmp_path):
    tf.config.experimental.enable_op_determinism()
    straight = train_lib.train(_tiny_config(tmp_path / "straight"))
    assert straight["global_step"] == 4  # 8 examples / batch 4 = 2 steps, 2 epochs (BCE, GAN)

    def stop_at_3(step, scalars):
        if step == 3:  # second epoch (GAN phase), after its first step
            raise train_lib.TrainingInterrupted("test")

    interrupted_dir = tmp_path / "interrupted"
    with pytest.raises(train_lib.TrainingInterrupted):
        train_lib.train(_tiny_config(interrupted_dir), on_step=stop_at_3)
    prefix = tf.train.latest_checkpoint(str(interrupted_dir / "checkpoints"))
    reader = tf.train.load_checkpoint(prefix)
    counters = {name: int(reader.get_tensor(f"progress/{name}/.ATTRIBUTES/VARIABLE_VALUE"))
                for name in ("epoch", "step_in_epoch", "global_step")}
    assert counters == {"epoch": 1, "step_in_epoch": 1, "global_step": 3}
    # Keras optimizers checkpoint their variables (iterations, learning rate, AdaGrad
    # accumulators) as `_variables/<index in optimizer.variables>`.
    saved_slots = {int(k.split("/")[2]): reader.get_tensor(k)
                   for k in reader.get_variable_to_shape_map()
                   if k.startswith("g_optimizer/_variables/")}
    # Restoring into freshly built nets and optimizers gives back exactly the saved slots.
    config = _tiny_config(interrupted_dir)
    generator = generator_lib.build_generator(config.image_size)
    discriminator = discriminator_lib.build_discriminator(config.image_size)
    g_opt, d_opt = optimizers.make_optimizer(config), optimizers.make_optimizer(config)
    g_opt.build(generator.trainable_variables)
    d_opt.build(discriminator.trainable_variables)
    progress = checkpoints.TrainingProgress()
    checkpoints.make_checkpoint(generator, discriminator, g_opt, d_opt, progress).restore(
        prefix).assert_consumed()
    accumulators = [i for i, v in enumerate(g_opt.variables) if "accumulator" in v.path]
    assert len(accumulators) == len(generator.trainable_variables)
    assert set(accumulators) <= set(saved_slots)
    for i in accumulators:
        assert np.any(saved_slots[i] > 0)  # trained: non-zero squared-gradient sums
        np.testing.assert_array_equal(g_opt.variables[i].numpy(), saved_slots[i])
    assert int(progress.global_step) == 3

    resumed = train_lib.train(_tiny_config(interrupted_dir))
    assert resumed["global_step"] == 4
    # Same data order, same optimizer slots, same weights: the resumed run ends where the
    # uninterrupted one does.
    for a, b in zip(_final_weights(tmp_path / "straight"), _final_weights(interrupted_dir)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_outputs_of_a_run(tmp_path):
    result = train_lib.train(_tiny_config(tmp_path, bce_epochs=2, gan_epochs=0))
    assert len(result["epoch_content_loss"]) == 2
    assert os.path.isfile(tmp_path / "config.json")
    assert os.path.isfile(tmp_path / checkpoints.FINAL_WEIGHTS)
    assert len(os.listdir(tmp_path / "samples")) == 4  # 2 maps predicted + 2 ground truth
    assert tf.io.gfile.glob(str(tmp_path / "tensorboard" / "events.out.tfevents.*"))
    generator, config = checkpoints.load_generator(str(tmp_path))
    assert config.image_size == (32, 32) and generator.output_shape == (None, 32, 32, 1)


@pytest.mark.slow
def test_changed_image_size_on_resume_is_refused(tmp_path):
    train_lib.train(_tiny_config(tmp_path, bce_epochs=1, gan_epochs=0))
    with pytest.raises(ValueError, match="image_height"):
        train_lib.train(_tiny_config(tmp_path, image_height=48))


def test_missing_train_data_is_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no TFRecord files match"):
        train_lib.train(_tiny_config(tmp_path, train_data=str(tmp_path / "nothing-*.tfrecord")))


@pytest.mark.slow
def test_cli_reports_bad_input_in_one_line(tmp_path):
    """Missing weights file / bad flags: a one-line error naming the problem, exit status != 0."""
    base = [sys.executable, "-m", "salgan_tf.train", f"--flagfile={REPO}/configs/demo.flags",
            f"--output_dir={tmp_path / 'run'}"]
    missing = subprocess.run(base + [f"--encoder_weights={tmp_path / 'vgg.h5'}"], cwd=REPO,
                             capture_output=True, text=True, timeout=300)
    assert missing.returncode == 1 and "Traceback" not in missing.stderr
    assert f"error: encoder weights file not found: {tmp_path / 'vgg.h5'}" in missing.stderr
    odd = subprocess.run(base + ["--image_height=50"], cwd=REPO, capture_output=True, text=True,
                         timeout=300)
    assert odd.returncode != 0 and "Traceback" not in odd.stderr
    assert "image size 50x128 (HxW) must be multiples of 16" in odd.stderr


@pytest.mark.slow
def test_cli_survives_kill_and_resumes(tmp_path):
    """`python -m salgan_tf.train`, killed with SIGKILL after a checkpoint, resumes to the end."""
    out = tmp_path / "run"
    args = [sys.executable, "-m", "salgan_tf.train", f"--flagfile={REPO}/configs/demo.flags",
            f"--output_dir={out}", "--image_height=32", "--image_width=32", "--demo_examples=8",
            "--bce_epochs=2", "--gan_epochs=2", "--checkpoint_every_steps=1"]
    proc = subprocess.Popen(args, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        latest = tf.train.latest_checkpoint(str(out / "checkpoints"))
        if latest and int(latest.rsplit("-", 1)[1]) >= 2:
            break
        time.sleep(0.2)
    assert proc.poll() is None, "training ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = int(tf.train.latest_checkpoint(str(out / "checkpoints")).rsplit("-", 1)[1])
    assert killed_at < 8
    done = subprocess.run(args, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "resumed from" in done.stderr
    assert tf.train.latest_checkpoint(str(out / "checkpoints")).endswith("ckpt-8")
    assert json.loads((out / "config.json").read_text())["gan_epochs"] == 2


@pytest.mark.slow
@pytest.mark.parametrize("downsample,content_loss", [(1, "bce"), (2, "bce"), (8, "bce"),
                                                     (4, "mse")])
def test_content_loss_and_downsample_train_end_to_end(tmp_path, downsample, content_loss):
    """Table 2's BCE/1../8 and Table 3's MSE: bootstrap, GAN, validation, best epoch."""
    run = tmp_path / "run"
    val_data = str(run / train_lib.DEMO_DATA_SUBDIR / "*.tfrecord")
    result = train_lib.train(_tiny_config(run, downsample=downsample, content_loss=content_loss,
                                          val_data=val_data))
    assert result["global_step"] == 4 and len(result["epoch_content_loss"]) == 2
    epochs = train_lib.read_epoch_log(str(run))
    assert [e["phase"] for e in epochs] == ["bce", "gan"]
    gan = epochs[1]
    for key in ("d_accuracy_real", "d_accuracy_fake", "d_real", "d_fake", "d_grad_norm",
                "g_content_grad_norm", "g_adversarial_grad_norm", "val_cc", "val_nss"):
        assert np.isfinite(gan[key]), key
    with open(run / "val_metrics.csv") as f:
        assert len(f.read().strip().splitlines()) == 3  # header + 2 epochs
    assert (run / "best_generator.weights.h5").is_file()
