"""The three AUCs of the MIT benchmark: AUC-Judd, AUC-Borji and shuffled AUC (sAUC).

Each scores ONE image: how well the saliency map S separates the fixated pixels (positives) from
negatives — all unfixated pixels (Judd), uniformly random pixels (Borji), or fixations made on
other images (sAUC, which discounts centre bias). Each follows the MIT code (`AUC_Judd.m`,
`AUC_Borji.m`, `AUC_shuffled.m`) by default and pysaliency with `convention="pysaliency"`
(see `conventions`). Below the three metrics: the ROC arithmetic they share. How the pixels are
counted against the thresholds fast is in `_counting`.
"""
import numpy as np

from salgan_tf.metrics import _counting
from salgan_tf.metrics.conventions import JUDD_JITTER
from salgan_tf.metrics.conventions import check_convention
from salgan_tf.metrics.inputs import as_prepared
from salgan_tf.metrics.inputs import fixation_indices
from salgan_tf.metrics.inputs import unique_indices

def auc_judd(saliency_map, fixations, *, jitter=True, seed=0, convention="mit"):
    """AUC-Judd: ROC with thresholds at the fixated saliency values (MIT `AUC_Judd.m`).

    MIT (default): optional jitter `S += U[0,1) * 1e-7` (MATLAB's `rand` is not seeded; here the
    noise of flat pixel i is `u(key + i)`, u = splitmix64 (Steele, Lea & Flood 2014) of the
    64-bit sum, top 53 bits / 2^53, key = `np.random.default_rng(seed).integers(0, 2**63)`, and it
    is drawn only where it can change a comparison: `_counting.judd_mit_counts`), then
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
    check_convention(convention)
    smap = as_prepared(saliency_map)
    unique_fix = fixation_indices(fixations, smap.shape, unique=True)
    if len(unique_fix) == 0 or len(unique_fix) == smap.size:
        return float("nan")
    values = smap.flat
    if convention == "mit":
        sweep = _counting.judd_mit_counts(smap, unique_fix, JUDD_JITTER if jitter else 0.0,
                                          _counting.noise_key(seed))
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
    tp = _counting.counts_at_or_above(positives, positives)[::-1] / len(positives)
    fp = _counting.counts_at_or_above(negatives, positives)[::-1] / len(negatives)
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
    check_convention(convention)
    smap = as_prepared(saliency_map)
    fix = fixation_indices(fixations, smap.shape, unique=(convention == "mit"))
    values = smap.flat
    if exact:
        if len(fix) == 0:
            return float("nan")
        # Every pixel a negative: count with the sweep AUC-Judd also uses.
        unique_fix = fix if convention == "mit" else fixation_indices(fixations, smap.shape)
        sweep = _counting.fixated_sweep(smap, unique_fix)
        positives = values[fix]
        order = np.argsort(positives, kind="stable")
        ge, gt = _counting.exact_counts(sweep.near_values, positives[order])
        far = sweep.far_above(fix)[order]
        return _auc_from_counts(ge + far, gt + far, smap.size)
    if len(unique_indices(fix)) <= 1:
        return float("nan")
    rng = np.random.default_rng(seed)
    random_pixels = rng.integers(0, len(values), size=(n_splits, len(fix)))
    normalised = smap.min_max(np.concatenate([fix, random_pixels.ravel()]))
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
    check_convention(convention)
    smap = as_prepared(saliency_map)
    unique = convention == "mit"
    fix = fixation_indices(fixations, smap.shape, unique=unique)
    other = fixation_indices(other_fixations, smap.shape, unique=unique)
    if len(fix) == 0 or len(other) == 0:
        return float("nan")
    values = smap.flat
    if exact:
        return _rank_auc(values[fix], values[other])
    normalised = smap.min_max(np.concatenate([fix, other]))
    if normalised is None:
        return float("nan")
    positives, negatives = normalised[:len(fix)], normalised[len(fix):]
    rng = np.random.default_rng(seed)
    n_neg = min(len(fix), len(other))
    # MIT takes the first n_neg of a random permutation per split == a random n_neg-subset
    # without replacement (Generator.choice: O(n_neg) per split).
    picks = np.stack([rng.choice(len(other), n_neg, replace=False) for _ in range(n_splits)])
    return float(np.mean(_sampled_step_auc(positives, negatives[picks], step)))


# --------------------------------------------------------------------------- ROC arithmetic


def _rank_auc(positives, negatives):
    """Exact AUC = P(pos > neg) + 0.5 P(pos == neg) (Mann-Whitney U / number of pairs).

    Equals the trapezoid area of the ROC swept over every distinct value (pysaliency
    `general_roc(judd=0)`), ties giving half credit:
    sum_j [#(neg < p_j) + 0.5 #(neg == p_j)] / (#pos #neg).
    """
    if len(positives) == 0 or len(negatives) == 0:
        return float("nan")
    ge, gt = _counting.threshold_counts(negatives, np.sort(positives))
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
    tp = _counting.counts_at_or_above(positives, thresholds) / len(positives)
    index = np.searchsorted(thresholds, negatives_per_split, side="right")
    offsets = (np.arange(n_splits) * (num + 1))[:, None]
    hist = np.bincount((index + offsets).ravel(), minlength=n_splits * (num + 1))
    below_or_equal = np.cumsum(hist.reshape(n_splits, num + 1), axis=1)[:, :num]
    fp = (n_neg - below_or_equal) / n_neg
    # Descending thresholds, as MIT's fliplr(0:step:max).
    return _trapz_with_ends(fp[:, ::-1], np.broadcast_to(tp[::-1], fp.shape))
