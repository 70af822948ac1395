"""OSIE eye fixations read straight from `fixations.mat`, for the metric benchmarks and checks.

Used by bench/metrics_vs_pysaliency.py, bench/metrics_vs_mit_octave.py and
bench/metrics_center_bias_osie.py (and tests) until/besides the data layer's converter.
Format: shared/data/osie/README.md.
- fixations: 1-based continuous (fix_x, fix_y) -> 0-based (row, col) with the source code's rule
  `max(1, min(round(x), W))` - 1 == clip(floor(x + 0.5), 1, W) - 1.
- GT map: the data layer's `salgan_tf.data.density.density_map` with OSIE's sigma = 24 px (the
  OSIE source code's `fspecial('gaussian', [168 168], 24)` on the binary fixation map), max 1 —
  the same map the converter stores in the records.
"""
import pathlib

import numpy as np
from scipy import io as sio
from scipy import ndimage

import shared_data as shared_data_lib

OSIE_SIGMA_PX = 24.0
OSIE_SIZE = (600, 800)  # (H, W); every OSIE image is 800x600 (W x H)


def osie_root(shared_data=None):
    """`<shared_data>/osie/data`, by default under `shared_data.ROOT`."""
    return pathlib.Path(shared_data or shared_data_lib.ROOT) / "osie" / "data"


def read_osie_fixations(root, first=1001, last=1100):
    """{image name: int [N, 2] 0-based (row, col)} for images `first`..`last` (inclusive)."""
    path = pathlib.Path(root) / "eye" / "fixations.mat"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: OSIE fixations.mat not found")
    cells = sio.loadmat(path)["fixations"]
    height, width = OSIE_SIZE
    result = {}
    for i in range(cells.shape[0]):
        entry = cells[i, 0][0, 0]
        name = str(entry["img"][0])
        number = int(pathlib.PurePath(name).stem)
        if not first <= number <= last:
            continue
        rows, cols = [], []
        for j in range(entry["subjects"].shape[0]):
            subject = entry["subjects"][j, 0][0, 0]
            xs = subject["fix_x"].ravel().astype(np.float64)
            ys = subject["fix_y"].ravel().astype(np.float64)
            cols.append(np.clip(np.floor(xs + 0.5), 1, width) - 1)
            rows.append(np.clip(np.floor(ys + 0.5), 1, height) - 1)
        result[name] = np.stack([np.concatenate(rows), np.concatenate(cols)], 1).astype(np.int64)
    return result


def gt_map_from_fixations(points, shape=OSIE_SIZE, sigma=OSIE_SIGMA_PX):
    """Blurred binary fixation map (data layer's density_map), float64 [H, W], max 1."""
    from salgan_tf.data import density

    return density.density_map(points[:, 0], points[:, 1], shape, sigma)


def fake_prediction(gt_map, index, seed=0):
    """A plausible, imperfect 'model' map: GT blurred wider, mixed with centre bias, plus noise.

    Deterministic; only used to time and cross-check metrics on non-trivial maps.
    """
    rng = np.random.default_rng([seed, index])
    height, width = gt_map.shape
    wide = ndimage.gaussian_filter(gt_map, 20.0)
    rows = (np.arange(height) - (height - 1) / 2) / (height / 4)
    cols = (np.arange(width) - (width - 1) / 2) / (height / 4)
    centre = np.exp(-0.5 * rows**2)[:, None] * np.exp(-0.5 * cols**2)[None, :]
    smap = 0.6 * wide / wide.max() + 0.3 * centre + 0.1 * rng.random(gt_map.shape)
    return smap / smap.max()
