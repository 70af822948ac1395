"""Tests for salgan_tf.metrics: hand-checked cases, invariances, slow MIT-literal references."""
import functools

import numpy as np
import pytest

from salgan_tf import baselines
from salgan_tf import metrics

H, W = 24, 32


def _random_case(seed, *, ties=False, n_fix=20):
    rng = np.random.default_rng(seed)
    smap = rng.random((H, W))
    if ties:
        smap = np.round(smap * 7) / 7  # many exact ties; k/7 avoids the 0.1-step thresholds
    gt = rng.random((H, W)) ** 3
    points = np.stack([rng.integers(0, H, n_fix), rng.integers(0, W, n_fix)], axis=1)
    points[1] = points[0]  # one duplicate fixation
    other = np.stack([rng.integers(0, H, 60), rng.integers(0, W, 60)], axis=1)
    return smap, gt, points, other


def _binary(points, shape=(H, W)):
    fmap = np.zeros(shape, dtype=bool)
    fmap[points[:, 0], points[:, 1]] = True
    return fmap


# --------------------------------------------------------------------------- slow references
# Literal loops transcribed from the MATLAB code (cvzoya/saliency code_forMetrics) and from the
# definition of the Mann-Whitney AUC; deliberately nothing vectorised.


def _ref_min_max(values):
    return (values - values.min()) / (values.max() - values.min())


def _ref_trapz(x, y):
    area = 0.0
    for i in range(1, len(x)):
        area += (x[i] - x[i - 1]) * (y[i] + y[i - 1]) / 2.0
    return area


def _ref_auc_judd_mit(smap, fmap, noise=None):
    s = smap.ravel().astype(np.float64)
    if noise is not None:
        s = s + noise
    s = _ref_min_max(s)
    f = fmap.ravel()
    sth = sorted(s[f > 0], reverse=True)
    n_fix, n_pix = len(sth), len(s)
    tp, fp = [0.0], [0.0]
    for i, thresh in enumerate(sth, start=1):
        above = int(np.count_nonzero(s >= thresh))
        tp.append(i / n_fix)
        fp.append((above - i) / (n_pix - n_fix))
    tp.append(1.0)
    fp.append(1.0)
    return _ref_trapz(fp, tp)


def _ref_step_auc(sth, randfix, step):
    maximum = max(max(sth), max(randfix))
    threshes = []
    k = 0
    while k * step <= maximum + 1e-12:
        threshes.append(round(k * step, 10))
        k += 1
    threshes = threshes[::-1]
    tp, fp = [0.0], [0.0]
    for t in threshes:
        tp.append(sum(1 for v in sth if v >= t) / len(sth))
        fp.append(sum(1 for v in randfix if v >= t) / len(randfix))
    tp.append(1.0)
    fp.append(1.0)
    return _ref_trapz(fp, tp)


def _ref_mann_whitney(pos, neg):
    wins = 0.0
    for p in pos:
        for n in neg:
            wins += 1.0 if p > n else (0.5 if p == n else 0.0)
    return wins / (len(pos) * len(neg))


@functools.lru_cache(maxsize=None)
def _ref_jitter_field(num_pixels, seed):
    """AUC-Judd's jitter for every pixel as its docstring defines it: 1e-7 * u(key + i) for flat
    pixel i, u = splitmix64 (Steele, Lea & Flood 2014; Vigna's splitmix64.c) in 64-bit integer
    arithmetic, top 53 bits / 2^53, key = the first `integers(0, 2**63)` draw of the seed's
    generator. A plain loop over Python ints, independent of the NumPy version it checks."""
    mask = (1 << 64) - 1
    key = int(np.random.default_rng(seed).integers(0, 2**63))
    field = np.empty(num_pixels)
    for i in range(num_pixels):
        z = (key + i + 0x9E3779B97F4A7C15) & mask
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
        z ^= z >> 31
        field[i] = (z >> 11) * 2.0**-53
    return field * 1e-7


# --------------------------------------------------------------------------- fixation handling


def test_fixation_map_and_list_give_the_same_scores():
    smap, gt, points, _ = _random_case(0)
    fmap = _binary(points)
    assert metrics.nss(smap, fmap) == metrics.nss(smap, points)
    assert metrics.auc_judd(smap, fmap) == metrics.auc_judd(smap, points)
    assert metrics.information_gain(smap, fmap, gt) == metrics.information_gain(smap, points, gt)


def test_duplicates_count_once_for_mit_and_twice_for_pysaliency():
    smap = np.arange(H * W, dtype=float).reshape(H, W)
    points = np.array([[0, 0], [0, 0], [H - 1, W - 1]])
    z = (smap.ravel() - smap.mean())
    mit = np.mean(z[[0, H * W - 1]] / smap.std(ddof=1))
    pys = np.mean(z[[0, 0, H * W - 1]] / smap.std())
    assert metrics.nss(smap, points) == pytest.approx(mit)
    assert metrics.nss(smap, points, convention="pysaliency") == pytest.approx(pys)
    counts = metrics.fixation_map_from_points(points, (H, W))
    assert counts[0, 0] == 2 and counts.sum() == 3
    assert metrics.nss(smap, counts, convention="pysaliency") == pytest.approx(pys)


@pytest.mark.parametrize("points, message", [
    (np.array([[H, 0]]), "outside the 24x32 map"),
    (np.array([[0, -1]]), "outside"),
    (np.array([[0.5, 1.0]]), "integer pixel indices"),
    (np.zeros((3, 3), dtype=int), r"\[N, 2\]"),
])
def test_bad_fixations_raise_clear_errors(points, message):
    with pytest.raises(ValueError, match=message):
        metrics.nss(np.random.default_rng(0).random((H, W)), points)


def test_shape_mismatch_and_non_finite_maps_raise():
    smap = np.random.default_rng(0).random((H, W))
    with pytest.raises(ValueError, match="resize the prediction"):
        metrics.cc(smap, smap[:-1])
    bad = smap.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN or inf"):
        metrics.nss(bad, np.array([[1, 1]]))
    with pytest.raises(ValueError, match="convention"):
        metrics.nss(smap, np.array([[1, 1]]), convention="matlab")


# --------------------------------------------------------------------------- hand-checked cases


def test_perfect_map_scores():
    points = np.array([[3, 4], [10, 20], [20, 30], [5, 5]])
    fmap = _binary(points)
    perfect = fmap.astype(float)
    assert metrics.auc_judd(perfect, fmap) == pytest.approx(1.0, abs=1e-12)
    # Without jitter the 4 tied fixated values hit MIT's tp = i/Nfix staircase: fp_i =
    # (4 - i)/(N - 4) walks back to 0, and trapz gives 1 - 1.5/(N - 4) (why MIT jitters).
    assert metrics.auc_judd(perfect, fmap, jitter=False) == pytest.approx(1 - 1.5 / (H * W - 4))
    assert metrics.auc_judd(perfect, fmap, jitter=False, convention="pysaliency") == 1.0
    # Exact Borji: positives tie with themselves among all pixels: (N - k + 0.5 k) / N.
    n, k = H * W, len(points)
    assert metrics.auc_borji(perfect, fmap, exact=True) == pytest.approx((n - k + 0.5 * k) / n)
    # NSS of a binary map with k ones: (1 - k/N) / std_ddof1.
    std = np.sqrt(k * (n - k) / (n * (n - 1.0)))
    assert metrics.nss(perfect, fmap) == pytest.approx((1 - k / n) / std)
    assert metrics.cc(perfect, perfect) == pytest.approx(1.0)
    assert metrics.sim(perfect, perfect) == pytest.approx(1.0)
    assert metrics.kld(perfect, perfect) == pytest.approx(0.0, abs=1e-12)
    # IG of the perfect map over the uniform-ish baseline is large and positive.
    assert metrics.information_gain(perfect + 1e-3, fmap, baselines.center_bias_map(H, W)) > 1


def test_inverted_map_scores():
    points = np.array([[3, 4], [10, 20], [20, 30]])
    fmap = _binary(points)
    inverted = 1.0 - fmap
    # ROC (0,0) -> (1, 1/k) -> ... -> (1,1): only the first trapezoid has area, 1/(2k).
    k = len(points)
    assert metrics.auc_judd(inverted, fmap) == pytest.approx(1 / (2 * k), abs=1e-12)
    # Exact Borji: each positive only ties with the k fixated pixels among all N.
    assert metrics.auc_borji(inverted, fmap, exact=True) == pytest.approx(0.5 * k / (H * W))
    assert metrics.auc_borji(inverted, fmap, n_splits=20) < 0.05  # only random hits on fixations
    assert metrics.nss(inverted, fmap) == pytest.approx(-metrics.nss(fmap.astype(float), fmap))
    assert metrics.cc(inverted, fmap.astype(float)) == pytest.approx(-1.0)
    assert metrics.sim(inverted, fmap.astype(float)) == pytest.approx(0.0)


def test_constant_map_follows_mit_by_default_and_pysaliency_on_request():
    const = np.full((H, W), 0.3)
    _, gt, points, other = _random_case(1)
    assert np.isnan(metrics.auc_judd(const, points, jitter=False))
    assert 0.2 < metrics.auc_judd(const, points, jitter=True) < 0.8  # jitter noise only
    assert metrics.auc_judd(const, points, jitter=False, convention="pysaliency") == 0.5
    assert np.isnan(metrics.auc_borji(const, points))
    assert metrics.auc_borji(const, points, exact=True) == 0.5
    assert np.isnan(metrics.auc_shuffled(const, points, other))
    assert metrics.auc_shuffled(const, points, other, exact=True) == 0.5
    assert np.isnan(metrics.nss(const, points))
    assert metrics.nss(const, points, convention="pysaliency") == 0.0
    assert np.isnan(metrics.cc(const, gt))
    assert metrics.cc(const, gt, convention="pysaliency") == 0.0
    q = gt / gt.sum()
    assert metrics.kld(const, gt) == pytest.approx(np.sum(q * np.log(1e-300 + q * q.size)), rel=1e-9)
    assert np.isnan(metrics.sim(const, gt))
    assert metrics.sim(np.zeros((H, W)), gt) == 0.0
    assert np.isnan(metrics.information_gain(const, points, gt))


def test_single_fixation_hand_values():
    smap = np.arange(H * W, dtype=float).reshape(H, W)  # all distinct
    n = H * W
    row, col = 5, 7
    v = row * W + col
    points = np.array([[row, col]])
    # Judd: ROC (0,0) -> (fp1, 1) -> (1, 1), fp1 = (#>=v - 1) / (N - 1).
    fp1 = (n - v - 1) / (n - 1)
    assert metrics.auc_judd(smap, points, jitter=False) == pytest.approx(1 - fp1 / 2)
    assert metrics.auc_borji(smap, points, exact=True) == pytest.approx((v + 0.5) / n)
    assert np.isnan(metrics.auc_borji(smap, points))  # MIT: <= 1 fixated pixel gives NaN
    assert metrics.nss(smap, points) == pytest.approx((v - smap.mean()) / smap.std(ddof=1))
    other = np.array([[0, 0], [H - 1, W - 1]])
    assert metrics.auc_shuffled(smap, points, other, exact=True) == pytest.approx(0.5)


def test_no_fixations_give_nan():
    smap = np.random.default_rng(0).random((H, W))
    none = np.zeros((0, 2), dtype=int)
    for value in (metrics.auc_judd(smap, none), metrics.auc_borji(smap, none, exact=True),
                  metrics.nss(smap, none), metrics.information_gain(smap, none, smap)):
        assert np.isnan(value)


# --------------------------------------------------------------------------- invariances


@pytest.mark.parametrize("seed", [0, 1])
def test_nss_and_cc_invariant_to_affine_rescale(seed):
    smap, gt, points, _ = _random_case(seed)
    for a, b in [(3.0, -1.0), (0.01, 5.0)]:
        assert metrics.nss(a * smap + b, points) == pytest.approx(metrics.nss(smap, points))
        assert metrics.cc(a * smap + b, gt) == pytest.approx(metrics.cc(smap, gt))
        assert metrics.cc(smap, a * gt + b) == pytest.approx(metrics.cc(smap, gt))


@pytest.mark.parametrize("transform", [np.exp, np.sqrt, lambda x: x**3, lambda x: 7 * x + 2])
def test_aucs_invariant_to_monotone_transforms(transform):
    smap, _, points, other = _random_case(2, ties=True)
    smap = smap + 0.1  # keep sqrt strictly increasing and ties exact
    moved = transform(smap)
    for kwargs in [dict(), dict(convention="pysaliency")]:
        assert metrics.auc_judd(moved, points, jitter=False, **kwargs) == pytest.approx(
            metrics.auc_judd(smap, points, jitter=False, **kwargs))
        assert metrics.auc_borji(moved, points, exact=True, **kwargs) == pytest.approx(
            metrics.auc_borji(smap, points, exact=True, **kwargs))
        assert metrics.auc_shuffled(moved, points, other, exact=True, **kwargs) == pytest.approx(
            metrics.auc_shuffled(smap, points, other, exact=True, **kwargs))


def test_sampled_aucs_invariant_to_affine_maps_and_reproducible_with_seed():
    smap, _, points, other = _random_case(3)
    for fn in (lambda s, seed: metrics.auc_borji(s, points, seed=seed),
               lambda s, seed: metrics.auc_shuffled(s, points, other, seed=seed)):
        assert fn(smap, 5) == fn(smap, 5)
        assert fn(4 * smap - 2, 5) == pytest.approx(fn(smap, 5))
        assert fn(smap, 5) != fn(smap, 6)


# --------------------------------------------------------------------------- against slow references


@pytest.mark.parametrize("seed, ties", [(0, False), (1, True), (2, True)])
def test_auc_judd_matches_literal_mit_loop(seed, ties):
    smap, _, points, _ = _random_case(seed, ties=ties)
    fmap = _binary(points)
    assert metrics.auc_judd(smap, fmap, jitter=False) == pytest.approx(
        _ref_auc_judd_mit(smap, fmap), abs=1e-12)
    assert metrics.auc_judd(smap, fmap, jitter=True, seed=9) == pytest.approx(
        _ref_auc_judd_mit(smap, fmap, _ref_jitter_field(H * W, 9)), abs=1e-12)


@pytest.mark.parametrize("name, make_map", [
    ("[0, 1] with ties", lambda r: np.round(r.random((300, 300)), 3)),
    ("negative values", lambda r: np.round(r.random((300, 300)), 3) - 0.6),
    ("range 1e-9: jitter spans every bucket", lambda r: 1.0 + r.random((300, 300)) * 1e-9),
    ("range 1e-5: jitter spans ~10 buckets", lambda r: r.random((300, 300)) * 1e-5),
    ("values ~1e9: jitter below the resolution", lambda r: np.round(r.random((300, 300)) * 1e9)),
])
def test_auc_judd_jitter_on_large_maps_equals_jittering_every_pixel(name, make_map):
    """Above the histogram threshold auc_judd draws noise only near the fixated values and the
    map's ends; the result must equal the literal MIT loop on S + the whole noise field."""
    rng = np.random.default_rng(21)
    smap = make_map(rng)
    points = np.stack([rng.integers(0, 300, 120), rng.integers(0, 300, 120)], axis=1)
    points[0] = np.unravel_index(np.argmin(smap), smap.shape)  # a fixation on the minimum
    points[1] = np.unravel_index(np.argmax(smap), smap.shape)  # and on the maximum
    fmap = _binary(points, smap.shape)
    for seed in (3, 4):
        expected = _ref_auc_judd_mit(smap, fmap, _ref_jitter_field(smap.size, seed))
        assert metrics.auc_judd(smap, fmap, seed=seed) == pytest.approx(expected, abs=1e-12), name
    assert metrics.auc_judd(smap, fmap, jitter=False) == pytest.approx(
        _ref_auc_judd_mit(smap, fmap), abs=1e-12), name


def test_auc_judd_jitter_is_seeded_and_spatially_unstructured():
    """On a constant map the jitter alone orders the pixels, so AUC-Judd shows the field: the
    same seed (an int or a fresh Generator from it) gives the same value in any evaluation order,
    another seed another value, and fixations on a block of rows or a column score like random
    pixels (a field trending with the pixel index would push them towards 0 or 1)."""
    const = np.full((60, 80), 0.3)  # 4,800 pixels: above the 4,096 of the search-only path
    rows = np.argwhere(np.arange(60 * 80).reshape(60, 80) < 1600)  # rows 0..19
    column = np.stack([np.arange(60), np.full(60, 7)], axis=1)
    first = {seed: metrics.auc_judd(const, rows, seed=seed) for seed in (0, 1, 2)}
    assert metrics.auc_judd(np.full((60, 80), 5.0), column, seed=2) == metrics.auc_judd(
        const, column, seed=2)  # another constant value, between the calls
    for seed in (2, 1, 0):
        assert metrics.auc_judd(const, rows, seed=seed) == first[seed]
    assert metrics.auc_judd(const, rows, seed=np.random.default_rng(1)) == first[1]
    assert len(set(first.values())) == 3
    # AUC of n1 random positives among n2 random negatives: sd sqrt((n1 + n2 + 1) / (12 n1 n2)).
    for fixations in (rows, column):
        n1 = len(fixations)
        sd = np.sqrt((const.size + 1) / (12 * n1 * (const.size - n1)))
        for seed in (0, 1, 2):
            assert abs(metrics.auc_judd(const, fixations, seed=seed) - 0.5) < 5 * sd


@pytest.mark.parametrize("seed, ties", [(0, False), (1, True)])
def test_auc_judd_pysaliency_matches_reference(seed, ties):
    smap, _, points, _ = _random_case(seed, ties=ties)
    fmap = _binary(points)
    pos = smap[points[:, 0], points[:, 1]]  # duplicates kept
    neg = smap[~fmap]
    tp, fp = [0.0], [0.0]
    for t in sorted(pos, reverse=True):
        tp.append(np.mean(pos >= t))
        fp.append(np.mean(neg >= t))
    expected = _ref_trapz(fp + [1.0], tp + [1.0])
    assert metrics.auc_judd(smap, points, jitter=False, convention="pysaliency") == pytest.approx(
        expected, abs=1e-12)


@pytest.mark.parametrize("seed, ties", [(0, False), (1, True)])
def test_auc_borji_matches_literal_mit_loop(seed, ties):
    smap, _, points, _ = _random_case(seed, ties=ties)
    fmap = _binary(points)
    s = _ref_min_max(smap.ravel())
    sth = s[fmap.ravel()]
    rng = np.random.default_rng(4)
    draws = rng.integers(0, H * W, size=(7, len(sth)))
    expected = np.mean([_ref_step_auc(sth, s[draws[k]], 0.1) for k in range(7)])
    assert metrics.auc_borji(smap, fmap, n_splits=7, seed=4) == pytest.approx(expected, abs=1e-12)
    # Exact form == Mann-Whitney over all pixels.
    assert metrics.auc_borji(smap, fmap, exact=True) == pytest.approx(
        _ref_mann_whitney(smap[fmap], smap.ravel()), abs=1e-12)


@pytest.mark.parametrize("seed, ties", [(0, False), (1, True)])
def test_auc_shuffled_matches_literal_mit_loop(seed, ties):
    smap, _, points, other = _random_case(seed, ties=ties)
    fmap, omap = _binary(points), _binary(other)
    s = _ref_min_max(smap.ravel())
    sth = s[fmap.ravel()]
    ind = np.flatnonzero(omap)
    k = min(len(sth), len(ind))
    rng = np.random.default_rng(8)
    aucs = []
    for _ in range(5):
        chosen = ind[rng.choice(len(ind), k, replace=False)]  # MIT: randperm(...)(1:k)
        aucs.append(_ref_step_auc(sth, s[chosen], 0.1))
    assert metrics.auc_shuffled(smap, fmap, omap, n_splits=5, seed=8) == pytest.approx(
        np.mean(aucs), abs=1e-12)
    assert metrics.auc_shuffled(smap, fmap, omap, exact=True) == pytest.approx(
        _ref_mann_whitney(smap[fmap], smap[omap]), abs=1e-12)
    # pysaliency: every fixation and every other fixation, duplicates kept.
    assert metrics.auc_shuffled(smap, points, other, exact=True, convention="pysaliency") == \
        pytest.approx(_ref_mann_whitney(smap[points[:, 0], points[:, 1]],
                                        smap[other[:, 0], other[:, 1]]), abs=1e-12)


def test_kld_and_ig_use_each_conventions_eps():
    """MIT calls MATLAB's `eps` (2^-52); pysaliency types 2.2204e-16. A pixel where S is 0 and
    G is not makes the difference visible: G log(G / eps) there."""
    smap = np.ones((3, 3))
    smap[0, 0] = 0.0
    gt = np.full((3, 3), 1.0 / 9)
    p, q = smap.ravel() / 8.0, gt.ravel()
    for convention, eps in (("mit", 2.0**-52), ("pysaliency", 2.2204e-16)):
        expected = np.sum(q * np.log(eps + q / (p + eps)))
        assert metrics.kld(smap, gt, convention=convention) == pytest.approx(expected, rel=1e-13)
    assert metrics.kld(smap, gt) != pytest.approx(metrics.kld(smap, gt, convention="pysaliency"),
                                                  rel=1e-9)
    # IG: MIT min-max gives the S = 0 pixel probability 0; a fixation there costs log2(eps).
    base = np.full((3, 3), 0.5)
    base[2, 2] = 1.0  # min-max: 1 at (2, 2), 0 elsewhere
    fix = np.array([[0, 0], [2, 2], [1, 1]])
    eps = 2.0**-52
    expected = np.mean([np.log2(eps) - np.log2(eps), np.log2(eps + 1 / 8) - np.log2(eps + 1.0),
                        np.log2(eps + 1 / 8) - np.log2(eps)])
    assert metrics.information_gain(smap, fix, base) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_value_metrics_match_matlab_formulas(seed):
    smap, gt, points, _ = _random_case(seed)
    fmap = _binary(points)
    base = baselines.center_bias_map(H, W)
    s, g, b = smap.ravel(), gt.ravel(), base.ravel().astype(np.float64)
    eps = np.finfo(np.float64).eps  # MATLAB `eps`
    # NSS.m
    z = (s - s.mean()) / s.std(ddof=1)
    assert metrics.nss(smap, fmap) == pytest.approx(z[fmap.ravel()].mean(), abs=1e-12)
    # CC.m (corr2)
    assert metrics.cc(smap, gt) == pytest.approx(np.corrcoef(s, g)[0, 1], abs=1e-12)
    # KLdiv.m
    p, q = s / s.sum(), g / g.sum()
    assert metrics.kld(smap, gt) == pytest.approx(np.sum(q * np.log(eps + q / (p + eps))), abs=1e-12)
    # similarity.m
    p1 = _ref_min_max(s)
    p1 /= p1.sum()
    q1 = _ref_min_max(g)
    q1 /= q1.sum()
    assert metrics.sim(smap, gt) == pytest.approx(np.minimum(p1, q1).sum(), abs=1e-12)
    # pysaliency SIM: no min-max
    assert metrics.sim(smap, gt, convention="pysaliency") == pytest.approx(
        np.minimum(s / s.sum(), g / g.sum()).sum(), abs=1e-12)
    # InfoGain.m
    pb = _ref_min_max(b)
    pb /= pb.sum()
    expected_ig = np.mean(np.log2(eps + p1[fmap.ravel()]) - np.log2(eps + pb[fmap.ravel()]))
    assert metrics.information_gain(smap, fmap, base) == pytest.approx(expected_ig, abs=1e-9)


@pytest.mark.parametrize("repeats", [3, 5, 200])  # search only; 8,192 and 65,536 buckets
def test_exact_aucs_count_ties_and_out_of_range_thresholds_exactly(repeats):
    """AUCs of a crafted 1 x N map, hand-counted. Values: the 1,000 levels k/1000, each
    `repeats` times; ten pixels one ulp above the level 0.5; one pixel -1 and one 2 (the ends).
    pysaliency AUC-Judd of one fixation at t is 1 - ge/(2 N'), exact sAUC with all other pixels
    as negatives is (N' - ge + (ge - gt) / 2) / N' (ge = #others >= t, gt = #others > t,
    N' = N - 1), so together they pin both counts at every threshold."""
    above_half = np.nextafter(0.5, 1.0)
    values = np.concatenate([np.repeat(np.arange(1000) / 1000, repeats), np.full(10, above_half),
                             [-1.0, 2.0]])
    values = np.random.default_rng(5).permutation(values)
    smap = values[None, :]
    others = values.size - 1
    r = repeats

    def pixel(value):
        return int(np.flatnonzero(values == value)[0])

    # threshold: (ge, gt) among the other pixels
    cases = {
        0.5: (500 * r - 1 + 10 + 1, 499 * r + 10 + 1),  # its level tied, ten values an ulp up
        above_half: (9 + 499 * r + 1, 499 * r + 1),
        0.0: (others - 1, others - 1 - (r - 1)),  # the lowest level: only -1 is below
        -1.0: (others, others),  # below every other value
        2.0: (0, 0),  # above every other value
    }
    for threshold, (ge, gt) in cases.items():
        fixation = np.array([[0, pixel(threshold)]])
        rest = np.array([[0, i] for i in range(values.size) if i != fixation[0, 1]])
        assert metrics.auc_judd(smap, fixation, jitter=False, convention="pysaliency") == \
            pytest.approx(1 - ge / (2 * others), abs=1e-13), threshold
        assert metrics.auc_shuffled(smap, fixation, rest, exact=True, convention="pysaliency") == \
            pytest.approx((others - ge + 0.5 * (ge - gt)) / others, abs=1e-13), threshold
    # Several positives at once, one repeated, both ends outside the negatives' range [0, 0.999]:
    # mean over positives of (#neg below + #neg equal / 2) / #neg.
    negatives = np.array([[0, i] for i in np.flatnonzero((values >= 0) & (values <= 1))])
    positives = np.array([[0, pixel(v)] for v in (-1.0, 2.0, 0.5, 0.5, above_half)])
    num_neg = 1000 * r + 10
    expected = np.mean([0, num_neg, 500.5 * r, 500.5 * r, 501 * r + 5]) / num_neg
    assert metrics.auc_shuffled(smap, positives, negatives, exact=True,
                                convention="pysaliency") == pytest.approx(expected, abs=1e-13)
    # Negatives all equal (a degenerate range), N' of them: below, tied, above.
    for positive, expected in ((-1.0, 0.0), (0.5, 0.5), (2.0, 1.0)):
        same = np.tile([[0, pixel(0.5)]], (others, 1))
        assert metrics.auc_shuffled(smap, np.array([[0, pixel(positive)]]), same, exact=True,
                                    convention="pysaliency") == expected


def test_large_map_aucs_match_direct_counts():
    """On a map above the histogram threshold (300x300 pixels), with many exact ties."""
    rng = np.random.default_rng(11)
    smap = np.round(rng.random((300, 300)) ** 2, 4)
    points = np.stack([rng.integers(0, 300, 150), rng.integers(0, 300, 150)], axis=1)
    fmap = _binary(points, (300, 300))
    pos, allv = smap[fmap], smap.ravel()
    n, m = len(pos), len(allv)
    auc = metrics.auc_borji(smap, fmap, exact=True)
    direct = np.mean([(np.sum(allv < p) + 0.5 * np.sum(allv == p)) / m for p in pos])
    assert auc == pytest.approx(direct, abs=1e-12)
    # MIT Judd without jitter: counts over the whole map, checked threshold by threshold.
    s = _ref_min_max(allv)
    sth = np.sort(s[fmap.ravel()])[::-1]
    tp = [0.0] + [i / n for i in range(1, n + 1)] + [1.0]
    fp = [0.0] + [(np.sum(s >= t) - i) / (m - n) for i, t in enumerate(sth, 1)] + [1.0]
    assert metrics.auc_judd(smap, fmap, jitter=False) == pytest.approx(_ref_trapz(fp, tp), abs=1e-12)


def test_large_map_exact_borji_pysaliency_counts_every_fixation():
    rng = np.random.default_rng(12)
    smap = np.round(rng.random((300, 300)), 3) - 0.25  # negative values, ties
    points = np.stack([rng.integers(0, 300, 100), rng.integers(0, 300, 100)], axis=1)
    points[:20] = points[20:40]  # duplicated fixations weigh twice
    pos, allv = smap[points[:, 0], points[:, 1]], smap.ravel()
    direct = np.mean([(np.sum(allv < p) + 0.5 * np.sum(allv == p)) / allv.size for p in pos])
    assert metrics.auc_borji(smap, points, exact=True, convention="pysaliency") == pytest.approx(
        direct, abs=1e-12)


@pytest.mark.parametrize("shape", [(H, W), (300, 300)])  # search-only and bucket paths
@pytest.mark.parametrize("convention", ["mit", "pysaliency"])
def test_prepared_inputs_score_exactly_like_arrays(shape, convention):
    """PreparedMap / PreparedFixations only cache: every metric gives the same float, and a map
    prepared once and scored against several fixation sets never reuses the wrong cache."""
    rng = np.random.default_rng(13)
    smap, gt, base = rng.random(shape), rng.random(shape) ** 3, rng.random(shape)
    fix_a = np.stack([rng.integers(0, shape[0], 40), rng.integers(0, shape[1], 40)], axis=1)
    fix_b = np.stack([rng.integers(0, shape[0], 25), rng.integers(0, shape[1], 25)], axis=1)
    other = np.stack([rng.integers(0, shape[0], 90), rng.integers(0, shape[1], 90)], axis=1)
    prepared = metrics.PreparedMap(smap)
    gt_p, base_p = metrics.PreparedMap(gt, "gt_map"), metrics.PreparedMap(base, "baseline_map")
    kw = dict(convention=convention)
    for fix in (fix_a, fix_b, fix_a):
        fix_p = metrics.PreparedFixations(fix, shape)
        other_p = metrics.PreparedFixations(other, shape)
        pairs = [
            (metrics.auc_judd(prepared, fix_p, seed=3, **kw), metrics.auc_judd(smap, fix, seed=3, **kw)),
            (metrics.auc_borji(prepared, fix_p, exact=True, **kw),
             metrics.auc_borji(smap, fix, exact=True, **kw)),
            (metrics.auc_borji(prepared, fix_p, seed=1, **kw), metrics.auc_borji(smap, fix, seed=1, **kw)),
            (metrics.auc_shuffled(prepared, fix_p, other_p, exact=True, **kw),
             metrics.auc_shuffled(smap, fix, other, exact=True, **kw)),
            (metrics.auc_shuffled(prepared, fix_p, other_p, seed=1, **kw),
             metrics.auc_shuffled(smap, fix, other, seed=1, **kw)),
            (metrics.nss(prepared, fix_p, **kw), metrics.nss(smap, fix, **kw)),
            (metrics.information_gain(prepared, fix_p, base_p, **kw),
             metrics.information_gain(smap, fix, base, **kw)),
            (metrics.cc(prepared, gt_p, **kw), metrics.cc(smap, gt, **kw)),
            (metrics.kld(prepared, gt_p, **kw), metrics.kld(smap, gt, **kw)),
            (metrics.sim(prepared, gt_p, **kw), metrics.sim(smap, gt, **kw)),
        ]
        for i, (from_prepared, from_arrays) in enumerate(pairs):
            assert from_prepared == from_arrays, i


def test_scores_do_not_depend_on_evaluation_order():
    """Two maps share the work buffers, and each `PreparedMap` caches one fixation split for
    AUC-Judd and exact AUC-Borji: scoring them in reverse order, interleaved and with the
    fixation sets swapped gives the same floats as scoring one after the other."""
    rng = np.random.default_rng(14)
    shape = (300, 300)  # the bucket path
    maps = [np.round(rng.random(shape), 3), rng.random(shape) ** 2 + 2.0]  # both bucket maps
    fixation_sets = [np.stack([rng.integers(0, 300, n), rng.integers(0, 300, n)], axis=1)
                     for n in (60, 45)]
    gt, other = rng.random(shape), np.argwhere(rng.random(shape) < 0.002)
    scorers = [
        lambda s, f: metrics.auc_judd(s, f, seed=3),
        lambda s, f: metrics.auc_judd(s, f, jitter=False),
        lambda s, f: metrics.auc_borji(s, f, exact=True),
        lambda s, f: metrics.auc_borji(s, f, exact=True, convention="pysaliency"),
        lambda s, f: metrics.auc_borji(s, f, seed=2),
        lambda s, f: metrics.auc_shuffled(s, f, other, exact=True),
        lambda s, f: metrics.auc_shuffled(s, f, other, seed=2),
        lambda s, f: metrics.nss(s, f),
        lambda s, f: metrics.information_gain(s, f, gt),
        lambda s, f: metrics.cc(s, gt),
        lambda s, f: metrics.kld(s, gt),
        lambda s, f: metrics.sim(s, gt),
    ]
    jobs = [(m, f, k) for m in range(2) for f in range(2) for k in range(len(scorers))]
    prepared = [metrics.PreparedMap(m) for m in maps]
    in_order = {job: scorers[job[2]](prepared[job[0]], fixation_sets[job[1]]) for job in jobs}
    prepared = [metrics.PreparedMap(m) for m in maps]
    shuffled = [jobs[i] for i in rng.permutation(len(jobs))]
    for job in shuffled:
        assert scorers[job[2]](prepared[job[0]], fixation_sets[job[1]]) == in_order[job], job


def test_prepared_fixations_must_match_the_map_shape():
    fix = metrics.PreparedFixations(np.array([[1, 2]]), (H, W + 1))
    with pytest.raises(ValueError, match="prepared for a"):
        metrics.nss(np.random.default_rng(0).random((H, W)), fix)


def test_emd_zero_for_identical_maps_and_distance_for_a_shift():
    a = np.zeros((8, 8))
    a[2, 2] = 1.0
    b = np.zeros((8, 8))
    b[2, 5] = 1.0
    assert metrics.emd(a, a, downsize=1) == pytest.approx(0.0, abs=1e-9)
    assert metrics.emd(a, b, downsize=1) == pytest.approx(3.0, abs=1e-6)
    # Half the mass moves by 3, half by 4 (diagonal moves cost sqrt(2) per step).
    c = np.zeros((8, 8))
    c[2, 5] = c[6, 2] = 0.5
    assert metrics.emd(a, c, downsize=1) == pytest.approx(3.5, abs=1e-6)


# --------------------------------------------------------------------------- centre bias


def test_center_bias_map_shape_peak_symmetry_and_sigma():
    cb = baselines.center_bias_map(41, 61)
    assert cb.shape == (41, 61) and cb.dtype == np.float32
    assert cb[20, 30] == pytest.approx(1.0)
    assert np.allclose(cb, cb[::-1, ::-1])
    sigma = 41 / 4
    # One sigma away from the centre along either axis: exp(-1/2).
    assert cb[20, 30 + 10] == pytest.approx(np.exp(-0.5 * (10 / sigma) ** 2), rel=1e-6)
    assert cb[20 + 10, 30] == pytest.approx(np.exp(-0.5 * (10 / sigma) ** 2), rel=1e-6)
    with pytest.raises(ValueError, match="positive size"):
        baselines.center_bias_map(0, 5)
