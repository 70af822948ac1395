"""pysaliency side of bench/metrics_vs_pysaliency.py (NOT salgan_tf code).

Runs inside a SEPARATE venv with pysaliency 0.2.x (it needs numpy < 2.4):
  python3 -m venv /work/venv-pysal && /work/venv-pysal/bin/pip install "numpy<2.4" pysaliency==0.2.22
  /work/venv-pysal/bin/python bench/metrics_pysaliency_worker.py INPUT_DIR OUTPUT_JSON [REPEATS]

INPUT_DIR holds predictions.npy / gt_maps.npy / center_bias.npy (float32) and fixations.npz
(rows, cols, image index n; 0-based) written by the calling script. Computes pysaliency's own
per-image AUC-Judd, AUC (uniform), sAUC, NSS, CC, MIT_KLDiv, SIM and IG (bits, over the centre
bias) through its model API, times them, and writes JSON.

pysaliency's package __init__ imports torch (for DeepGaze) although none of these metrics use
it; torch is replaced by a stub module here so the metric code can be imported without
downloading torch.
"""
import importlib.metadata
import json
import sys
import time
from unittest import mock

for _name in ("torch", "torch.nn", "torch.nn.functional", "torch.optim", "torch.optim.optimizer",
              "torch.utils", "torch.utils.data"):
    sys.modules.setdefault(_name, mock.MagicMock())

import numpy as np  # noqa: E402
import pysaliency  # noqa: E402
from pysaliency import models as ps_models  # noqa: E402
from pysaliency import saliency_map_models as ps_smm  # noqa: E402


class ArrayMapModel(ps_smm.SaliencyMapModel):
    """Saliency maps looked up by stimulus index (stored in pixel [0, 0] of the stimulus)."""

    def __init__(self, maps):
        super().__init__(caching=False)
        self.maps = maps

    def _saliency_map(self, stimulus):
        return np.asarray(self.maps[int(stimulus[0, 0])], dtype=np.float64)


class ArrayDensityModel(ps_models.Model):
    """A probabilistic model whose density is the saliency map sum-normalised (for IG)."""

    def __init__(self, maps):
        super().__init__(caching=False)
        self.maps = maps

    def _log_density(self, stimulus):
        smap = np.asarray(self.maps[int(stimulus[0, 0])], dtype=np.float64)
        return np.log(smap / smap.sum())


def main(input_dir, output_json, repeats=1):
    predictions = np.load(f"{input_dir}/predictions.npy", mmap_mode="r")
    gt_maps = np.load(f"{input_dir}/gt_maps.npy", mmap_mode="r")
    center = np.load(f"{input_dir}/center_bias.npy")
    fix = np.load(f"{input_dir}/fixations.npz")
    count, height, width = predictions.shape
    stimuli = pysaliency.Stimuli([np.full((height, width), i, dtype=np.uint8)
                                  for i in range(count)])
    fixations = pysaliency.Fixations.create_without_history(
        x=fix["cols"].astype(float), y=fix["rows"].astype(float), n=fix["n"].astype(int))
    model = ArrayMapModel(predictions)
    gold = ArrayMapModel(gt_maps)
    centre_maps = np.broadcast_to(center, (count, height, width))

    def per_image(values):
        values = np.asarray(values, dtype=np.float64)
        return [float(values[fixations.n == i].mean()) for i in range(count)]

    results, timings, cpu = {}, {}, {}
    steps = [
        ("auc_judd_nojitter", lambda: model.AUC_per_image(
            stimuli, fixations, nonfixations="unfixated", thresholds="fixations")),
        ("auc_judd_jitter_mean", lambda: [model.AUC_Judd(stimuli, fixations)]),
        ("auc_uniform", lambda: model.AUC_per_image(stimuli, fixations, nonfixations="uniform")),
        ("sauc", lambda: model.AUC_per_image(stimuli, fixations, nonfixations="shuffled")),
        ("nss", lambda: per_image(model.NSSs(stimuli, fixations))),
        ("cc", lambda: model.CCs(stimuli, gold)),
        ("kld", lambda: model.image_based_kl_divergences(
            stimuli, gold, minimum_value=0, log_regularization=2.2204e-16,
            quotient_regularization=2.2204e-16)),
        ("sim", lambda: model.SIMs(stimuli, gold)),
        ("ig", lambda: per_image(ArrayDensityModel(predictions).information_gains(
            stimuli, fixations, ArrayDensityModel(centre_maps)))),
    ]
    # Best of `repeats` per step, wall clock and this process's CPU time (the machine is shared:
    # CPU time is what other processes disturb least).
    for name, step in steps:
        timings[name] = cpu[name] = float("inf")
        for _ in range(repeats):
            start, start_cpu = time.perf_counter(), time.process_time()
            values = step()
            timings[name] = min(timings[name], time.perf_counter() - start)
            cpu[name] = min(cpu[name], time.process_time() - start_cpu)
        results[name] = [float(v) for v in np.asarray(values, dtype=np.float64)]
    with open(output_json, "w") as handle:
        json.dump({"pysaliency_version": importlib.metadata.version("pysaliency"), "numpy": np.__version__,
                   "results": results, "seconds": timings, "cpu_seconds": cpu,
                   "images": count}, handle)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 1)
