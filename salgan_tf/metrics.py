"""Saliency metrics that reproduce the MIT saliency benchmark (`cvzoya/saliency`, code_forMetrics).

Every function scores ONE image. Inputs, at the same (H, W) — the fixation map's, i.e. the original
image grid, as the benchmarks do (resize predictions before calling; see `evaluate_lib`):

- `saliency_map`: predicted map S, any real 2-D array (float64 internally, like MATLAB's double).
- `fixations`: either a fixation map of shape (H, W) (binary, or per-pixel fixation counts) or an
  integer array [N, 2] of 0-based (row, col) fixations (docs/conventions.md).
- `gt_map`: continuous ground-truth density map G (H, W).

Conventions. `convention="mit"` (default) follows the MIT MATLAB code line by line;
`convention="pysaliency"` follows pysaliency 0.2.x (`matthias-k/pysaliency`). Where they differ the
docstring says how. The two big systematic differences:
- MIT works on the BINARY fixation map: a pixel fixated twice counts once. pysaliency counts every
  fixation (duplicates weigh twice). With a fixation list, "mit" de-duplicates it.
- MIT min-max normalises S before AUC/SIM/IG; pysaliency does not (it only shifts negative maps).

Speed. All AUCs are vectorised: no loop over thresholds and no sort of the image. Pixels are
bucketed with one histogram and only the few sharing a bucket with a threshold are compared
exactly (`_bucket_split`); AUC-Judd and exact AUC-Borji share that split (`_FixatedSweep`), and
AUC-Judd's jitter is drawn only for those pixels, from a counter-based noise field
(`_pixel_noise`) so the result equals jittering every pixel. Sampled splits are binned all at
once. A `PreparedMap` / `PreparedFixations` checks a map or fixation list once and caches what
several metrics need (min, max, sum, spread); `evaluate_lib` passes those. Full-image
temporaries reuse per-thread work buffers. Timings against pysaliency:
bench/metrics_vs_pysaliency.py and docs/metrics.md.
"""
from __future__ import annotations

import functools
import threading

import numpy as np

# MATLAB's `eps` (2^-52), as KLdiv.m and InfoGain.m call it; pysaliency's MIT_KLDiv types the
# literal 2.2204e-16 instead (eps printed to 5 digits). Each convention uses its own.
MATLAB_EPS = float(np.finfo(np.float64).eps)
PYSALIENCY_EPS = 2.2204e-16
# AUC_Judd.m jitter: `saliencyMap + rand(size(saliencyMap))/10000000`.
JUDD_JITTER = 1e-7
CONVENTIONS = ("mit", "pysaliency")


# --------------------------------------------------------------------------- input handling


# Full-image temporaries are taken from per-thread work buffers: allocating fresh multi-MB arrays
# costs more than the arithmetic (the OS hands back zeroed pages on every call: ~2 ms per 800x600
# float64 array under load, vs ~0.1 ms for a pass over it). Images above this many pixels just
# allocate, so the buffers never hold more than ~4 x 8 B x 2^21 = 64 MB per thread.
_MAX_BUFFERED_PIXELS = 1 << 21
_workspace = threading.local()


def _buffer(slot, size, dtype=np.float64):
    """A reusable 1-D work array of `size` for `slot` ("f0".."f2", "i0", "b0"). Its contents are
    garbage; a function may only use the slots it owns while it runs and must not return it."""
    if size > _MAX_BUFFERED_PIXELS:
        return np.empty(size, dtype=dtype)
    buffers = getattr(_workspace, "buffers", None)
    if buffers is None:
        buffers = _workspace.buffers = {}
    array = buffers.get(slot)
    if array is None or array.size != size or array.dtype != dtype:
        array = buffers[slot] = np.empty(size, dtype=dtype)
    return array


def _check_convention(convention):
    if convention not in CONVENTIONS:
        raise ValueError(f"convention must be one of {CONVENTIONS}, got {convention!r}")


def _as_map(array, what="saliency_map"):
    """Returns a finite float64 2-D view/copy of `array` or raises ValueError naming `what`."""
    return _checked_map(array, what)[0]


def _checked_map(array, what):
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


class PreparedMap:
    """A map checked once (2-D, finite, float64) with the statistics the metrics share, cached.

    Every metric accepts one wherever it takes a map. Scoring many metrics on one map then
    validates it and computes its min / max / sum / spread once instead of once per metric
    (`evaluate_lib` prepares each prediction, ground truth and baseline map this way).
    Values are bit-identical to passing the array. The metrics never write into it; do not
    modify `image` after preparing.
    """

    def __init__(self, array, what="saliency_map"):
        self.image, self.total = _checked_map(array, what)
        self.flat = self.image.ravel()
        self.shape = self.image.shape
        self.size = self.image.size
        self.sweep = None  # the last `_FixatedSweep` made for this map (AUC-Judd, AUC-Borji)

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
        deviations = self.centred(_buffer("f2", self.size))
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


def _prepared(array, what="saliency_map"):
    return array if isinstance(array, PreparedMap) else PreparedMap(array, what)


def _check_same_shape(saliency_map, other, what):
    if saliency_map.shape != other.shape:
        raise ValueError(
            f"saliency_map shape {saliency_map.shape} != {what} shape {other.shape}; resize the "
            "prediction to the fixation-map (original image) size first")


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
    return _unique(flat, shape[0] * shape[1]) if unique else flat


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
            return _unique(self.every, self.shape[0] * self.shape[1])
        return fixation_indices(self._fixations, self.shape, unique=True)


def _unique(flat, size=None):
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


def _min_max(prepared, picked=None):
    """MIT `(S - min(S)) / (max(S) - min(S))` of a `PreparedMap`, all of it or `flat[picked]`.

    Returns None for a constant map, where MATLAB's 0/0 gives an all-NaN map and the MIT code
    returns NaN. Normalising only the picked values is the same arithmetic, value by value.
    """
    if prepared.is_constant:
        return None
    chosen = prepared.flat if picked is None else prepared.flat[picked]
    return (chosen - prepared.low) / (prepared.high - prepared.low)


# --------------------------------------------------------------------------- ROC helpers


_HISTOGRAM_BINS = 1 << 16  # buckets for a full image; shorter lists get ~one per value
_SEARCH_ONLY = 4096  # at most this many values: binary search of each is cheaper than buckets


def _buckets(values, low, high, num_bins):
    """Buckets 0..num_bins-1 of `values` (in [low, high]) under a monotone map b(v), and b.

    b(v) = floor(v * scale) when 0 <= low <= high / 2 (most maps: one fused multiply-and-truncate
    pass, at least half the buckets in use), else floor((v - low) * scale). Both are monotone
    (rounding and floor are), so b(v) > b(t) implies v > t; they lie in [0, num_bins - 1
    (+ rounding)] for the values and `b` clips any other value into [0, num_bins] (still
    monotone): size count arrays num_bins + 1. Needs high - low == 0 or >= 1e-300. Uses work
    buffers f1 and i0.

    Returns:
      (value_bins intp [N] (a work buffer), b: values -> buckets, bucket width in value units).
    """
    value_bins = _buffer("i0", values.size, np.intp)
    if 0 <= low <= high / 2 and high > 0:
        offset, scale = 0.0, (num_bins - 1) / high
        np.multiply(values, scale, out=value_bins, casting="unsafe")  # truncation == floor, v >= 0
    else:
        offset, scale = low, ((num_bins - 1) / (high - low) if high > low else 0.0)
        shifted = np.subtract(values, offset, out=_buffer("f1", values.size))
        np.multiply(shifted, scale, out=value_bins, casting="unsafe")

    def bucket_of(points):
        return np.clip((np.asarray(points, dtype=np.float64) - offset) * scale, 0,
                       num_bins).astype(np.intp)

    return value_bins, bucket_of, (1.0 / scale if scale else np.inf)


def _threshold_counts(values, thresholds_ascending):
    """For each threshold t_j: (#values >= t_j, #values > t_j), exactly, in O(Npix).

    `searchsorted` of 480k pixels into a few hundred thresholds costs ~20 ms (a mispredicted
    binary search per pixel) and a full sort ~25 ms, so instead the values are split by bucket
    (`_bucket_split`): only the few sharing a bucket with some threshold are compared exactly.

    Args:
      values: float64 [N] values to count.
      thresholds_ascending: float64 [K] sorted thresholds (any range, duplicates allowed).
    """
    values = np.asarray(values, dtype=np.float64)
    thresholds = np.asarray(thresholds_ascending, dtype=np.float64)
    near, far_above = _bucket_split(values, values.min(), values.max(), thresholds)
    ge, gt = _exact_counts(values if near is None else values[near], thresholds)
    return ge + far_above, gt + far_above


def _exact_counts(values, thresholds_ascending):
    """(#values >= t_j, #values > t_j) per threshold by binary search of each value."""
    num_thresholds = len(thresholds_ascending)
    if num_thresholds == 0:
        return np.zeros(0, dtype=np.intp), np.zeros(0, dtype=np.intp)

    def count_exceeding(positions):
        at_most = np.cumsum(np.bincount(positions, minlength=num_thresholds + 1))
        return len(values) - at_most[:num_thresholds]

    # v >= t_j iff j < #(thresholds <= v); v > t_j iff j < #(thresholds < v). The two differ
    # only for values equal to a threshold: the second search is run for those alone.
    at_most = np.searchsorted(thresholds_ascending, values, side="right")
    below = at_most.copy()
    tied = np.flatnonzero(thresholds_ascending[np.maximum(at_most - 1, 0)] == values)
    below[tied] = np.searchsorted(thresholds_ascending, values[tied], side="left")
    return count_exceeding(at_most), count_exceeding(below)


def _bucket_split(values, low, high, anchors, amplitude=None):
    """Splits `values` (within [low, high]) into the few to compare exactly and the rest.

    Values are bucketed (`_buckets`). "Near" buckets: each anchor's own bucket, widened each way
    by `amplitude` rounded up to whole buckets (at least one) when `amplitude` is given
    (thresholds may then lie up to `amplitude` from their anchor), and then also the buckets
    within that reach of low and high.
    A value in any other bucket is more than `amplitude` (and many ulps) above or below every
    anchor, so its comparison with any threshold near an anchor is decided by the buckets alone.

    Returns:
      (near, far_above): `near` the sorted int indices of the values in near buckets, or None
      when all are near (inputs of <= 4,096 values, a degenerate range, or near buckets that
      would cover much of the range); `far_above[i]` the number of the other values above
      anchor i (0 when `near` is None).
    """
    anchors = np.asarray(anchors, dtype=np.float64)
    all_near = None, np.zeros(len(anchors), dtype=np.intp)
    if values.size <= _SEARCH_ONLY or 0 < high - low < 1e-300:
        return all_near
    num_bins = min(_HISTOGRAM_BINS, 1 << int(values.size - 1).bit_length())
    value_bins, bucket_of, width = _buckets(values, low, high, num_bins)
    centres = bucket_of(anchors)
    if amplitude is None:
        marked = centres
    else:
        # Bucket edges are exact to ~1e-11 of a bucket, an ulp of the values ~1e-11 of one too:
        # the 1e-6 makes far values more than `amplitude` + 1e-6 buckets away (>= 1 bucket).
        reach = int(np.ceil(amplitude / width + 1e-6))
        if (2 * reach + 1) * (len(anchors) + 2) > num_bins // 4:
            return all_near
        ends = bucket_of([low, high])
        marked = (np.concatenate([centres, ends])[:, None] + np.arange(-reach, reach + 1))
        marked = np.clip(marked.ravel(), 0, num_bins)
    is_near_bin = np.zeros(num_bins + 1, dtype=bool)
    is_near_bin[marked] = True
    near = np.take(is_near_bin, value_bins, out=_buffer("b0", values.size, bool))
    histogram = np.bincount(value_bins, minlength=num_bins + 1)
    histogram[is_near_bin] = 0
    far_at_or_below = np.cumsum(histogram)
    return np.flatnonzero(near), far_at_or_below[-1] - far_at_or_below[centres]


def _counts_at_or_above(values, thresholds_ascending):
    """#values >= t_j for each threshold (see `_threshold_counts`)."""
    return _threshold_counts(values, thresholds_ascending)[0]


def _rank_auc(positives, negatives):
    """Exact AUC = P(pos > neg) + 0.5 P(pos == neg) (Mann-Whitney U / number of pairs).

    Equals the trapezoid area of the ROC swept over every distinct value (pysaliency
    `general_roc(judd=0)`), ties giving half credit:
    sum_j [#(neg < p_j) + 0.5 #(neg == p_j)] / (#pos #neg).
    """
    if len(positives) == 0 or len(negatives) == 0:
        return float("nan")
    ge, gt = _threshold_counts(negatives, np.sort(positives))
    return _auc_from_counts(ge, gt, len(negatives))


def _auc_from_counts(ge, gt, num_neg):
    """Mann-Whitney AUC from, per positive, #negatives >= it and > it."""
    wins = (num_neg - ge) + 0.5 * (ge - gt)
    return float(wins.sum() / (len(ge) * num_neg))


def _trapz_with_ends(fp, tp):
    """Area under (fp, tp) after adding (0, 0) in front and (1, 1) at the end (MIT `trapz`)."""
    fp = np.concatenate([np.zeros(fp.shape[:-1] + (1,)), fp, np.ones(fp.shape[:-1] + (1,))], -1)
    tp = np.concatenate([np.zeros(tp.shape[:-1] + (1,)), tp, np.ones(tp.shape[:-1] + (1,))], -1)
    return np.sum(np.diff(fp, axis=-1) * (tp[..., 1:] + tp[..., :-1]) * 0.5, axis=-1)


def _step_thresholds(step, maximum):
    """MATLAB `0:step:maximum`, ascending.

    Like MATLAB's colon, the lower half is k*step and the upper half is counted back from the last
    point (n*step - (n-k)*step), so e.g. 3*0.1 = 0.30000000000000004 as in MATLAB. Only values
    lying exactly on a threshold could notice a last-bit difference from MATLAB.
    """
    count = int(np.floor(maximum / step + 1e-10))
    k = np.arange(count + 1)
    last = count * step
    return np.where(k <= count / 2, k * step, last - (count - k) * step)


def _sampled_step_auc(positives, negatives_per_split, step):
    """MIT AUC_Borji/AUC_shuffled inner loop, all splits at once.

    tp(t) = #(pos >= t)/#pos, fp(t) = #(neg >= t)/#neg for t in 0:step:max, descending, then
    trapz with (0,0) and (1,1) added. MIT stops at max([Sth; curfix]) per split; thresholds above a
    split's maximum only repeat the (0, 0) point, so one common list up to the global max gives the
    same area.
    """
    n_splits, n_neg = negatives_per_split.shape
    maximum = max(float(positives.max()), float(negatives_per_split.max()))
    thresholds = _step_thresholds(step, maximum)
    num = len(thresholds)
    tp = _counts_at_or_above(positives, thresholds) / len(positives)
    index = np.searchsorted(thresholds, negatives_per_split, side="right")
    offsets = (np.arange(n_splits) * (num + 1))[:, None]
    hist = np.bincount((index + offsets).ravel(), minlength=n_splits * (num + 1))
    below_or_equal = np.cumsum(hist.reshape(n_splits, num + 1), axis=1)[:, :num]
    fp = (n_neg - below_or_equal) / n_neg
    # Descending thresholds, as MIT's fliplr(0:step:max).
    return _trapz_with_ends(fp[:, ::-1], np.broadcast_to(tp[::-1], fp.shape))


def _noise_key(seed):
    """A 64-bit key for `_pixel_noise` from a seed (int, sequence or np.random.Generator)."""
    return int(np.random.default_rng(seed).integers(0, 2**63))


def _pixel_noise(indices, key):
    """U[0, 1) noise for the pixels `indices`, a pure function of (key, index).

    splitmix64 (Steele, Lea & Flood 2014) of key + index, top 53 bits: a counter-based field,
    so the noise of any subset of pixels is drawn without drawing the rest.
    """
    with np.errstate(over="ignore"):
        z = np.asarray(indices, dtype=np.uint64) + np.uint64(key)
        z += np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z ^= z >> np.uint64(31)
    return (z >> np.uint64(11)).astype(np.float64) * 2.0**-53


class _FixatedSweep:
    """A map's pixels split once for counting against thresholds at its fixated values.

    Shared by AUC-Judd (thresholds: the jittered fixated values, within `JUDD_JITTER` of the
    raw ones) and exact AUC-Borji (the raw fixated values), cached on the `PreparedMap`:
    `near` pixels (`_bucket_split`, sorted flat indices) are compared exactly, every other
    pixel is counted through `far_above`.
    """

    def __init__(self, smap, fixated_unique):
        self.fixated = fixated_unique
        near, self._far_above = _bucket_split(smap.flat, smap.low, smap.high,
                                              smap.flat[fixated_unique], JUDD_JITTER)
        self.near = np.arange(smap.size) if near is None else near
        self.near_values = smap.flat[self.near]

    def far_above(self, pixels):
        """Number of far pixels above fixated pixel(s) `pixels` (flat indices)."""
        return self._far_above[np.searchsorted(self.fixated, pixels)]

    def positions(self, pixels):
        """Where fixated pixel(s) `pixels` sit in `near`."""
        return np.searchsorted(self.near, pixels)


def _fixated_sweep(smap, fixated_unique):
    """`smap`'s `_FixatedSweep` for these fixated pixels (made once, the last one cached)."""
    if smap.sweep is None or not np.array_equal(smap.sweep.fixated, fixated_unique):
        smap.sweep = _FixatedSweep(smap, fixated_unique)
    return smap.sweep


def _judd_mit_counts(smap, fixated, amplitude, key):
    """MIT AUC-Judd's sweep: the fixated values of min-max(S + noise), ascending, and for each
    the number of pixels (fixated included) at or above it; None for a constant map.

    noise = `amplitude` * `_pixel_noise`, amplitude 0 or `JUDD_JITTER`. Drawing it for all 480k
    pixels would be the costliest step, yet it can only change a comparison between values less
    than `amplitude` apart: only the sweep's near pixels (near a fixated value or the map's min or
    max, where the jittered extremes lie) get their noise and are compared exactly on the
    jittered, min-max normalised values as MIT computes them; far pixels are counted by bucket.
    Equal to jittering every pixel with the same noise field (tested against the MIT loop).
    """
    sweep = _fixated_sweep(smap, fixated)
    jittered = sweep.near_values
    if amplitude:
        jittered = jittered + amplitude * _pixel_noise(sweep.near, key)
    j_low, j_high = jittered.min(), jittered.max()
    if j_high == j_low:
        return None
    normalised = jittered - j_low  # MIT: (S - min(S)) / (max(S) - min(S))
    normalised /= j_high - j_low
    fixated_values = normalised[sweep.positions(fixated)]
    order = np.argsort(fixated_values, kind="stable")
    thresholds = fixated_values[order]
    at_or_above = _exact_counts(normalised, thresholds)[0]
    return thresholds, at_or_above + sweep.far_above(fixated)[order]


# --------------------------------------------------------------------------- AUC metrics


def auc_judd(saliency_map, fixations, *, jitter=True, seed=0, convention="mit"):
    """AUC-Judd: ROC with thresholds at the fixated saliency values (MIT `AUC_Judd.m`).

    MIT (default): optional jitter `S += U[0,1) * 1e-7` (seeded, a counter-based field drawn only
    where it can change a comparison, `_judd_mit_counts`; MATLAB's `rand` is not seeded), then
    min-max normalise; positives are the fixated pixels of the binary map (each once); for the
    i-th highest fixated value t_i: tp_i = i/Nfix, fp_i = (#{S >= t_i} - i) / (Npix - Nfix), i.e.
    negatives are the unfixated pixels. Ties among fixated values keep MIT's `i/Nfix` staircase.
    pysaliency (`AUC_Judd`): jitter N(0,1) * 1e-7 (no min-max), every fixation a positive
    (duplicates twice), tp_i = #{pos >= t_i}/#pos, fp_i = #{unfixated >= t_i}/#unfixated.

    Constant map: MIT without jitter gives NaN (min-max is 0/0), as MATLAB; with jitter the map is
    noise and scores ~0.5. pysaliency without jitter gives 0.5 (one threshold: (0,0)-(1,1)).
    No fixations: NaN (both peers).

    Args:
      saliency_map: (H, W) prediction.
      fixations: fixation map (H, W) or [N, 2] (row, col), 0-based.
      jitter: add the tiny noise that breaks ties (MIT default on).
      seed: seed of the jitter noise (an int or a `np.random.Generator`).
      convention: "mit" or "pysaliency".

    Returns:
      float AUC in [0, 1] or NaN.
    """
    _check_convention(convention)
    smap = _prepared(saliency_map)
    unique_fix = fixation_indices(fixations, smap.shape, unique=True)
    if len(unique_fix) == 0 or len(unique_fix) == smap.size:
        return float("nan")
    values = smap.flat
    if convention == "mit":
        sweep = _judd_mit_counts(smap, unique_fix, JUDD_JITTER if jitter else 0.0,
                                 _noise_key(seed))
        if sweep is None:
            return float("nan")  # MATLAB: min-max gives an all-NaN map
        above = sweep[1][::-1]  # MIT sweeps the fixated values descending: t_1 >= t_2 >= ...
        n_fix, n_pix = len(unique_fix), smap.size
        rank = np.arange(1, n_fix + 1)
        tp = rank / n_fix
        fp = (above - rank) / (n_pix - n_fix)
        return float(_trapz_with_ends(fp, tp))
    if jitter:
        values = values + np.random.default_rng(seed).standard_normal(values.shape) * JUDD_JITTER
    all_fix = fixation_indices(fixations, smap.shape, unique=False)
    fixated = np.zeros(values.shape, dtype=bool)
    fixated[unique_fix] = True
    positives = np.sort(values[all_fix])
    negatives = values[~fixated]
    tp = _counts_at_or_above(positives, positives)[::-1] / len(positives)
    fp = _counts_at_or_above(negatives, positives)[::-1] / len(negatives)
    return float(_trapz_with_ends(fp, tp))


def auc_borji(saliency_map, fixations, *, exact=False, n_splits=100, step=0.1, seed=0,
              convention="mit"):
    """AUC-Borji: fixated values against uniformly random pixels (MIT `AUC_Borji.m`).

    Sampled form (default, MIT): min-max normalise S; per split draw Nfix pixels uniformly WITH
    replacement from all pixels (fixated ones included); thresholds 0:step:max descending;
    tp = #(pos >= t)/Nfix, fp = #(rand >= t)/Nfix; trapz; mean over `n_splits`. MIT returns NaN
    when fewer than 2 pixels are fixated (`sum(fixationMap(:)>0)<=1`), kept here. Seeded, but the
    numbers are not MATLAB's random draws: expect ~1e-3 split noise at 100 splits.
    Exact form (`exact=True`): the sampling-free limit with every pixel a negative and every
    distinct value a threshold, P(pos > pix) + 0.5 P(pos == pix) — pysaliency's `AUC(...,
    nonfixations='uniform')` per image. It does not quantise thresholds to `step`, so it is
    slightly higher than the sampled form for smooth maps.

    Positives: each fixated pixel once ("mit"), each fixation ("pysaliency").
    Constant map: sampled form NaN (MIT min-max 0/0); exact form 0.5 (all ties).

    Returns:
      float AUC or NaN.
    """
    _check_convention(convention)
    smap = _prepared(saliency_map)
    fix = fixation_indices(fixations, smap.shape, unique=(convention == "mit"))
    values = smap.flat
    if exact:
        if len(fix) == 0:
            return float("nan")
        # Every pixel a negative: count with the sweep AUC-Judd also uses.
        unique_fix = fix if convention == "mit" else fixation_indices(fixations, smap.shape)
        sweep = _fixated_sweep(smap, unique_fix)
        positives = values[fix]
        order = np.argsort(positives, kind="stable")
        ge, gt = _exact_counts(sweep.near_values, positives[order])
        far = sweep.far_above(fix)[order]
        return _auc_from_counts(ge + far, gt + far, smap.size)
    if len(_unique(fix)) <= 1:
        return float("nan")
    rng = np.random.default_rng(seed)
    random_pixels = rng.integers(0, len(values), size=(n_splits, len(fix)))
    normalised = _min_max(smap, np.concatenate([fix, random_pixels.ravel()]))
    if normalised is None:
        return float("nan")
    positives, negatives = normalised[:len(fix)], normalised[len(fix):]
    return float(np.mean(_sampled_step_auc(positives, negatives.reshape(random_pixels.shape),
                                           step)))


def auc_shuffled(saliency_map, fixations, other_fixations, *, exact=False, n_splits=100, step=0.1,
                 seed=0, convention="mit"):
    """Shuffled AUC: negatives are fixations made on OTHER images (MIT `AUC_shuffled.m`).

    `other_fixations` is in this image's (H, W) grid: a fixation map (MIT's `otherMap`, the union
    of the fixations of M other images; Borji uses M = 10) or an [N, 2] (row, col) array (rescale
    other images' fixations to this size first, as pysaliency does).
    Sampled form (default, MIT): min-max normalise S; per split a random permutation of the
    other-fixated pixels (each once, binary `otherMap`) and the first min(Nfix, Nother) WITHOUT
    replacement; thresholds 0:step:max; mean over `n_splits` splits.
    Exact form (`exact=True`): all other fixations are negatives, every value a threshold,
    ties half — pysaliency's `sAUC` per image (its "shuffled" uses ALL fixations on all other
    images, duplicates included; pass convention="pysaliency" and a full [N, 2] list for that).

    Constant map: sampled NaN (MIT), exact 0.5. No fixations or no other fixations: NaN.
    """
    _check_convention(convention)
    smap = _prepared(saliency_map)
    unique = convention == "mit"
    fix = fixation_indices(fixations, smap.shape, unique=unique)
    other = fixation_indices(other_fixations, smap.shape, unique=unique)
    if len(fix) == 0 or len(other) == 0:
        return float("nan")
    values = smap.flat
    if exact:
        return _rank_auc(values[fix], values[other])
    normalised = _min_max(smap, np.concatenate([fix, other]))
    if normalised is None:
        return float("nan")
    positives, negatives = normalised[:len(fix)], normalised[len(fix):]
    rng = np.random.default_rng(seed)
    n_neg = min(len(fix), len(other))
    # MIT takes the first n_neg of a random permutation per split == a random n_neg-subset
    # without replacement (Generator.choice: O(n_neg) per split).
    picks = np.stack([rng.choice(len(other), n_neg, replace=False) for _ in range(n_splits)])
    return float(np.mean(_sampled_step_auc(positives, negatives[picks], step)))


# --------------------------------------------------------------------------- value metrics


def nss(saliency_map, fixations, *, convention="mit"):
    """Normalised scanpath saliency (MIT `NSS.m`): mean of (S - mean(S)) / std(S) at fixations.

    MIT: std with ddof=1 (MATLAB `std`), each fixated pixel once (binary map).
    pysaliency: std with ddof=0 (`np.std`), every fixation (duplicates twice); the two differ by
    the factor sqrt((N-1)/N) ~ 1 - 1e-6 at 800x600 plus the duplicate weighting.
    Invariant to S -> a*S + b for a > 0.
    Constant map: MIT NaN (0/0, as MATLAB); pysaliency 0 (it skips the division when std == 0).
    No fixations: NaN.
    """
    _check_convention(convention)
    smap = _prepared(saliency_map)
    fix = fixation_indices(fixations, smap.shape, unique=(convention == "mit"))
    if len(fix) == 0:
        return float("nan")
    if smap.is_constant:
        # Tested exactly: summation error would leave std ~1e-17 and a garbage NSS.
        return float("nan") if convention == "mit" else 0.0
    # std as MATLAB/NumPy compute it (two-pass: sum of squared deviations).
    ddof = 1 if convention == "mit" else 0
    std = np.sqrt(smap.centred_sum_squares / (smap.size - ddof))
    return float(np.mean((smap.flat[fix] - smap.mean) / std))


def cc(saliency_map, gt_map, *, convention="mit"):
    """Pearson linear correlation coefficient between S and G (MIT `CC.m`, MATLAB `corr2`).

    ddof does not matter (it cancels). Invariant to a*S + b (a > 0) and symmetric.
    Constant map: MIT NaN (corr2 is 0/0); pysaliency 0.0 when only S is constant, NaN when G is.
    """
    _check_convention(convention)
    smap = _prepared(saliency_map)
    gmap = _prepared(gt_map, "gt_map")
    _check_same_shape(smap, gmap, "gt_map")
    if smap.is_constant or gmap.is_constant:  # tested exactly, not via a rounded std
        return 0.0 if convention == "pysaliency" and not gmap.is_constant else float("nan")
    denominator = np.sqrt(smap.centred_sum_squares * gmap.centred_sum_squares)
    return float(np.dot(smap.centred(_buffer("f0", smap.size)),
                        gmap.centred(_buffer("f1", gmap.size))) / denominator)


def kld(saliency_map, gt_map, *, convention="mit"):
    """KL divergence KL(G || S) in nats (MIT `KLdiv.m`); lower is better.

    Both maps sum-normalised (a map that is all zero is left as is), then
    sum G * log(eps + G / (S + eps)) with MATLAB's eps = 2^-52 and the natural log. No min-max.
    pysaliency `MIT_KLDiv` is the same formula with eps = 2.2204e-16 (used with
    convention="pysaliency"); it also shifts negative maps to min 0 and makes all-zero maps
    uniform. Constant S: finite (S is the uniform density).
    """
    _check_convention(convention)
    smap = _prepared(saliency_map)
    gmap = _prepared(gt_map, "gt_map")
    _check_same_shape(smap, gmap, "gt_map")
    if convention == "mit":
        # MIT: `if any(map(:))` normalise; an all-zero map is left as is (total 1 == no-op).
        s_scale = 1.0 / smap.total if not smap.is_all_zero else 1.0
        g_scale = 1.0 / gmap.total if not gmap.is_all_zero else 1.0
        s_values, g_values, eps = smap.flat, gmap.flat, MATLAB_EPS
    else:
        s_values = smap.pysaliency_density(_buffer("f1", smap.size))
        g_values = gmap.pysaliency_density(_buffer("f2", gmap.size))
        s_scale = g_scale = 1.0
        eps = PYSALIENCY_EPS
    # sum q * log(eps + q / (p + eps)) with p = S * s_scale, q = G * g_scale, computed in place
    # in one temporary (memory bandwidth is the cost at 800x600).
    ratio = np.multiply(s_values, s_scale, out=_buffer("f0", smap.size))
    ratio += eps
    np.divide(g_values, ratio, out=ratio)
    if g_scale != 1.0:
        ratio *= g_scale
    ratio += eps
    np.log(ratio, out=ratio)
    return float(np.dot(g_values, ratio) * g_scale)


def sim(saliency_map, gt_map, *, convention="mit"):
    """Similarity / histogram intersection (MIT `similarity.m`): sum of min(S', G') in [0, 1].

    MIT: each map min-max normalised to [0, 1], then sum-normalised (an all-zero map stays zero
    and gives 0). pysaliency `SIM`: NO min-max (only a shift when negative), then sum-normalised.
    This matters for maps with a positive floor (e.g. the centre-bias Gaussian): MIT removes it.
    Constant non-zero map: MIT NaN (min-max 0/0); pysaliency treats it as uniform.
    """
    _check_convention(convention)
    smap = _prepared(saliency_map)
    gmap = _prepared(gt_map, "gt_map")
    _check_same_shape(smap, gmap, "gt_map")
    if convention == "mit":
        # MIT: an all-zero map stays zero; otherwise min-max then sum-normalise.
        p = smap.flat if smap.is_all_zero else smap.mit_density(_buffer("f0", smap.size))
        q = gmap.flat if gmap.is_all_zero else gmap.mit_density(_buffer("f1", gmap.size))
        if p is None or q is None:  # constant non-zero map: MATLAB 0/0
            return float("nan")
    else:
        p = smap.pysaliency_density(_buffer("f0", smap.size))
        q = gmap.pysaliency_density(_buffer("f1", gmap.size))
    return float(np.minimum(p, q, out=_buffer("f0", smap.size)).sum())


def information_gain(saliency_map, fixations, baseline_map, *, convention="mit"):
    """Information gain over a baseline, in bits per fixation (MIT `InfoGain.m`, Kümmerer 2015).

    MIT: both maps min-max normalised then sum-normalised to densities p, b;
    IG = mean over fixated pixels (each once) of log2(eps + p) - log2(eps + b), MATLAB's eps.
    Note MIT's min-max makes the least salient pixel probability 0, so a fixation there costs
    log2(eps) ~ -52 bits: min-max matters for IG.
    pysaliency: treat each map as a density directly (shift if negative, sum to 1, no min-max),
    average over every fixation (duplicates twice), eps 2.2204e-16. (pysaliency's own IG needs a
    probabilistic model; this is the saliency-map-as-density reading of it.)
    The default baseline in this project is the centre-bias map (`salgan_tf.baselines`).
    Constant map: MIT NaN (min-max 0/0). No fixations: NaN.
    """
    _check_convention(convention)
    smap = _prepared(saliency_map)
    bmap = _prepared(baseline_map, "baseline_map")
    _check_same_shape(smap, bmap, "baseline_map")
    fix = fixation_indices(fixations, smap.shape, unique=(convention == "mit"))
    if len(fix) == 0:
        return float("nan")
    if convention == "mit":
        p_fix, b_fix, eps = smap.mit_density_at(fix), bmap.mit_density_at(fix), MATLAB_EPS
    else:
        p_fix = smap.pysaliency_density(_buffer("f0", smap.size))[fix]
        b_fix = bmap.pysaliency_density(_buffer("f0", bmap.size))[fix]
        eps = PYSALIENCY_EPS
    with np.errstate(invalid="ignore"):
        return float(np.mean(np.log2(eps + p_fix) - np.log2(eps + b_fix)))


def emd(saliency_map, gt_map, *, downsize=32):
    """Earth mover's distance between S and G as mass distributions (MIT `EMD.m`); lower is better.

    As MIT: G is shrunk by 1/`downsize` (here by block averaging, MATLAB uses bicubic imresize),
    S to the same size, both sum-normalised, ground distance Euclidean in pixels of the small grid,
    extra-mass penalty 0 (equal masses, so emd_hat = the plain EMD). Solved exactly as a
    transport linear programme with `scipy.optimize.linprog` (HiGHS), so it is slow (~1 s for
    19x25 bins); it is off by default in `evaluate`.
    """
    from scipy import optimize
    from scipy import sparse

    smap = _as_map(saliency_map)
    gmap = _as_map(gt_map, "gt_map")
    _check_same_shape(smap, gmap, "gt_map")
    small_g = block_mean(gmap, downsize)
    small_s = block_mean(smap, downsize)
    if small_g.sum() <= 0 or small_s.sum() <= 0 or small_g.min() < 0 or small_s.min() < 0:
        return float("nan")
    supply = (small_g / small_g.sum()).ravel()
    demand = (small_s / small_s.sum()).ravel()
    rows, cols = np.indices(small_g.shape)
    coords = np.stack([rows.ravel(), cols.ravel()], axis=1).astype(np.float64)
    cost = np.sqrt(((coords[:, None, :] - coords[None, :, :]) ** 2).sum(-1)).ravel()
    n = len(supply)
    eye = sparse.identity(n, format="csr")
    ones = sparse.csr_matrix(np.ones((1, n)))
    a_eq = sparse.vstack([sparse.kron(eye, ones), sparse.kron(ones, eye)]).tocsr()
    b_eq = np.concatenate([supply, demand])
    result = optimize.linprog(cost, A_eq=a_eq[:-1], b_eq=b_eq[:-1], bounds=(0, None),
                              method="highs")
    if not result.success:
        raise RuntimeError(f"EMD transport problem failed: {result.message}")
    return float(result.fun)


def block_mean(values, factor):
    """Averages non-overlapping `factor` x `factor` blocks (partial edge blocks included)."""
    values = np.asarray(values, dtype=np.float64)
    height, width = values.shape
    out_h, out_w = -(-height // factor), -(-width // factor)
    sums = np.zeros((out_h, out_w))
    counts = np.zeros((out_h, out_w))
    row_bins = np.arange(height) // factor
    col_bins = np.arange(width) // factor
    np.add.at(sums, (row_bins[:, None], col_bins[None, :]), values)
    np.add.at(counts, (row_bins[:, None], col_bins[None, :]), 1.0)
    return sums / counts


# --------------------------------------------------------------------------- TF versions (losses)


def tf_nss(saliency_maps, fixation_maps):
    """NSS per example for batches `[B, H, W, 1]` (differentiable; MIT ddof=1, binary fixations).

    Returns `[B]` float32; higher is better (negate it for a loss). Constant map gives NaN.
    """
    import tensorflow as tf

    s = tf.cast(saliency_maps, tf.float32)
    f = tf.cast(tf.cast(fixation_maps, tf.float32) > 0, tf.float32)
    n = tf.cast(tf.reduce_prod(tf.shape(s)[1:]), tf.float32)
    mean = tf.reduce_mean(s, axis=[1, 2, 3], keepdims=True)
    var = tf.reduce_sum(tf.square(s - mean), axis=[1, 2, 3], keepdims=True) / (n - 1.0)
    z = (s - mean) / tf.sqrt(var)
    return tf.reduce_sum(z * f, axis=[1, 2, 3]) / tf.reduce_sum(f, axis=[1, 2, 3])


def tf_cc(saliency_maps, gt_maps):
    """Pearson CC per example for batches `[B, H, W, 1]`; `[B]` float32 (negate for a loss)."""
    import tensorflow as tf

    s = tf.cast(saliency_maps, tf.float32)
    g = tf.cast(gt_maps, tf.float32)
    s = s - tf.reduce_mean(s, axis=[1, 2, 3], keepdims=True)
    g = g - tf.reduce_mean(g, axis=[1, 2, 3], keepdims=True)
    return tf.reduce_sum(s * g, axis=[1, 2, 3]) / tf.sqrt(
        tf.reduce_sum(s * s, axis=[1, 2, 3]) * tf.reduce_sum(g * g, axis=[1, 2, 3]))


def tf_kld(saliency_maps, gt_maps, eps=MATLAB_EPS):
    """MIT KL(G || S) per example for batches `[B, H, W, 1]`, natural log; `[B]` float32 (a loss).

    float32 cannot hold eps (2.2e-16) next to 1, so results match the NumPy version to ~1e-5.
    """
    import tensorflow as tf

    s = tf.cast(saliency_maps, tf.float32)
    g = tf.cast(gt_maps, tf.float32)
    s = s / tf.reduce_sum(s, axis=[1, 2, 3], keepdims=True)
    g = g / tf.reduce_sum(g, axis=[1, 2, 3], keepdims=True)
    return tf.reduce_sum(g * tf.math.log(eps + g / (s + eps)), axis=[1, 2, 3])


def tf_sim(saliency_maps, gt_maps):
    """MIT SIM per example (min-max, sum-normalise, sum of minima); `[B]` float32."""
    import tensorflow as tf

    def density(x):
        x = tf.cast(x, tf.float32)
        low = tf.reduce_min(x, axis=[1, 2, 3], keepdims=True)
        high = tf.reduce_max(x, axis=[1, 2, 3], keepdims=True)
        x = (x - low) / (high - low)
        return x / tf.reduce_sum(x, axis=[1, 2, 3], keepdims=True)

    return tf.reduce_sum(tf.minimum(density(saliency_maps), density(gt_maps)), axis=[1, 2, 3])
