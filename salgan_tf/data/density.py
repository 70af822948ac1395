"""Ground-truth density maps from fixations: a Gaussian blur of the binary fixation map.

Like the datasets' own code (OSIE: `fspecial('gaussian', [168 168], 24)` on the binary map;
salicon-api: `sal_map[y-1][x-1] = 1` then `gaussian_filter(sigma=19)`), each fixated pixel counts
once however many fixations land on it ("unique pixels"), the blur is an isotropic Gaussian of
`sigma` pixels with zero padding outside the image, and the result is scaled to max 1.

Two equivalent computations, whichever is cheaper: with few fixated pixels (N), a sum of
separable Gaussians `G_rows @ G_cols^T` (cost H*W*N; fast on the 3648 px SUN500 images where a
filter with sigma ~ 100 px is slow); with many (SALICON: ~7,000 per image), the separable filter
`scipy.ndimage.gaussian_filter(binary, sigma, mode="constant")` truncated at 4 sigma
(cost H*W*2*(8 sigma + 1)). They agree to ~1e-3 of the max (the truncation; tests pin it).
SALICON maps use the salicon-api's border handling ("reflect", `DATASET_BORDER_MODE`).
"""
import numpy as np
from scipy import ndimage

# Gaussian sigma in pixels of the ORIGINAL image grid, per dataset (docs/data.md).
# OSIE and SALICON are the datasets' own values; for the others (whose images vary in size, or
# whose release ships maps of its own) the sigma is the same fraction of the longer image side as
# OSIE's 24 px / 800 px and SALICON's 19 px / 640 px, ~3% (about 1 degree of visual angle there).
DATASET_SIGMA_PX = {
    "osie": 24.0,
    "salicon2015": 19.0,
    "salicon2017": 19.0,
}
RELATIVE_SIGMA = 0.03

# What lies beyond the image border when blurring. OSIE's `imfilter` pads with zeros; salicon-api
# calls `scipy.ndimage.gaussian_filter` with its default "reflect" (mass near the border is
# mirrored back: up to 0.18 of the max differs near the border on the SALICON examples, CC 0.998).
DATASET_BORDER_MODE = {
    "salicon2015": "reflect",
    "salicon2017": "reflect",
}


def border_mode_for(dataset):
    """`"constant"` (zero padding, the default) or the dataset's own `"reflect"`."""
    return DATASET_BORDER_MODE.get(dataset, "constant")


def sigma_for(dataset, size):
    """Gaussian sigma in pixels for an image of `size` = (H, W) from `dataset`."""
    if dataset in DATASET_SIGMA_PX:
        return DATASET_SIGMA_PX[dataset]
    return RELATIVE_SIGMA * float(max(size))


def unique_pixels(rows, cols, size):
    """The distinct fixated pixels `(rows, cols)` (sorted), given 0-based indices in `size`."""
    rows = np.asarray(rows, np.int64).ravel()
    cols = np.asarray(cols, np.int64).ravel()
    if len(rows) == 0:
        return rows, cols
    flat = np.unique(rows * int(size[1]) + cols)
    return flat // int(size[1]), flat % int(size[1])


def density_map(rows, cols, size, sigma, mode="constant"):
    """Gaussian-blurred binary fixation map, `float32 [H, W]`, max 1 (all zeros if no fixation).

    Args:
      rows, cols: 0-based fixation pixel indices in the grid of `size` (duplicates count once).
      size: `(height, width)`.
      sigma: Gaussian standard deviation in pixels (> 0).
      mode: border handling, `"constant"` (zero padding) or `"reflect"` (`border_mode_for`).
    """
    height, width = int(size[0]), int(size[1])
    if sigma <= 0:
        raise ValueError(f"sigma must be positive, got {sigma}")
    rows, cols = unique_pixels(rows, cols, size)
    if len(rows) == 0:
        return np.zeros((height, width), np.float32)
    if mode not in ("constant", "reflect"):
        raise ValueError(f"mode must be 'constant' or 'reflect', got {mode!r}")
    # float32: twice as fast as float64, and far finer than the 8/16-bit PNG the map ends up in.
    if mode != "constant" or len(rows) > 2 * (8 * sigma + 1):
        binary = np.zeros((height, width), np.float32)
        binary[rows, cols] = 1.0
        result = ndimage.gaussian_filter(binary, sigma, mode=mode, truncate=4.0)
        return result / result.max()
    # Blocks keep the [H, N] and [W, N] factors small.
    result = np.zeros((height, width), np.float32)
    y = np.arange(height, dtype=np.float32)[:, None]
    x = np.arange(width, dtype=np.float32)[:, None]
    for start in range(0, len(rows), 512):
        r = rows[start:start + 512].astype(np.float32)[None, :]
        c = cols[start:start + 512].astype(np.float32)[None, :]
        g_rows = np.exp(-0.5 * ((y - r) / np.float32(sigma)) ** 2)
        g_cols = np.exp(-0.5 * ((x - c) / np.float32(sigma)) ** 2)
        result += g_rows @ g_cols.T
    return result / result.max()


def scale_fixations(rows, cols, original_size, size):
    """Maps 0-based pixel indices from `original_size` to the grid of `size` (pixel centres)."""
    rows = np.asarray(rows, np.float64)
    cols = np.asarray(cols, np.float64)
    new_rows = np.floor((rows + 0.5) * size[0] / original_size[0]).astype(np.int64)
    new_cols = np.floor((cols + 0.5) * size[1] / original_size[1]).astype(np.int64)
    return np.clip(new_rows, 0, size[0] - 1), np.clip(new_cols, 0, size[1] - 1)
