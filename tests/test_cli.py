"""salgan_tf.cli: every CLI starts with TensorFlow's log hidden; --verbosity=1 brings it back."""
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import scipy.io
from PIL import Image

from salgan_tf import cli

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def user_env(**extra):
    """A user's environment for a CLI subprocess: PATH and HOME only (plus `extra`), not the
    suite's (tests/conftest.py sets TF_CPP_MIN_LOG_LEVEL for itself). `cwd=REPO` and `-m` or
    `-c` put this checkout first on sys.path; the interpreter is the suite's (its venv)."""
    return {**{k: os.environ[k] for k in ("PATH", "HOME") if k in os.environ}, **extra}
# A line of TensorFlow's C++ log (absl format: "I0000 00:00:1796.1  7646 port.cc:153] ..."), or
# the banner it prints before absl::InitializeLog.
CPP_LOG_LINE = re.compile(r"^[IWEF]\d{4} [\d:.]+ +\d+ [^ ]+:\d+\] |InitializeLog", re.MULTILINE)


def _salicon_folder(root):
    """A one-image SALICON 2017 layout (the converter's smallest input)."""
    for folder in ("images", "maps", "fixations"):
        (root / folder / "train").mkdir(parents=True)
    rgb = np.random.default_rng(0).integers(0, 256, (24, 32, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(root / "images" / "train" / "a.jpg")
    Image.fromarray(np.full((24, 32), 200, np.uint8)).save(root / "maps" / "train" / "a.png")
    gaze = np.empty((1, 1), dtype=[("location", "O"), ("timestamp", "O"), ("fixations", "O")])
    gaze[0, 0] = (np.zeros((0, 2)), np.zeros((0, 1)), np.array([[3.0, 4.0]]))
    scipy.io.savemat(str(root / "fixations" / "train" / "a.mat"),
                     {"resolution": np.array([[24, 32]]), "gaze": gaze})


def _convert(tmp_path, *extra):
    """`python -m salgan_tf.convert` on one image -> (status, stdout + stderr)."""
    _salicon_folder(tmp_path / "in")
    done = subprocess.run(
        [sys.executable, "-m", "salgan_tf.convert", "--dataset=salicon2017",
         f"--input={tmp_path / 'in'}", f"--output={tmp_path / 'out'}", "--split=train",
         "--workers=1", "--noprogress", *extra],
        cwd=REPO, env=user_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        timeout=600)
    return done.returncode, done.stdout


def test_convert_prints_no_tensorflow_log_at_default_verbosity(tmp_path):
    status, log = _convert(tmp_path)
    assert status == 0, log
    assert "wrote 1 example" in log
    assert not CPP_LOG_LINE.search(log), log


def test_convert_workers_print_no_tensorflow_log_at_default_verbosity(tmp_path):
    # Each spawned worker loads TensorFlow for its decoder; TensorFlow's start-up lines ignore
    # TF_CPP_MIN_LOG_LEVEL, so the worker needs the quiet start too.
    status, log = _convert(tmp_path, "--workers=2")
    assert status == 0, log
    assert "wrote 1 example" in log
    assert not CPP_LOG_LINE.search(log), log


def test_convert_verbosity_1_brings_back_tensorflow_log(tmp_path):
    status, log = _convert(tmp_path, "--verbosity=1")
    assert status == 0, log
    assert CPP_LOG_LINE.search(log), log  # e.g. cpu_feature_guard.cc, cudart_stub.cc


@pytest.mark.parametrize("command", [
    ("salgan_tf.evaluate", "--data={missing}/x-*.tfrecord", "--baseline"),
    ("salgan_tf.predict", "--model={missing}", "--input={missing}", "--output={missing}/maps"),
    ("salgan_tf.export", "tflite", "--saved_model={missing}", "--output={missing}/x.tflite"),
    ("salgan_tf.export.tflite", "--saved_model={missing}", "--output={missing}/x.tflite"),
    ("salgan_tf.tools.import_salgan", "--source={missing}/w.npz", "--output={missing}/g.weights.h5"),
    ("salgan_tf.tools.import_vgg16", "--source={missing}/vgg.h5", "--output={missing}/v.weights.h5"),
], ids=["evaluate", "predict", "export", "export-tflite-alone", "import-salgan", "import-vgg16"])
def test_other_clis_print_only_their_own_error(tmp_path, command):
    """Bad input: the one-line error, and no TensorFlow log although TensorFlow was loaded."""
    module, *args = command
    done = subprocess.run(
        [sys.executable, "-m", module, *(a.format(missing=tmp_path / "none") for a in args)],
        cwd=REPO, env=user_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        timeout=300)
    assert done.returncode != 0 and str(tmp_path / "none") in done.stdout, done.stdout
    assert not CPP_LOG_LINE.search(done.stdout), done.stdout


def test_importer_console_scripts_start_quiet(tmp_path):
    """`salgan-import-vgg16` (its console-script runner): the error alone, no TensorFlow log."""
    script = ("import sys; from salgan_tf import tools; sys.argv[0] = 'salgan-import-vgg16'; "
              "tools.run_import_vgg16()")
    done = subprocess.run(
        [sys.executable, "-c", script, f"--source={tmp_path}/vgg.h5",
         f"--output={tmp_path}/v.weights.h5"], cwd=REPO, env=user_env(), stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, timeout=300)
    assert done.returncode != 0 and f"{tmp_path}/vgg.h5" in done.stdout, done.stdout
    assert not CPP_LOG_LINE.search(done.stdout), done.stdout


@pytest.mark.parametrize("level", [None, "0"])
def test_python_api_hides_tensorflow_log_unless_the_user_set_a_level(tmp_path, util, level):
    """`salgan_tf.load` + `predict` in a user's script: no TensorFlow C++ line (oneDNN, CUDA stub,
    cuInit) by default; a TF_CPP_MIN_LOG_LEVEL=0 the user set shows them all."""
    run_dir = util.write_training_run(str(tmp_path / "run"), util.tiny_generator((32, 32)))
    script = ("import numpy as np, salgan_tf; "
              f"m = salgan_tf.load({run_dir!r}); "
              "print(m.predict(np.zeros((8, 8, 3), np.uint8)).shape)")
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, stdout=subprocess.PIPE,
        env=user_env(**({} if level is None else {"TF_CPP_MIN_LOG_LEVEL": level})),
        stderr=subprocess.STDOUT, text=True, timeout=600)
    assert done.returncode == 0 and "(8, 8)" in done.stdout, done.stdout
    assert bool(CPP_LOG_LINE.search(done.stdout)) == (level == "0"), done.stdout


def test_requested_verbosity_reads_every_spelling_before_parsing(tmp_path):
    flagfile = tmp_path / "run.flags"
    flagfile.write_text("--verbosity=2\n")
    assert cli.requested_verbosity(["prog", "--model=x"]) == -1
    assert cli.requested_verbosity(["prog", "--model", "x", "--verbosity=1"]) == 1
    assert cli.requested_verbosity(["prog", "-v", "1", "--other"]) == 1
    assert cli.requested_verbosity(["prog", f"--flagfile={flagfile}"]) == 2
    assert cli.requested_verbosity(["prog", "--verbosity=loud"]) == -1  # the real parse reports it


def test_shown_drops_cpp_lines_below_the_level_and_keeps_the_rest():
    info = "I0000 00:00:1796118396.108569    7646 cudart_stub.cc:31] Could not find cuda drivers\n"
    error = "E0000 00:00:1796118396.108569    7646 cuda_platform.cc:52] failed call to cuInit\n"
    assert not cli._shown(info, 3) and not cli._shown(error, 3)
    assert cli._shown(error, 2) and not cli._shown(info, 2)
    assert cli._shown("error: /data: missing file\n", 3)  # the tool's own line
