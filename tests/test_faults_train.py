"""Training under faults (issue 13): kill -9 at seeded points, changed settings on resume,
diverged steps, runs that fail before their first step, SIGTERM; and run directories (issue 23):
a second writer, corrupt checkpoints, a failed checkpoint write, each step saved once.

Tiny runs: 8 synthetic 32x48 examples, batch 2, 2 BCE epochs of 4 steps; checkpoints only where
a test needs them (each holds both nets and their AdaGrad slots). Every run stops at global step
20 at the latest (`stop_at_step`), so a loop that would never end fails the test instead of
hanging it.
"""
import dataclasses
import json
import os
import random
import re
import resource
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

from salgan_tf import checkpoints
from salgan_tf import config as config_lib
from salgan_tf import run_dir
from salgan_tf import train_lib
from salgan_tf.data import synthetic

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KILL_STEPS = sorted(random.Random(13).sample(range(1, 4), 2))  # seeded kill points (global step)


def _config(output_dir, **overrides):
    values = dict(output_dir=str(output_dir), train_data="demo", demo_examples=8, image_height=32,
                  image_width=48, batch_size=2, bce_epochs=2, gan_epochs=0,
                  checkpoint_every_steps=100, num_sample_maps=2, log_every_steps=1,
                  stop_at_step=20)
    values.update(overrides)
    return config_lib.TrainConfig(**values)


def _saved(run_dir, name):
    reader = tf.train.load_checkpoint(tf.train.latest_checkpoint(str(run_dir / "checkpoints")))
    return reader.get_tensor(f"progress/{name}/.ATTRIBUTES/VARIABLE_VALUE")


def _all_checkpoints_finite(run_dir):
    state = tf.train.get_checkpoint_state(str(run_dir / "checkpoints"))
    for prefix in state.all_model_checkpoint_paths:
        reader = tf.train.load_checkpoint(prefix)
        for key, dtype in reader.get_variable_to_dtype_map().items():
            if dtype.is_floating and not np.all(np.isfinite(reader.get_tensor(key))):
                return False
    return True


def _spawn(script, *args):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(script), *args], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def _kill_at(process, marker, timeout=240):
    """Waits for the line `marker` on the child's stdout, then SIGKILLs it (no cleanup runs)."""
    try:
        for line in process.stdout:
            if line.strip() == marker:
                process.send_signal(signal.SIGKILL)
                break
        process.wait(timeout=timeout)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == -signal.SIGKILL, process.stderr.read()[-3000:]


_TRAIN_SCRIPT = """
    import json, sys, time
    from salgan_tf import config as config_lib, train_lib
    from salgan_tf.data import records
    config = config_lib.TrainConfig(**json.loads(sys.argv[1]))
    marker = sys.argv[2]
    real_build, built = records.build_record, []

    def build_record(**fields):  # stalls while the demo data is being written
        built.append(1)
        if marker == f"demo {len(built)}":
            print(marker, flush=True)
            time.sleep(600)
        return real_build(**fields)

    real_save = train_lib._save_checked

    def save_checked(manager, checkpoint, images, step):  # stalls once step's checkpoint is saved
        saved = real_save(manager, checkpoint, images, step)
        if marker == f"step {step}":
            print(marker, flush=True)
            time.sleep(600)
        return saved

    records.build_record = build_record
    train_lib._save_checked = save_checked
    train_lib.train(config)
"""


def _config_json(config):
    return json.dumps(json.loads(config.to_json()))


def test_kill_9_while_writing_demo_data_then_rerun_trains_on_all_of_it(tmp_path):
    """First run killed mid-way through the synthetic set: the rerun must not read a part of it."""
    config = _config(tmp_path / "run")
    _kill_at(_spawn(_TRAIN_SCRIPT, _config_json(config), "demo 5"), "demo 5")
    assert not (tmp_path / "run" / "demo_data").exists()  # nothing under the real name
    result = train_lib.train(config)
    assert result["global_step"] == 8  # 8 examples / batch 2 = 4 steps x 2 epochs
    assert sorted(os.listdir(tmp_path / "run" / "demo_data")) == [
        "manifest.json", "synthetic-00000-of-00001.tfrecord"]
    assert not [n for n in os.listdir(tmp_path / "run") if n.startswith(".")]  # staging removed


@pytest.mark.parametrize("kill_step", KILL_STEPS)
def test_kill_9_then_resume_with_a_larger_batch_ends(tmp_path, kill_step):
    """Killed after `kill_step` steps of batch 2 (4 per epoch); resumed with batch 4 (2/epoch)."""
    run = tmp_path / "run"
    config = _config(run, checkpoint_every_steps=1)
    _kill_at(_spawn(_TRAIN_SCRIPT, _config_json(config), f"step {kill_step}"), f"step {kill_step}")
    assert int(_saved(run, "global_step")) == kill_step
    result = train_lib.train(_config(run, batch_size=4))
    # kill_step x 2 examples done = step kill_step * 2 // 4 of the 2-step epoch, then epoch 2
    assert result["global_step"] == kill_step + (2 - kill_step * 2 // 4) + 2
    assert int(_saved(run, "batch_size")) == 4


def test_resume_with_a_shorter_epoch_than_the_saved_position_ends(tmp_path):
    run = tmp_path / "run"
    with pytest.raises(train_lib.TrainingInterrupted):
        train_lib.train(_config(run, stop_at_step=3))
    result = train_lib.train(_config(run, steps_per_epoch=2))
    assert result["global_step"] == 3 + 2  # step 3 of a 2-step epoch: that epoch is done


def test_resume_on_other_data_behind_the_same_glob_is_refused(tmp_path):
    data = tmp_path / "data"
    synthetic.write_synthetic_tfrecords(str(data), 8, 32, 48, seed=1)
    config = _config(tmp_path / "run", train_data=str(data / "*.tfrecord"))
    with pytest.raises(train_lib.TrainingInterrupted):
        train_lib.train(dataclasses.replace(config, stop_at_step=1))
    synthetic.write_synthetic_tfrecords(str(data), 8, 32, 48, seed=2)  # same names, other data
    with pytest.raises(train_lib.RunSettingsError, match="trained on other data"):
        train_lib.train(config)


def test_diverged_first_run_writes_no_checkpoint_and_the_corrected_rerun_trains(tmp_path,
                                                                                read_epoch_log):
    run = tmp_path / "run"
    with pytest.raises(FloatingPointError) as failure:
        train_lib.train(_config(run, learning_rate=1e10, checkpoint_every_steps=1))
    # the update of step 1 diverged (weights ~1e10, still finite); its loss did not show it
    assert tf.train.latest_checkpoint(str(run / "checkpoints")) is None
    assert re.search("diverged at global step 1.*no checkpoint was written", str(failure.value))
    result = train_lib.train(_config(run, learning_rate=3e-4))
    assert result["global_step"] == 8
    assert np.all(np.isfinite([e["content_loss"] for e in read_epoch_log(run)]))
    assert _all_checkpoints_finite(run)


def test_divergence_after_a_good_checkpoint_names_it_and_the_rerun_resumes_from_it(tmp_path):
    run = tmp_path / "run"
    with pytest.raises(train_lib.TrainingInterrupted):
        train_lib.train(_config(run, stop_at_step=2))
    good = tf.train.latest_checkpoint(str(run / "checkpoints"))
    assert good.endswith("ckpt-2")
    with pytest.raises(FloatingPointError, match=f"step 3.*last good checkpoint is {good}"):
        train_lib.train(_config(run, learning_rate=1e10, checkpoint_every_steps=1))
    assert tf.train.latest_checkpoint(str(run / "checkpoints")) == good
    assert _all_checkpoints_finite(run)
    result = train_lib.train(_config(run, learning_rate=3e-4))
    assert result["global_step"] == 8
    generator, _ = checkpoints.load_generator(str(run))
    assert all(np.all(np.isfinite(w)) for w in generator.get_weights())


def test_run_failing_before_its_first_step_leaves_the_directory_reusable(tmp_path):
    run = tmp_path / "run"
    with pytest.raises(FileNotFoundError, match="matches no TFRecord file"):
        train_lib.train(_config(run, train_data=str(tmp_path / "typo-*.tfrecord")))
    result = train_lib.train(_config(run, bce_epochs=1))  # corrected command
    assert result["global_step"] == 4
    assert config_lib.load(str(run)).train_data == "demo"


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_and_ctrl_c_end_with_one_line_after_saving(tmp_path, signum):
    run = tmp_path / "run"
    process = subprocess.Popen(
        [sys.executable, "-m", "salgan_tf.train", f"--output_dir={run}", "--train_data=demo",
         "--demo_examples=8", "--image_height=32", "--image_width=48", "--batch_size=2",
         "--bce_epochs=50", "--gan_epochs=0", "--checkpoint_every_steps=100",
         "--log_every_steps=1"],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    try:
        for line in process.stderr:
            if "step 2/4" in line:
                process.send_signal(signum)
                break
        stderr = process.stderr.read()
        process.wait(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 1
    assert "Traceback" not in stderr
    last = stderr.strip().splitlines()[-1]
    assert last.startswith(f"interrupted (signal {int(signum)}) at global step "), last
    assert tf.train.latest_checkpoint(str(run / "checkpoints")) in last and "rerun" in last


# ------------------------------------------------------------------ run directories (issue 23)


def test_a_second_training_is_refused_naming_the_pid_and_a_killed_holder_is_taken_over(
        tmp_path, caplog, read_epoch_log):
    """Two trainings on one --output_dir both ran to the end, each epoch logged twice."""
    run = tmp_path / "run"
    config = _config(run, checkpoint_every_steps=1)  # the holder stalls after saving step 1
    holder = _spawn(_TRAIN_SCRIPT, _config_json(config), "step 1")
    try:
        assert holder.stdout.readline().strip() == "step 1", holder.stderr.read()[-3000:]
        with pytest.raises(run_dir.RunDirBusy, match=f"in use by another training "
                                                     f"\\(PID {holder.pid}\\b"):
            train_lib.train(config)
    finally:
        holder.kill()
        holder.wait(timeout=60)
    assert (run / run_dir.LOCK_FILENAME).read_text() == str(holder.pid)  # killed: not released
    (run / "checkpoints" / "ckpt-9_temp").mkdir(parents=True)  # as a save cut by kill -9 leaves
    with caplog.at_level("INFO", logger="absl"):
        result = train_lib.train(config)
    assert f"took over {run / run_dir.LOCK_FILENAME} from PID {holder.pid}," in caplog.text
    assert result["global_step"] == 8
    assert [record["epoch"] for record in read_epoch_log(run)] == [1, 2]
    assert not (run / "checkpoints" / "ckpt-9_temp").exists()
    assert (run / run_dir.LOCK_FILENAME).read_text() == ""  # released


def _damage(path, how):
    data = path.read_bytes()
    if how == "truncated":
        path.write_bytes(data[: len(data) // 2])
    else:  # one bit flipped in the middle of the tensor data
        path.write_bytes(data[: len(data) // 2] + bytes([data[len(data) // 2] ^ 0x10])
                         + data[len(data) // 2 + 1:])


@pytest.mark.parametrize("how", ["truncated", "bit-flipped"])
def test_corrupt_newest_checkpoint_is_set_aside_and_the_run_resumes_from_the_newest_intact(
        tmp_path, how, caplog):
    run = tmp_path / "run"
    with pytest.raises(train_lib.TrainingInterrupted):
        train_lib.train(_config(run, checkpoint_every_steps=1, stop_at_step=2))
    newest = run / "checkpoints" / "ckpt-2"
    _damage(run / "checkpoints" / "ckpt-2.data-00000-of-00001", how)
    with caplog.at_level("INFO", logger="absl"):
        result = train_lib.train(_config(run))
    # resumed after ckpt-1: step 2 trained again
    assert f"resumed from {run / 'checkpoints' / 'ckpt-1'} at epoch 0, step 1 " in caplog.text
    assert result["global_step"] == 8
    warning = [r.getMessage() for r in caplog.records if "corrupt checkpoint" in r.getMessage()]
    assert len(warning) == 1 and "\n" not in warning[0]
    assert str(newest) in warning[0] and f"resuming from {run / 'checkpoints' / 'ckpt-1'}" in \
        warning[0]
    assert (run / "checkpoints" / "corrupt" / "ckpt-2.index").exists()  # kept for inspection
    generator, _ = checkpoints.load_generator(str(run))  # the run's newest checkpoint reads back
    assert all(np.all(np.isfinite(w)) for w in generator.get_weights())


def test_no_intact_checkpoint_is_one_error_saying_what_to_do(tmp_path):
    run = tmp_path / "run"
    with pytest.raises(train_lib.TrainingInterrupted):
        train_lib.train(_config(run, stop_at_step=1))
    _damage(run / "checkpoints" / "ckpt-1.data-00000-of-00001", "truncated")
    with pytest.raises(run_dir.CheckpointsCorrupt) as failure:
        train_lib.train(_config(run))
    message = str(failure.value)
    assert "\n" not in message and f"{run / 'checkpoints' / 'ckpt-1'} (truncated" in message
    assert f"mv {run / 'checkpoints'} {run / 'checkpoints'}.corrupt" in message
    assert (run / "checkpoints" / "ckpt-1.index").exists()  # nothing moved


def test_every_step_is_saved_once(tmp_path, monkeypatch):
    """--checkpoint_every_steps dividing the epoch saved each epoch's last step twice."""
    saved = []
    real_save = tf.train.CheckpointManager.save

    def save(manager, checkpoint_number=None, **kwargs):
        saved.append(checkpoint_number)
        return real_save(manager, checkpoint_number=checkpoint_number, **kwargs)

    monkeypatch.setattr(tf.train.CheckpointManager, "save", save)
    run = tmp_path / "run"
    with pytest.raises(train_lib.TrainingInterrupted):  # stopped right after step 2's save
        train_lib.train(_config(run, checkpoint_every_steps=2, stop_at_step=2))
    assert saved == [2]
    train_lib.train(_config(run, checkpoint_every_steps=2))
    assert saved == [2, 4, 6, 8]


def _limited_file_size(max_bytes):
    """preexec_fn: files over `max_bytes` fail with EFBIG (as a full disk fails a write)."""
    def limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # else the kernel kills the writer
        resource.setrlimit(resource.RLIMIT_FSIZE, (max_bytes, max_bytes))
    return limit


def test_a_failed_checkpoint_write_is_one_line_and_leaves_no_partial_checkpoint(tmp_path):
    """Disk full while checkpointing gave a traceback and left ckpt-N_temp/ eating the space.

    A 20 MB file size limit stands in for the full disk: TensorFlow's write of the checkpoint
    data file (hundreds of MB for both nets and their slots) fails part-way, as with ENOSPC.
    """
    run = tmp_path / "run"
    result = subprocess.run(
        [sys.executable, "-m", "salgan_tf.train", f"--output_dir={run}", "--train_data=demo",
         "--demo_examples=8", "--image_height=32", "--image_width=48", "--batch_size=2",
         "--bce_epochs=1", "--gan_epochs=0", "--checkpoint_every_steps=2"],
        cwd=REPO, capture_output=True, text=True, timeout=300,
        preexec_fn=_limited_file_size(20_000_000), env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr[-3000:]
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: cannot write checkpoint {run / 'checkpoints' / 'ckpt-2'}: "
                           f"{run / 'checkpoints' / 'ckpt-2_temp'}"), last
    assert "File too large" in last and "rerun the same command" in last
    assert os.listdir(run / "checkpoints") == []  # the partial ckpt-2_temp/ is gone
