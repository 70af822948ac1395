"""The export CLIs end bad input with a one-line error naming it, not a traceback."""
import pathlib
import subprocess
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("module, flag", [("salgan_tf.export.saved_model", "--checkpoint"),
                                          ("salgan_tf.export.tflite", "--saved_model")])
def test_missing_input_is_a_one_line_error(module, flag, tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", module, f"{flag}={tmp_path / 'nope'}",
         f"--output={tmp_path / 'out' / '1'}"],
        capture_output=True, text=True, timeout=300, cwd=REPO)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert f"error: {tmp_path / 'nope'}: not a training run" in result.stderr
