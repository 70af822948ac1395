"""Shared pytest fixtures: where the real eye-tracking data lives, and quiet TF logs."""
import os
import pathlib

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]


def shared_data_root():
    """Returns the real-data folder: `$SALGAN_DATA`, else `../shared/data` beside the repo."""
    env = os.environ.get("SALGAN_DATA")
    return pathlib.Path(env) if env else REPO_ROOT.parent / "shared" / "data"


@pytest.fixture
def shared_data():
    """Path to ../shared/data (or $SALGAN_DATA); skips the test with the reason when absent."""
    root = shared_data_root()
    if not root.is_dir():
        pytest.skip(f"real data not found at {root} (set SALGAN_DATA to the shared/data folder)")
    return root


@pytest.fixture(scope="session")
def osie_dir():
    """The OSIE folder of the real data; skips the test with the reason when absent."""
    root = shared_data_root() / "osie"
    if not root.is_dir():
        pytest.skip(f"OSIE not found at {root} (set SALGAN_DATA to the shared/data folder)")
    return root
