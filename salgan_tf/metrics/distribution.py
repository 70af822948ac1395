"""Distribution-based metrics: the saliency map S against the continuous ground-truth map G.

CC (MIT `CC.m`), KLD (`KLdiv.m`), SIM (`similarity.m`) and EMD (`EMD.m`); each scores ONE image,
S and G at the same (H, W). MIT conventions by default, pysaliency's with
`convention="pysaliency"` (see `conventions`); EMD has the MIT form only.
"""
import numpy as np

from salgan_tf.metrics._workspace import buffer
from salgan_tf.metrics.conventions import MATLAB_EPS
from salgan_tf.metrics.conventions import PYSALIENCY_EPS
from salgan_tf.metrics.conventions import check_convention
from salgan_tf.metrics.inputs import as_map
from salgan_tf.metrics.inputs import as_prepared
from salgan_tf.metrics.inputs import check_same_shape


def cc(saliency_map, gt_map, *, convention="mit"):
    """Pearson linear correlation coefficient between S and G (MIT `CC.m`, MATLAB `corr2`).

    ddof does not matter (it cancels). Invariant to a*S + b (a > 0) and symmetric.
    Constant map: MIT NaN (corr2 is 0/0); pysaliency 0.0 when only S is constant, NaN when G is.
    """
    check_convention(convention)
    smap = as_prepared(saliency_map)
    gmap = as_prepared(gt_map, "gt_map")
    check_same_shape(smap, gmap, "gt_map")
    if smap.is_constant or gmap.is_constant:  # tested exactly, not via a rounded std
        return 0.0 if convention == "pysaliency" and not gmap.is_constant else float("nan")
    denominator = np.sqrt(smap.centred_sum_squares * gmap.centred_sum_squares)
    return float(np.dot(smap.centred(buffer("f0", smap.size)),
                        gmap.centred(buffer("f1", gmap.size))) / denominator)


def kld(saliency_map, gt_map, *, convention="mit"):
    """KL divergence KL(G || S) in nats (MIT `KLdiv.m`); lower is better.

    Both maps sum-normalised (a map that is all zero is left as is), then
    sum G * log(eps + G / (S + eps)) with MATLAB's eps = 2^-52 and the natural log. No min-max.
    pysaliency `MIT_KLDiv` is the same formula with eps = 2.2204e-16 (used with
    convention="pysaliency"); it also shifts negative maps to min 0 and makes all-zero maps
    uniform. Constant S: finite (S is the uniform density).
    """
    check_convention(convention)
    smap = as_prepared(saliency_map)
    gmap = as_prepared(gt_map, "gt_map")
    check_same_shape(smap, gmap, "gt_map")
    if convention == "mit":
        # MIT: `if any(map(:))` normalise; an all-zero map is left as is (total 1 == no-op).
        s_scale = 1.0 / smap.total if not smap.is_all_zero else 1.0
        g_scale = 1.0 / gmap.total if not gmap.is_all_zero else 1.0
        s_values, g_values, eps = smap.flat, gmap.flat, MATLAB_EPS
    else:
        s_values = smap.pysaliency_density(buffer("f1", smap.size))
        g_values = gmap.pysaliency_density(buffer("f2", gmap.size))
        s_scale = g_scale = 1.0
        eps = PYSALIENCY_EPS
    # sum q * log(eps + q / (p + eps)) with p = S * s_scale, q = G * g_scale, computed in place
    # in one temporary (memory bandwidth is the cost at 800x600).
    ratio = np.multiply(s_values, s_scale, out=buffer("f0", smap.size))
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
    check_convention(convention)
    smap = as_prepared(saliency_map)
    gmap = as_prepared(gt_map, "gt_map")
    check_same_shape(smap, gmap, "gt_map")
    if convention == "mit":
        # MIT: an all-zero map stays zero; otherwise min-max then sum-normalise.
        p = smap.flat if smap.is_all_zero else smap.mit_density(buffer("f0", smap.size))
        q = gmap.flat if gmap.is_all_zero else gmap.mit_density(buffer("f1", gmap.size))
        if p is None or q is None:  # constant non-zero map: MATLAB 0/0
            return float("nan")
    else:
        p = smap.pysaliency_density(buffer("f0", smap.size))
        q = gmap.pysaliency_density(buffer("f1", gmap.size))
    return float(np.minimum(p, q, out=buffer("f0", smap.size)).sum())


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

    smap = as_map(saliency_map)
    gmap = as_map(gt_map, "gt_map")
    check_same_shape(smap, gmap, "gt_map")
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
