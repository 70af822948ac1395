"""The metrics-vs-pysaliency benchmark script runs end to end on real OSIE data (no timing asserted).

Without the pysaliency venv it must still time our side and say why there is no ratio; with
`--shared_data` it reads OSIE straight from fixations.mat.
"""
import pathlib
import subprocess
import sys

REPO = pathlib.Path(__file__).resolve().parents[2]


def test_metrics_bench_runs_without_pysaliency(shared_data, tmp_path):
    result = subprocess.run(
        [sys.executable, str(REPO / "bench" / "metrics_vs_pysaliency.py"), "--images", "3",
         "--repeats", "1", "--shared_data", str(shared_data),
         "--pysaliency_python", str(tmp_path / "no-such-python")],
        capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    out = result.stdout
    assert "OSIE 1001.jpg..1003.jpg: 3 images 600x800 (HxW)" in out
    assert "ours, all 10 metrics" in out and "ours, the pysaliency set" in out
    assert "pysaliency venv not found" in out
