"""How the AUCs count pixels against thresholds fast; the definitions are in `auc.py`.

No loop over thresholds and no sort of the image: pixels are bucketed with one histogram and only
the few sharing a bucket with a threshold are compared exactly (`bucket_split`, `threshold_counts`).
AUC-Judd and exact AUC-Borji share that split (`FixatedSweep`, cached on the `PreparedMap`), and
AUC-Judd's jitter is drawn only for those pixels, from a counter-based noise field
(`pixel_noise`), so the result equals jittering every pixel (`judd_mit_counts`). Every count is
exact: these functions change the speed, never a number. Timings against pysaliency:
bench/metrics_vs_pysaliency.py and docs/metrics.md.
"""
import numpy as np

from salgan_tf.metrics._workspace import buffer
from salgan_tf.metrics.conventions import JUDD_JITTER

_HISTOGRAM_BINS = 1 << 16  # buckets for a full image; shorter lists get ~one per value
_SEARCH_ONLY = 4096  # at most this many values: binary search of each is cheaper than buckets


def buckets(values, low, high, num_bins):
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
    value_bins = buffer("i0", values.size, np.intp)
    if 0 <= low <= high / 2 and high > 0:
        offset, scale = 0.0, (num_bins - 1) / high
        np.multiply(values, scale, out=value_bins, casting="unsafe")  # truncation == floor, v >= 0
    else:
        offset, scale = low, ((num_bins - 1) / (high - low) if high > low else 0.0)
        shifted = np.subtract(values, offset, out=buffer("f1", values.size))
        np.multiply(shifted, scale, out=value_bins, casting="unsafe")

    def bucket_of(points):
        return np.clip((np.asarray(points, dtype=np.float64) - offset) * scale, 0,
                       num_bins).astype(np.intp)

    return value_bins, bucket_of, (1.0 / scale if scale else np.inf)


def threshold_counts(values, thresholds_ascending):
    """For each threshold t_j: (#values >= t_j, #values > t_j), exactly, in O(Npix).

    `searchsorted` of 480k pixels into a few hundred thresholds costs ~20 ms (a mispredicted
    binary search per pixel) and a full sort ~25 ms, so instead the values are split by bucket
    (`bucket_split`): only the few sharing a bucket with some threshold are compared exactly.

    Args:
      values: float64 [N] values to count.
      thresholds_ascending: float64 [K] sorted thresholds (any range, duplicates allowed).
    """
    values = np.asarray(values, dtype=np.float64)
    thresholds = np.asarray(thresholds_ascending, dtype=np.float64)
    near, far_above = bucket_split(values, values.min(), values.max(), thresholds)
    ge, gt = exact_counts(values if near is None else values[near], thresholds)
    return ge + far_above, gt + far_above


def exact_counts(values, thresholds_ascending):
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


def bucket_split(values, low, high, anchors, amplitude=None):
    """Splits `values` (within [low, high]) into the few to compare exactly and the rest.

    Values are bucketed (`buckets`). "Near" buckets: each anchor's own bucket, widened each way
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
    value_bins, bucket_of, width = buckets(values, low, high, num_bins)
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
    near = np.take(is_near_bin, value_bins, out=buffer("b0", values.size, bool))
    histogram = np.bincount(value_bins, minlength=num_bins + 1)
    histogram[is_near_bin] = 0
    far_at_or_below = np.cumsum(histogram)
    return np.flatnonzero(near), far_at_or_below[-1] - far_at_or_below[centres]


def counts_at_or_above(values, thresholds_ascending):
    """#values >= t_j for each threshold (see `threshold_counts`)."""
    return threshold_counts(values, thresholds_ascending)[0]


def noise_key(seed):
    """A 64-bit key for `pixel_noise` from a seed (int, sequence or np.random.Generator)."""
    return int(np.random.default_rng(seed).integers(0, 2**63))


def pixel_noise(indices, key):
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


class FixatedSweep:
    """A map's pixels split once for counting against thresholds at its fixated values.

    Shared by AUC-Judd (thresholds: the jittered fixated values, within `JUDD_JITTER` of the
    raw ones) and exact AUC-Borji (the raw fixated values), cached on the `PreparedMap`:
    `near` pixels (`bucket_split`, sorted flat indices) are compared exactly, every other
    pixel is counted through `far_above`.
    """

    def __init__(self, smap, fixated_unique):
        self.fixated = fixated_unique
        near, self._far_above = bucket_split(smap.flat, smap.low, smap.high,
                                             smap.flat[fixated_unique], JUDD_JITTER)
        self.near = np.arange(smap.size) if near is None else near
        self.near_values = smap.flat[self.near]

    def far_above(self, pixels):
        """Number of far pixels above fixated pixel(s) `pixels` (flat indices)."""
        return self._far_above[np.searchsorted(self.fixated, pixels)]

    def positions(self, pixels):
        """Where fixated pixel(s) `pixels` sit in `near`."""
        return np.searchsorted(self.near, pixels)


def fixated_sweep(smap, fixated_unique):
    """`smap`'s `FixatedSweep` for these fixated pixels (made once, the last one cached)."""
    if smap.sweep is None or not np.array_equal(smap.sweep.fixated, fixated_unique):
        smap.sweep = FixatedSweep(smap, fixated_unique)
    return smap.sweep


def judd_mit_counts(smap, fixated, amplitude, key):
    """MIT AUC-Judd's sweep: the fixated values of min-max(S + noise), ascending, and for each
    the number of pixels (fixated included) at or above it; None for a constant map.

    noise = `amplitude` * `pixel_noise`, amplitude 0 or `JUDD_JITTER`. Drawing it for all 480k
    pixels would be the costliest step, yet it can only change a comparison between values less
    than `amplitude` apart: only the sweep's near pixels (near a fixated value or the map's min or
    max, where the jittered extremes lie) get their noise and are compared exactly on the
    jittered, min-max normalised values as MIT computes them; far pixels are counted by bucket.
    Equal to jittering every pixel with the same noise field (tested against the MIT loop).
    """
    sweep = fixated_sweep(smap, fixated)
    jittered = sweep.near_values
    if amplitude:
        jittered = jittered + amplitude * pixel_noise(sweep.near, key)
    j_low, j_high = jittered.min(), jittered.max()
    if j_high == j_low:
        return None
    normalised = jittered - j_low  # MIT: (S - min(S)) / (max(S) - min(S))
    normalised /= j_high - j_low
    fixated_values = normalised[sweep.positions(fixated)]
    order = np.argsort(fixated_values, kind="stable")
    thresholds = fixated_values[order]
    at_or_above = exact_counts(normalised, thresholds)[0]
    return thresholds, at_or_above + sweep.far_above(fixated)[order]
