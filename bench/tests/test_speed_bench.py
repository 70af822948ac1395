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


def test_policies_and_skips_choose_the_variants():
    args = speed.parse_args(["--policies=float32,mixed_bfloat16,mixed_float16", "--skip_xla",
                             "--steps=bce_step"])
    assert list(args.variants) == ["tf float32", "tf mixed_bfloat16", "tf mixed_float16"]
    assert args.steps == ("bce_step",)
    assert list(speed.parse_args([]).variants) == list(speed.TF_VARIANTS) == [
        "tf float32", "tf mixed_bfloat16", "tf float32+XLA", "tf bf16+XLA"]
    assert speed._counted_variant(speed.tf_variants(("mixed_float16",))) == "tf mixed_float16"
    with pytest.raises(SystemExit):
        speed.parse_args(["--policies=float16"])


@pytest.mark.slow
def test_speed_script_times_one_train_step_in_each_chosen_policy(capsys):
    speed.main(["--quick", "--repeats=1", "--warmup=1", "--skip_torch", "--skip_inference",
                "--skip_xla", "--steps=bce_step", "--policies=float32,mixed_float16",
                "--settle=0"])
    out = capsys.readouterr().out
    assert "1. Generator inference" not in out
    table = out.split("2. Train steps (SalGANSteps), 32x48, batch 2")[1]
    assert _row(table, "GEMM tf.linalg.matmul 256^3 fp16")[4:6] == ["100%", "fp16"]
    for label, dtype in (("tf float32 bce_step", "fp32"), ("tf mixed_float16 bce_step", "fp16")):
        columns = _row(table, label)
        assert float(columns[0]) > 0 and columns[5] == dtype
    assert "adversarial_step" not in table and "XLA" not in table
