"""Metrics on real OSIE eye fixations (../shared/data/osie): known properties of the centre bias."""
import numpy as np
import pytest
from scipy import io as sio
from scipy import ndimage

from salgan_tf import baselines
from salgan_tf import metrics

OSIE_H, OSIE_W = 600, 800


def _osie_fixations(shared_data, count):
    """First `count` OSIE images: {name: int [N, 2] 0-based (row, col)} (README's rounding)."""
    path = shared_data / "osie" / "data" / "eye" / "fixations.mat"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    cells = sio.loadmat(path)["fixations"]
    result = {}
    for i in range(count):
        entry = cells[i, 0][0, 0]
        rows, cols = [], []
        for j in range(entry["subjects"].shape[0]):
            subject = entry["subjects"][j, 0][0, 0]
            cols.append(np.clip(np.floor(subject["fix_x"].ravel() + 0.5), 1, OSIE_W) - 1)
            rows.append(np.clip(np.floor(subject["fix_y"].ravel() + 0.5), 1, OSIE_H) - 1)
        result[str(entry["img"][0])] = np.stack(
            [np.concatenate(rows), np.concatenate(cols)], 1).astype(np.int64)
    return result


def test_center_bias_on_osie_has_the_known_properties(shared_data):
    fixations = _osie_fixations(shared_data, 20)
    assert list(fixations)[:2] == ["1001.jpg", "1002.jpg"]
    cb = baselines.center_bias_map(OSIE_H, OSIE_W).astype(np.float64)
    names = list(fixations)
    shuffled, judds = [], []
    for index, name in enumerate(names):
        points = fixations[name]
        assert 100 < len(points) < 200  # README: 111-179 fixations per image
        others = np.concatenate([fixations[n] for n in names if n != name])
        judd = metrics.auc_judd(cb, points)
        borji = metrics.auc_borji(cb, points, seed=index)
        borji_exact = metrics.auc_borji(cb, points, exact=True)
        judds.append(judd)
        # The sampled form is a noisy, step-quantised estimate of the exact one.
        assert abs(borji - borji_exact) < 0.03
        shuffled.append(metrics.auc_shuffled(cb, points, others, exact=True))
        assert metrics.information_gain(cb, points, cb) == 0.0
        # NSS conventions differ only by ddof and duplicate fixations: a few percent at most.
        mit, pys = metrics.nss(cb, points), metrics.nss(cb, points, convention="pysaliency")
        assert mit > 0 and abs(mit - pys) / abs(mit) < 0.05
        counts = metrics.fixation_map_from_points(points, (OSIE_H, OSIE_W))
        gt = ndimage.gaussian_filter(counts.astype(np.float64), 24)
        assert 0 < metrics.cc(cb, gt) < 1 and 0 < metrics.sim(cb, gt) < 1
        assert metrics.kld(cb, gt) > metrics.kld(gt, gt) == pytest.approx(0.0, abs=1e-9)
    # Other images' fixations share the centre bias, so shuffled AUC removes its advantage:
    # per image it scatters (0.32-0.71 on these 20), on average it is chance.
    assert abs(np.mean(shuffled) - 0.5) < 0.05
    # The centre bias predicts fixations well above chance, but far from perfectly.
    assert 0.7 < np.mean(judds) < 0.9 and min(judds) > 0.5
