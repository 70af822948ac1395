"""The benchmarks' own tests: `python -m pytest bench/tests` (not part of the default suite).

They check that the bench scripts run and count right, never how fast anything is.
"""
import pathlib
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))  # bench/
from shared_data import ROOT  # noqa: E402


@pytest.fixture
def shared_data():
    """The real-data folder (bench/shared_data.py's rule); skips the test when absent."""
    if not ROOT.is_dir():
        pytest.skip(f"real data not found at {ROOT} (set SALGAN_DATA to the shared/data folder)")
    return ROOT
