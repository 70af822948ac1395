"""Location-based metrics besides the AUCs: NSS and information gain, S read at the fixations.

NSS (MIT `NSS.m`) and IG (`InfoGain.m`); each scores ONE image. MIT conventions by default,
pysaliency's with `convention="pysaliency"` (see `conventions`).
"""
import numpy as np

from salgan_tf.metrics._workspace import buffer
from salgan_tf.metrics.conventions import MATLAB_EPS
from salgan_tf.metrics.conventions import PYSALIENCY_EPS
from salgan_tf.metrics.conventions import check_convention
from salgan_tf.metrics.inputs import as_prepared
from salgan_tf.metrics.inputs import check_same_shape
from salgan_tf.metrics.inputs import fixation_indices


def nss(saliency_map, fixations, *, convention="mit"):
    """Normalised scanpath saliency (MIT `NSS.m`): mean of (S - mean(S)) / std(S) at fixations.

    MIT: std with ddof=1 (MATLAB `std`), each fixated pixel once (binary map).
    pysaliency: std with ddof=0 (`np.std`), every fixation (duplicates twice); the two differ by
    the factor sqrt((N-1)/N) ~ 1 - 1e-6 at 800x600 plus the duplicate weighting.
    Invariant to S -> a*S + b for a > 0.
    Constant map: MIT NaN (0/0, as MATLAB); pysaliency 0 (it skips the division when std == 0).
    No fixations: NaN.
    """
    check_convention(convention)
    smap = as_prepared(saliency_map)
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
    check_convention(convention)
    smap = as_prepared(saliency_map)
    bmap = as_prepared(baseline_map, "baseline_map")
    check_same_shape(smap, bmap, "baseline_map")
    fix = fixation_indices(fixations, smap.shape, unique=(convention == "mit"))
    if len(fix) == 0:
        return float("nan")
    if convention == "mit":
        p_fix, b_fix, eps = smap.mit_density_at(fix), bmap.mit_density_at(fix), MATLAB_EPS
    else:
        p_fix = smap.pysaliency_density(buffer("f0", smap.size))[fix]
        b_fix = bmap.pysaliency_density(buffer("f0", bmap.size))[fix]
        eps = PYSALIENCY_EPS
    with np.errstate(invalid="ignore"):
        return float(np.mean(np.log2(eps + p_fix) - np.log2(eps + b_fix)))
