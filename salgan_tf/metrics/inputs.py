"""What every metric takes in: saliency maps and fixations, checked, with shared statistics cached.

Inputs, at the same (H, W) — the fixation map's, i.e. the original image grid, as the benchmarks
do (resize predictions before calling; see `evaluate_lib`):
- a map (`saliency_map`, `gt_map`, `baseline_map`): any real 2-D array (float64 internally, like
  MATLAB's double), or a `PreparedMap`.
- `fixations`: a fixation map of shape (H, W) (binary, or per-pixel fixation counts), an integer
  array [N, 2] of 0-based (row, col) fixations (docs/conventions.md), or a `PreparedFixations`.

A `PreparedMap` / `PreparedFixations` checks a map or fixation list once and caches what several
metrics need (min, max, sum, spread; flat indices); `evaluate_lib` passes those.
"""
import functools

import numpy as np

from salgan_tf.metrics._workspace import buffer


class PreparedMap:
    """A map checked once (2-D, finite, float64) with the statistics the metrics share, cached.

    Every metric accepts one wherever it takes a map. Scoring many metrics on one map then
    validates it and computes its min / max / sum / spread once instead of once per metric
    (`evaluate_lib` prepares each prediction, ground truth and baseline map this way).
    Values are bit-identical to passing the array. The metrics never write into it; do not
    modify `image` after preparing.
    """

    def __init__(self, array, what="saliency_map"):
        self.image, self.total = checked_map(array, what)
        self.flat = self.image.ravel()
        self.shape = self.image.shape
        self.size = self.image.size
        self.sweep = None  # the last `_counting.FixatedSweep` of this map (AUC-Judd, AUC-Borji)

    @functools.cached_property
    def low(self):
        return self.flat.min()

    @functools.cached_property
    def high(self):
        return self.flat.max()

    @property
    def mean(self):
        return self.total / self.size  # what np.mean / MATLAB mean compute

    @property
    def is_constant(self):
        return self.high == self.low

    @property
    def is_all_zero(self):
        """MATLAB `~any(map(:))`."""
        return self.low == 0 and self.high == 0

    def centred(self, out):
        """S - mean(S), flat, written into `out`."""
        return np.subtract(self.flat, self.mean, out=out)

    @functools.cached_property
    def centred_sum_squares(self):
        """sum((S - mean)^2), two-pass as MATLAB `std` / NumPy compute it."""
        deviations = self.centred(buffer("f2", self.size))
        return float(np.dot(deviations, deviations))

    @property
    def _mit_total(self):
        """sum(S - min(S)), MIT's min-max then sum-normalise divisor ((S - min) / sum(S - min) ==
        the two steps); None for a constant map (MATLAB: all NaN)."""
        total = self.total - self.size * self.low
        return None if total <= 0 or self.is_constant else total

    def mit_density(self, out):
        """MIT min-max then sum-normalised map, flat, written into `out`; None if constant."""
        total = self._mit_total
        if total is None:
            return None
        density = np.subtract(self.flat, self.low, out=out)
        density /= total
        return density

    def mit_density_at(self, index):
        """`mit_density(...)[index]` from the picked values alone; all NaN if constant."""
        total = self._mit_total
        if total is None:
            return np.full(len(index), np.nan)
        return (self.flat[index] - self.low) / total

    def min_max(self, picked=None):
        """MIT `(S - min(S)) / (max(S) - min(S))`, all of the flat map or `flat[picked]`.

        Returns None for a constant map, where MATLAB's 0/0 gives an all-NaN map and the MIT code
        returns NaN. Normalising only the picked values is the same arithmetic, value by value.
        """
        if self.is_constant:
            return None
        chosen = self.flat if picked is None else self.flat[picked]
        return (chosen - self.low) / (self.high - self.low)

    def pysaliency_density(self, out):
        """pysaliency `convert_saliency_map_to_density(minimum_value=0)`: shift if negative, sum
        to 1, an all-zero map becomes uniform; flat, written into `out`."""
        if self.low < 0:
            density = np.subtract(self.flat, self.low, out=out)
            total = density.sum()
        else:
            np.copyto(out, self.flat)
            density, total = out, self.total
        if total:
            density /= total
        else:
            density.fill(1.0 / self.size)
        return density


def as_prepared(array, what="saliency_map"):
    """`array` itself if it is a `PreparedMap`, else the array checked and prepared."""
    return array if isinstance(array, PreparedMap) else PreparedMap(array, what)


def check_same_shape(saliency_map, other, what):
    """ValueError unless the two maps have the same (H, W), naming `what` and the fix."""
    if saliency_map.shape != other.shape:
        raise ValueError(
            f"saliency_map shape {saliency_map.shape} != {what} shape {other.shape}; resize the "
            "prediction to the fixation-map (original image) size first")


def as_map(array, what="saliency_map"):
    """Returns a finite float64 2-D view/copy of `array` or raises ValueError naming `what`."""
    return checked_map(array, what)[0]


def checked_map(array, what):
    """(finite float64 2-D array, its sum); ValueError naming `what` otherwise."""
    # No copy for float64 input: the metrics never write into their inputs.
    result = np.asarray(array, dtype=np.float64)
    if result.ndim == 3 and result.shape[-1] == 1:
        result = result[..., 0]
    if result.ndim != 2:
        raise ValueError(f"{what} must be 2-D (H, W) or (H, W, 1), got shape {np.shape(array)}")
    if result.size == 0:
        raise ValueError(f"{what} is empty (shape {result.shape})")
    # One summing pass instead of isfinite + all; the full test only when the sum is not finite.
    total = result.sum()
    if not np.isfinite(total):
        if not np.all(np.isfinite(result)):
            raise ValueError(f"{what} contains NaN or inf")
        raise ValueError(f"{what} values are too large to sum (overflow)")
    return result, float(total)


def fixation_map_from_points(points, shape):
    """Per-pixel fixation counts (int32, `shape`) from an [N, 2] array of 0-based (row, col)."""
    flat = _points_to_flat(points, shape)
    return np.bincount(flat, minlength=shape[0] * shape[1]).reshape(shape).astype(np.int32)


def _points_to_flat(points, shape):
    points = np.asarray(points)
    if points.size == 0:
        return np.zeros(0, dtype=np.int64)
    if points.ndim != 2 or points.shape[1] != 2:
        raise ValueError(f"fixations must be an [N, 2] (row, col) array, got shape {points.shape}")
    if not np.issubdtype(points.dtype, np.integer):
        if not np.all(np.equal(np.mod(points, 1), 0)):
            raise ValueError("fixation (row, col) must be integer pixel indices (0-based); round "
                             "continuous coordinates in the data converter")
    rows = points[:, 0].astype(np.int64)
    cols = points[:, 1].astype(np.int64)
    height, width = shape
    outside = (rows < 0) | (rows >= height) | (cols < 0) | (cols >= width)
    if np.any(outside):
        first = int(np.flatnonzero(outside)[0])
        raise ValueError(f"{int(outside.sum())} fixation(s) outside the {height}x{width} map, "
                         f"e.g. (row, col) = ({rows[first]}, {cols[first]})")
    return rows * width + cols


def fixation_indices(fixations, shape, *, unique=True):
    """Flat pixel indices of the fixations (row-major, as `saliency_map.ravel()`).

    Args:
      fixations: fixation map of `shape` (binary or counts), an [N, 2] (row, col) array, or a
        `PreparedFixations` of `shape`.
      shape: (H, W) of the saliency map.
      unique: True gives each fixated pixel once (the MIT binary fixation map); False repeats a
        pixel once per fixation (pysaliency), which needs a list or a count map.

    Returns:
      int64 [K] indices, sorted when `unique`.
    """
    if isinstance(fixations, PreparedFixations):
        if fixations.shape != tuple(shape):
            raise ValueError(f"fixations were prepared for a {fixations.shape} map, not {shape}")
        return fixations.unique if unique else fixations.every
    array = np.asarray(fixations)
    if array.ndim >= 2 and array.shape[:2] == tuple(shape) and (array.ndim == 2 or array.shape[2:] == (1,)):
        counts = array.reshape(shape)
        if np.any(counts < 0):
            raise ValueError("fixation map has negative entries")
        flat = np.flatnonzero(counts)
        if unique:
            return flat
        repeats = np.asarray(counts.ravel()[flat])
        if not np.all(np.equal(np.mod(repeats, 1), 0)):
            raise ValueError("fixation map must hold integer counts to count duplicates")
        return np.repeat(flat, repeats.astype(np.int64))
    flat = _points_to_flat(array, shape)
    return unique_indices(flat, shape[0] * shape[1]) if unique else flat


class PreparedFixations:
    """Fixations with their flat pixel indices for an (H, W) map, checked and cached on first use.

    Accepted by every metric in place of a fixation map or list; saves re-validating and
    de-duplicating the same fixations for each metric (e.g. sAUC's ~100k other fixations).
    """

    def __init__(self, fixations, shape):
        self.shape = tuple(shape)
        self._fixations = fixations

    @functools.cached_property
    def every(self):
        """Every fixation's flat index (duplicates repeated)."""
        return fixation_indices(self._fixations, self.shape, unique=False)

    @functools.cached_property
    def unique(self):
        """Each fixated pixel's flat index once, sorted."""
        if "every" in self.__dict__:
            return unique_indices(self.every, self.shape[0] * self.shape[1])
        return fixation_indices(self._fixations, self.shape, unique=True)


def unique_indices(flat, size=None):
    """Sorted distinct values of flat indices into a map of `size` pixels (np.unique's hash path
    is ~3x slower on 10k-point lists; a pixel mask beats sorting for long lists)."""
    if size is not None and len(flat) > size // 32:
        mask = np.zeros(size, dtype=bool)
        mask[flat] = True
        return np.flatnonzero(mask)
    ordered = np.sort(flat)
    if len(ordered) < 2:
        return ordered
    keep = np.empty(len(ordered), dtype=bool)
    keep[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=keep[1:])
    return ordered[keep]
