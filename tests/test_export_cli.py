"""The export CLIs end bad input with a one-line error naming it, not a traceback."""
import pathlib
import subprocess
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("command, flag, output", [
    (["salgan_tf.export.saved_model"], "--checkpoint", "1"),
    (["salgan_tf.export.tflite"], "--saved_model", "m.tflite"),
    (["salgan_tf.export.onnx"], "--saved_model", "m.onnx"),
    (["salgan_tf.export", "onnx"], "--checkpoint", "m.onnx"),  # salgan-export's dispatch
])
def test_missing_input_is_a_one_line_error(command, flag, output, tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", *command, f"{flag}={tmp_path / 'nope'}",
         f"--output={tmp_path / 'out' / output}"],
        capture_output=True, text=True, timeout=300, cwd=REPO)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert f"error: {tmp_path / 'nope'}: not a training run" in result.stderr


@pytest.mark.parametrize("module, output", [("salgan_tf.export.tflite", "m.onnx"),
                                            ("salgan_tf.export.onnx", "m.tflite")])
def test_wrong_output_suffix_fails_before_converting(module, output, tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", module, f"--saved_model={tmp_path / 'nope'}",
         f"--output={tmp_path / output}"],
        capture_output=True, text=True, timeout=300, cwd=REPO)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert f"error: {tmp_path / output}: the output file name must end in" in result.stderr
