"""Where the benchmarks find the real eye-tracking data: $SALGAN_DATA, else ../shared/data beside
the repo (the rule tests/conftest.py applies)."""
import os
import pathlib

ROOT = pathlib.Path(os.environ.get("SALGAN_DATA")
                    or pathlib.Path(__file__).resolve().parents[2] / "shared" / "data")
