"""Test of bench/speed.py as a script: every variant runs and lands in its table.

Timings are never asserted. The FLOP counts it divides by are tested in bench/tests/test_flops.py; the
PyTorch reference checks itself (`python bench/torch_reference.py`, docs/speed.md), so this
suite never needs PyTorch.
"""
import pathlib
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))  # bench/
import speed  # noqa: E402


def _row(table, label):
    line = next(line for line in table.splitlines() if line.startswith(label + " "))
    return line[len(label):].split()


@pytest.mark.slow
def test_speed_script_prints_every_inference_variant_against_the_gemm_ceiling(capsys):
    speed.main(["--quick", "--repeats=1", "--skip_train", "--skip_torch", "--settle=0"])
    out = capsys.readouterr().out
    table = out.split("1. Generator inference, 32x48 (HxW), batch 2")[1]
    for dtype in ("fp32", "bf16"):
        gemm = _row(table, f"GEMM tf.linalg.matmul 256^3 {dtype}")
        assert gemm[4:6] == ["100%", dtype]  # the ceiling is its own reference
    for label in speed.TF_VARIANTS:
        columns = _row(table, label)
        assert float(columns[0]) > 0  # images/s
        assert columns[4].endswith("%") and columns[5] == speed._dtype(
            speed.TF_VARIANTS[label][0])
    assert "CPU: " in out and "load average" in out
    assert "GFLOP per image (TF profiler" in out
