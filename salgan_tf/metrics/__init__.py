"""Saliency metrics that reproduce the MIT saliency benchmark (`cvzoya/saliency`, code_forMetrics).

Every function scores ONE image: a saliency map S against fixations and/or a continuous
ground-truth map G, all at the fixation map's (original image's) (H, W). `convention="mit"`
(default) follows the MIT MATLAB code line by line, `convention="pysaliency"` pysaliency 0.2.x;
each metric's docstring states its definition and where the two differ.

Where things are (definitions first, the machinery that makes them fast after):
- `auc`: AUC-Judd, AUC-Borji, shuffled AUC (sAUC), and the ROC arithmetic they share.
- `distribution`: CC, KLD, SIM, EMD (S against G).
- `location`: NSS and information gain (S read at the fixated pixels).
- `conventions`: the two conventions and the constants that pin them (eps, AUC-Judd's jitter).
- `inputs`: what the metrics accept (maps, fixation maps or [N, 2] (row, col) lists), checked;
  `PreparedMap` / `PreparedFixations` cache what several metrics share (`evaluate_lib` uses them).
- `_counting` (speed only): exact threshold counts by bucketing instead of sorting, the pixel
  split AUC-Judd and exact AUC-Borji share, AUC-Judd's counter-based jitter field.
- `_workspace` (speed only): per-thread reusable work buffers for full-image temporaries.

Use the names below (`from salgan_tf import metrics; metrics.nss(...)`); the submodules are the
layout, not separate APIs. Timings against pysaliency: bench/metrics_vs_pysaliency.py and
docs/metrics.md.
"""
from salgan_tf.metrics.auc import auc_borji
from salgan_tf.metrics.auc import auc_judd
from salgan_tf.metrics.auc import auc_shuffled
from salgan_tf.metrics.conventions import CONVENTIONS
from salgan_tf.metrics.conventions import JUDD_JITTER
from salgan_tf.metrics.conventions import MATLAB_EPS
from salgan_tf.metrics.conventions import PYSALIENCY_EPS
from salgan_tf.metrics.distribution import block_mean
from salgan_tf.metrics.distribution import cc
from salgan_tf.metrics.distribution import emd
from salgan_tf.metrics.distribution import kld
from salgan_tf.metrics.distribution import sim
from salgan_tf.metrics.inputs import PreparedFixations
from salgan_tf.metrics.inputs import PreparedMap
from salgan_tf.metrics.inputs import fixation_indices
from salgan_tf.metrics.inputs import fixation_map_from_points
from salgan_tf.metrics.location import information_gain
from salgan_tf.metrics.location import nss

__all__ = [
    "auc_judd", "auc_borji", "auc_shuffled",
    "cc", "kld", "sim", "emd", "block_mean",
    "nss", "information_gain",
    "CONVENTIONS", "MATLAB_EPS", "PYSALIENCY_EPS", "JUDD_JITTER",
    "PreparedMap", "PreparedFixations", "fixation_indices", "fixation_map_from_points",
]
