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

All AUCs are vectorised: no loop over thresholds and no sort of the image — pixels are bucketed
against the sorted thresholds with one histogram (`_threshold_counts`), sampled splits are binned
all at once. Full-image temporaries reuse per-thread work buffers. Timings against pysaliency:
bench/metrics_vs_pysaliency.py and docs/metrics.md.
"""
from __future__ import annotations

import threading

import numpy as np

# MATLAB's eps as typed in KLdiv.m / InfoGain.m (pysaliency's MIT_KLDiv uses the same literal).
MATLAB_EPS = 2.2204e-16
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
    """A reusable 1-D work array of `size` for `slot` ("f0", "f1", "i0", "b0"). Its contents are
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
    """Returns a finite float64 2-D copy of `array` or raises ValueError naming `what`."""
    # No copy for float64 input: the metrics never write into their inputs.
    result = np.asarray(array, dtype=np.float64)
    if result.ndim == 3 and result.shape[-1] == 1:
        result = result[..., 0]
    if result.ndim != 2:
        raise ValueError(f"{what} must be 2-D (H, W) or (H, W, 1), got shape {np.shape(array)}")
    if result.size == 0:
        raise ValueError(f"{what} is empty (shape {result.shape})")
    # One summing pass instead of isfinite + all; the full test only when the sum is not finite.
    if not np.isfinite(result.sum()) and not np.all(np.isfinite(result)):
        raise ValueError(f"{what} contains NaN or inf")
    if not np.isfinite(result.sum()):
        raise ValueError(f"{what} values are too large to sum (overflow)")
    return result


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
      fixations: fixation map of `shape` (binary or counts) or an [N, 2] (row, col) array.
      shape: (H, W) of the saliency map.
      unique: True gives each fixated pixel once (the MIT binary fixation map); False repeats a
        pixel once per fixation (pysaliency), which needs a list or a count map.

    Returns:
      int64 [K] indices, sorted when `unique`.
    """
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
    return _unique(flat) if unique else flat


def _unique(flat):
    """Sorted distinct values (np.unique's hash path is ~3x slower on 10k-point lists)."""
    ordered = np.sort(flat)
    if len(ordered) < 2:
        return ordered
    keep = np.empty(len(ordered), dtype=bool)
    keep[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=keep[1:])
    return ordered[keep]


def _min_max(values, picked=None):
    """MIT `(S - min(S)) / (max(S) - min(S))`, of all `values` or only of `values[picked]`.

    Returns None for a constant map, where MATLAB's 0/0 gives an all-NaN map and the MIT code
    returns NaN. Normalising only the picked values is the same arithmetic, value by value.
    """
    low, high = values.min(), values.max()
    if high == low:
        return None
    chosen = values if picked is None else values[picked]
    return (chosen - low) / (high - low)


def _min_max_density(values, out=None):
    """MIT min-max then sum-normalise, in one pass: (S - min) / sum(S - min) == the two steps.

    None for a constant map (MATLAB: all NaN).
    """
    low = values.min()
    total = values.sum() - values.size * low
    if total <= 0 or values.max() == low:
        return None
    shifted = np.subtract(values, low, out=out)
    shifted /= total
    return shifted


def _to_density_pysaliency(values):
    """pysaliency `convert_saliency_map_to_density(minimum_value=0)`: shift if negative, sum to 1,
    an all-zero map becomes uniform."""
    if values.min() < 0:
        values = values - values.min()
    total = values.sum()
    if total:
        return values / total
    return np.full_like(values, 1.0 / values.size)


# --------------------------------------------------------------------------- ROC helpers


_HISTOGRAM_BINS = 1 << 16


def _threshold_counts(values, thresholds_ascending):
    """For each threshold t_j: (#values >= t_j, #values > t_j), exactly, in O(Npix).

    `searchsorted` of 480k pixels into a few hundred thresholds costs ~20 ms (a mispredicted
    binary search per pixel) and a full sort ~25 ms, so instead: bucket every value into a
    65,536-bin histogram with the monotone map b(v) = floor((v - min) * scale); a value in a
    higher bucket than t_j's is certainly > t_j, one in a lower bucket certainly < t_j, and only
    the few values that share a bucket with some threshold are compared exactly.
    """
    values = np.asarray(values, dtype=np.float64)
    thresholds = np.asarray(thresholds_ascending, dtype=np.float64)
    if values.size <= _HISTOGRAM_BINS:  # short lists (e.g. sAUC negatives): a sort is cheaper
        ordered = np.sort(values)
        return (values.size - np.searchsorted(ordered, thresholds, side="left"),
                values.size - np.searchsorted(ordered, thresholds, side="right"))
    num_bins = _HISTOGRAM_BINS
    low, high = values.min(), values.max()
    scale = (num_bins - 1) / (high - low) if high > low else 0.0

    # (v - low) * scale is monotone in v and lies in [0, num_bins - 1 (+ rounding)] for the values,
    # so truncation gives buckets 0..num_bins - 1 (num_bins at worst: the arrays have one spare);
    # thresholds may lie outside [low, high] and are clipped (still monotone).
    # Work buffers f1 (scaled), i0 (buckets), b0 (shared); callers may hold f0.
    scaled = _buffer("f1", values.size)
    np.subtract(values, low, out=scaled)
    scaled *= scale
    value_bins = _buffer("i0", values.size, np.intp)
    np.copyto(value_bins, scaled, casting="unsafe")  # truncation == floor for values >= 0
    threshold_bins = np.clip((thresholds - low) * scale, 0, num_bins).astype(np.intp)
    is_threshold_bin = np.zeros(num_bins + 1, dtype=bool)
    is_threshold_bin[threshold_bins] = True
    shared = _buffer("b0", values.size, bool)
    np.take(is_threshold_bin, value_bins, out=shared)
    histogram = np.bincount(value_bins, minlength=num_bins + 1)
    histogram[is_threshold_bin] = 0  # those buckets are counted exactly below
    # above[b] = number of non-shared values in buckets > b.
    above = np.concatenate([np.cumsum(histogram[::-1])[::-1][1:], [0]])
    exact = np.sort(values[shared])
    ge = above[threshold_bins] + len(exact) - np.searchsorted(exact, thresholds, side="left")
    gt = above[threshold_bins] + len(exact) - np.searchsorted(exact, thresholds, side="right")
    return ge, gt


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
    num_neg = len(negatives)
    wins = (num_neg - ge) + 0.5 * (ge - gt)
    return float(wins.sum() / (len(positives) * num_neg))


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


# --------------------------------------------------------------------------- AUC metrics


def auc_judd(saliency_map, fixations, *, jitter=True, seed=0, convention="mit"):
    """AUC-Judd: ROC with thresholds at the fixated saliency values (MIT `AUC_Judd.m`).

    MIT (default): optional jitter `S += U[0,1) * 1e-7` (seeded here; MATLAB's `rand` is not), then
    min-max normalise; positives are the fixated pixels of the binary map (each once); for the i-th
    highest fixated value t_i: tp_i = i/Nfix, fp_i = (#{S >= t_i} - i) / (Npix - Nfix), i.e.
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
    smap = _as_map(saliency_map)
    rng = np.random.default_rng(seed)
    unique_fix = fixation_indices(fixations, smap.shape, unique=True)
    if len(unique_fix) == 0 or len(unique_fix) == smap.size:
        return float("nan")
    values = smap.ravel()
    if convention == "mit":
        if jitter:
            noise = _buffer("f0", values.size)
            rng.random(out=noise)
            noise *= JUDD_JITTER
            noise += values
            values = noise
        low, high = values.min(), values.max()
        if high == low:
            return float("nan")  # MATLAB: min-max gives an all-NaN map
        normalised = _buffer("f0", values.size)
        np.subtract(values, low, out=normalised)
        normalised /= high - low
        values = normalised
        positives = np.sort(values[unique_fix])  # ascending; MIT sweeps them descending
        n_fix, n_pix = len(positives), len(values)
        above = _counts_at_or_above(values, positives)[::-1]  # for t_1 >= t_2 >= ...
        rank = np.arange(1, n_fix + 1)
        tp = rank / n_fix
        fp = (above - rank) / (n_pix - n_fix)
        return float(_trapz_with_ends(fp, tp))
    if jitter:
        values = values + rng.standard_normal(values.shape) * JUDD_JITTER
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
    smap = _as_map(saliency_map)
    fix = fixation_indices(fixations, smap.shape, unique=(convention == "mit"))
    values = smap.ravel()
    if exact:
        if len(fix) == 0:
            return float("nan")
        return _rank_auc(values[fix], values)
    if len(_unique(fix)) <= 1:
        return float("nan")
    rng = np.random.default_rng(seed)
    random_pixels = rng.integers(0, len(values), size=(n_splits, len(fix)))
    normalised = _min_max(values, np.concatenate([fix, random_pixels.ravel()]))
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
    smap = _as_map(saliency_map)
    unique = convention == "mit"
    fix = fixation_indices(fixations, smap.shape, unique=unique)
    other = fixation_indices(other_fixations, smap.shape, unique=unique)
    if len(fix) == 0 or len(other) == 0:
        return float("nan")
    values = smap.ravel()
    if exact:
        return _rank_auc(values[fix], values[other])
    normalised = _min_max(values, np.concatenate([fix, other]))
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
    smap = _as_map(saliency_map)
    fix = fixation_indices(fixations, smap.shape, unique=(convention == "mit"))
    if len(fix) == 0:
        return float("nan")
    values = smap.ravel()
    if values.max() == values.min():
        # Tested exactly: summation error would leave std ~1e-17 and a garbage NSS.
        return float("nan") if convention == "mit" else 0.0
    mean = values.mean()
    # std as MATLAB/NumPy compute it (two-pass: sum of squared deviations), in a work buffer.
    deviations = np.subtract(values, mean, out=_buffer("f0", values.size))
    squares = float(np.dot(deviations, deviations))
    ddof = 1 if convention == "mit" else 0
    std = np.sqrt(squares / (values.size - ddof))
    return float(np.mean((values[fix] - mean) / std))


def cc(saliency_map, gt_map, *, convention="mit"):
    """Pearson linear correlation coefficient between S and G (MIT `CC.m`, MATLAB `corr2`).

    ddof does not matter (it cancels). Invariant to a*S + b (a > 0) and symmetric.
    Constant map: MIT NaN (corr2 is 0/0); pysaliency 0.0 when only S is constant, NaN when G is.
    """
    _check_convention(convention)
    smap = _as_map(saliency_map)
    gmap = _as_map(gt_map, "gt_map")
    _check_same_shape(smap, gmap, "gt_map")
    s_constant = smap.max() == smap.min()
    g_constant = gmap.max() == gmap.min()
    if s_constant or g_constant:  # tested exactly, not via a rounded std
        return 0.0 if convention == "pysaliency" and not g_constant else float("nan")
    a = np.subtract(smap.ravel(), smap.mean(), out=_buffer("f0", smap.size))
    b = np.subtract(gmap.ravel(), gmap.mean(), out=_buffer("f1", gmap.size))
    denominator = np.sqrt(np.dot(a, a) * np.dot(b, b))
    return float(np.dot(a, b) / denominator)


def kld(saliency_map, gt_map, *, convention="mit"):
    """KL divergence KL(G || S) in nats (MIT `KLdiv.m`); lower is better.

    Both maps sum-normalised (a map that is all zero is left as is), then
    sum G * log(eps + G / (S + eps)) with eps = 2.2204e-16 and the natural log. No min-max.
    pysaliency `MIT_KLDiv` is the same formula; it differs only for negative maps (shifted to
    min 0) and all-zero maps (made uniform). Constant S: finite (S is the uniform density).
    """
    _check_convention(convention)
    smap = _as_map(saliency_map)
    gmap = _as_map(gt_map, "gt_map")
    _check_same_shape(smap, gmap, "gt_map")
    if convention == "mit":
        s_total, g_total = smap.sum(), gmap.sum()
        # MIT: `if any(map(:))` normalise; an all-zero map is left as is (total 1 == no-op).
        s_scale = 1.0 / s_total if np.any(smap) else 1.0
        g_scale = 1.0 / g_total if np.any(gmap) else 1.0
    else:
        smap, gmap = _to_density_pysaliency(smap), _to_density_pysaliency(gmap)
        s_scale = g_scale = 1.0
    # sum q * log(eps + q / (p + eps)) with p = S * s_scale, q = G * g_scale, computed in place
    # in one temporary (memory bandwidth is the cost at 800x600).
    ratio = np.multiply(smap.ravel(), s_scale, out=_buffer("f0", smap.size))
    gmap = gmap.ravel()
    ratio += MATLAB_EPS
    np.divide(gmap, ratio, out=ratio)
    if g_scale != 1.0:
        ratio *= g_scale
    ratio += MATLAB_EPS
    np.log(ratio, out=ratio)
    return float(np.dot(gmap, ratio) * g_scale)


def sim(saliency_map, gt_map, *, convention="mit"):
    """Similarity / histogram intersection (MIT `similarity.m`): sum of min(S', G') in [0, 1].

    MIT: each map min-max normalised to [0, 1], then sum-normalised (an all-zero map stays zero
    and gives 0). pysaliency `SIM`: NO min-max (only a shift when negative), then sum-normalised.
    This matters for maps with a positive floor (e.g. the centre-bias Gaussian): MIT removes it.
    Constant non-zero map: MIT NaN (min-max 0/0); pysaliency treats it as uniform.
    """
    _check_convention(convention)
    smap = _as_map(saliency_map)
    gmap = _as_map(gt_map, "gt_map")
    _check_same_shape(smap, gmap, "gt_map")
    if convention == "mit":
        # MIT: an all-zero map stays zero; otherwise min-max then sum-normalise.
        p = _min_max_density(smap.ravel(), _buffer("f0", smap.size)) if np.any(smap) else smap
        q = _min_max_density(gmap.ravel(), _buffer("f1", gmap.size)) if np.any(gmap) else gmap
        if p is None or q is None:  # constant non-zero map: MATLAB 0/0
            return float("nan")
        return float(np.minimum(p.ravel(), q.ravel(), out=_buffer("f0", smap.size)).sum())
    else:
        p, q = _to_density_pysaliency(smap), _to_density_pysaliency(gmap)
    return float(np.minimum(p, q).sum())


def information_gain(saliency_map, fixations, baseline_map, *, convention="mit"):
    """Information gain over a baseline, in bits per fixation (MIT `InfoGain.m`, Kümmerer 2015).

    MIT: both maps min-max normalised then sum-normalised to densities p, b;
    IG = mean over fixated pixels (each once) of log2(eps + p) - log2(eps + b), eps = 2.2204e-16.
    Note MIT's min-max makes the least salient pixel probability 0, so a fixation there costs
    log2(eps) ~ -52 bits: min-max matters for IG.
    pysaliency: treat each map as a density directly (shift if negative, sum to 1, no min-max),
    average over every fixation (duplicates twice), same eps. (pysaliency's own IG needs a
    probabilistic model; this is the saliency-map-as-density reading of it.)
    The default baseline in this project is the centre-bias map (`salgan_tf.baselines`).
    Constant map: MIT NaN (min-max 0/0). No fixations: NaN.
    """
    _check_convention(convention)
    smap = _as_map(saliency_map)
    bmap = _as_map(baseline_map, "baseline_map")
    _check_same_shape(smap, bmap, "baseline_map")
    fix = fixation_indices(fixations, smap.shape, unique=(convention == "mit"))
    if len(fix) == 0:
        return float("nan")
    if convention == "mit":
        p_fix = _min_max_at(smap.ravel(), fix)
        b_fix = _min_max_at(bmap.ravel(), fix)
    else:
        p_fix = _to_density_pysaliency(smap.ravel())[fix]
        b_fix = _to_density_pysaliency(bmap.ravel())[fix]
    with np.errstate(invalid="ignore"):
        return float(np.mean(np.log2(MATLAB_EPS + p_fix) - np.log2(MATLAB_EPS + b_fix)))


def _min_max_at(values, index):
    """`_min_max_density(values)[index]` from min, sum and the picked values only."""
    low = values.min()
    total = values.sum() - values.size * low
    if total <= 0 or values.max() == low:
        return np.full(len(index), np.nan)
    return (values[index] - low) / total


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

    float32 cannot hold 2.2204e-16 next to 1, so results match the NumPy version to ~1e-5.
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
