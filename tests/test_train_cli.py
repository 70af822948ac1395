"""The training CLI's log: progress lines with ETA, TensorFlow's own log only on --verbosity=1."""
import os
import re
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# TensorFlow's own lines: C++ at load time (oneDNN, CUDA stub, CPU features) and Python's
# checkpoint saver.
TF_LINES = ("cpu_feature_guard", "port.cc", "cudart_stub", "InitializeLog", "functional_saver",
            "Sharding callback")
NUMBER = r"[-+.\de]+"


def _train(tmp_path, *extra):
    """Runs a tiny demo training (2 epochs of 2 steps, 32x48) and returns (status, output)."""
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}  # CLI decides
    args = [sys.executable, "-m", "salgan_tf.train", f"--flagfile={REPO}/configs/demo.flags",
            f"--output_dir={tmp_path / 'run'}", "--image_height=32", "--image_width=48",
            "--demo_examples=4", "--batch_size=2", "--bce_epochs=1", "--gan_epochs=1",
            "--steps_per_epoch=2", "--checkpoint_every_steps=1", "--log_every_steps=1", *extra]
    done = subprocess.run(args, cwd=REPO, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=600)
    return done.returncode, done.stdout


def test_log_shows_progress_and_eta_without_tensorflow_lines(tmp_path):
    status, log = _train(tmp_path)
    assert status == 0, log[-3000:]
    for marker in TF_LINES:
        assert marker not in log, marker
    progress = rf"\| {NUMBER} steps/s, ETA \d+m\d\ds$"
    for step in (1, 2):
        assert re.search(rf"epoch 1/2 \[bce\] step {step}/2 \| g_loss={NUMBER} "
                         rf"content_loss={NUMBER} {progress}", log, re.MULTILINE), log
    assert re.search(rf"epoch 2/2 \[gan\] step 2/2 \| g_loss={NUMBER} content_loss={NUMBER} "
                     rf"d_loss={NUMBER} d_accuracy={NUMBER} "
                     rf"g_adversarial_to_content_grad_ratio={NUMBER} {progress}", log,
                     re.MULTILINE), log
    for epoch, phase in ((1, "bce"), (2, "gan")):
        assert re.search(rf"epoch {epoch}/2 \[{phase}\] done in \d+m\d\ds \| .*{progress}", log,
                         re.MULTILINE), log
    assert "ETA 0m00s" in log  # the last epoch's line: nothing left


def test_verbosity_1_brings_back_tensorflow_log(tmp_path):
    # One BCE step and its checkpoint are enough to show both kinds of line.
    status, log = _train(tmp_path, "--verbosity=1", "--gan_epochs=0", "--steps_per_epoch=1")
    assert status == 0, log[-3000:]
    assert "cpu_feature_guard" in log  # C++, at load time
    assert "Sharding callback" in log  # Python (functional_saver.py), at each checkpoint
    assert "steps/s, ETA" in log


def test_bad_train_data_still_prints_its_one_line_error(tmp_path):
    missing = tmp_path / "nothing-*.tfrecord"
    status, log = _train(tmp_path, f"--train_data={missing}")
    assert status == 1 and "Traceback" not in log
    assert f"error: --train_data {missing} matches no TFRecord file" in log
