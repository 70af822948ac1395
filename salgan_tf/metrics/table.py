"""The metric table: every metric `evaluate`, validation and the report know, declared once.

A row says what the metric needs, which direction is better, what it means, and how it is
computed from one prepared example. Adding a metric is adding a row: the `--metrics` choices, the
maps-only set, the table arrows, the report's legend and validation's selection all read it.

What a row's `score(saliency, example, settings, seed)` receives:
  saliency: `PreparedMap` of the map being scored, at the example's (original) size.
  example: the example's prepared inputs (`evaluate_lib.PreparedExample`): `fixations`
    (`PreparedFixations`), `gt_map` (`PreparedMap`), `baseline_map` (IG's reference),
    `shuffled_sampled` / `shuffled_exact` (other images' fixations, `PreparedFixations`).
  settings: `evaluate_lib.EvalConfig` (convention, n_splits, step, judd_jitter, emd_downsize).
  seed: the per-image seed sequence of the sampled metrics.
"""
from __future__ import annotations

import dataclasses
from typing import Callable

from salgan_tf.metrics import auc
from salgan_tf.metrics import distribution
from salgan_tf.metrics import location

# What a metric reads besides the saliency map.
FIXATIONS = "fixations"  # the image's fixation points
GT_MAP = "gt_map"  # the continuous ground-truth density
OTHER_FIXATIONS = "other_fixations"  # other images' fixations (sAUC's negatives)
BASELINE = "baseline"  # the centre-bias reference map (IG)


@dataclasses.dataclass(frozen=True)
class Metric:
    """One row of the table.

    Attributes:
      name: the column name (CSV, summary JSON, `--metrics`, `val/<name>`).
      higher_is_better: the direction (the table's ↑/↓, best-epoch selection).
      meaning: one line for tables and the report's legend.
      needs: the inputs it reads besides the saliency map (`FIXATIONS`, `GT_MAP`, ...).
      score: fn(saliency, example, settings, seed) -> float (see the module docstring).
      default: computed when `--metrics` is not given (EMD is slow, off by default).
    """
    name: str
    higher_is_better: bool
    meaning: str
    needs: tuple
    score: Callable
    default: bool = True

    @property
    def needs_fixations(self):
        """False for the metrics a maps-only dataset (no fixation points) can be scored with."""
        return FIXATIONS in self.needs


# Order is the table's column order.
_ROWS = (
    Metric("auc_judd", True, "AUC-Judd (MIT AUC_Judd.m, jitter)", (FIXATIONS,),
           lambda s, x, c, seed: auc.auc_judd(s, x.fixations, jitter=c.judd_jitter, seed=seed,
                                              convention=c.convention)),
    Metric("auc_borji", True, "AUC-Borji, MIT sampled (splits, step 0.1)", (FIXATIONS,),
           lambda s, x, c, seed: auc.auc_borji(s, x.fixations, n_splits=c.n_splits, step=c.step,
                                               seed=seed, convention=c.convention)),
    Metric("auc_borji_exact", True, "AUC-Borji, exact (all pixels negatives)", (FIXATIONS,),
           lambda s, x, c, seed: auc.auc_borji(s, x.fixations, exact=True,
                                               convention=c.convention)),
    Metric("sauc", True, "shuffled AUC, MIT sampled (M other images)",
           (FIXATIONS, OTHER_FIXATIONS),
           lambda s, x, c, seed: auc.auc_shuffled(s, x.fixations, x.shuffled_sampled,
                                                  n_splits=c.n_splits, step=c.step, seed=seed,
                                                  convention=c.convention)),
    Metric("sauc_exact", True, "shuffled AUC, exact (all other fixations)",
           (FIXATIONS, OTHER_FIXATIONS),
           lambda s, x, c, seed: auc.auc_shuffled(s, x.fixations, x.shuffled_exact, exact=True,
                                                  convention=c.convention)),
    Metric("nss", True, "NSS (MIT, std ddof=1)", (FIXATIONS,),
           lambda s, x, c, seed: location.nss(s, x.fixations, convention=c.convention)),
    Metric("cc", True, "CC (Pearson)", (GT_MAP,),
           lambda s, x, c, seed: distribution.cc(s, x.gt_map, convention=c.convention)),
    Metric("kld", False, "KL(G||S), nats (MIT KLdiv.m)", (GT_MAP,),
           lambda s, x, c, seed: distribution.kld(s, x.gt_map, convention=c.convention)),
    Metric("sim", True, "SIM (MIT similarity.m)", (GT_MAP,),
           lambda s, x, c, seed: distribution.sim(s, x.gt_map, convention=c.convention)),
    Metric("ig", True, "IG over centre bias, bits/fixation (MIT InfoGain.m)",
           (FIXATIONS, BASELINE),
           lambda s, x, c, seed: location.information_gain(s, x.fixations, x.baseline_map,
                                                           convention=c.convention)),
    Metric("emd", False, "EMD on 1/32 maps (slow, off by default)", (GT_MAP,),
           lambda s, x, c, seed: distribution.emd(s.image, x.gt_map.image,
                                                  downsize=c.emd_downsize),
           default=False),
)
METRICS = {metric.name: metric for metric in _ROWS}
DEFAULT_METRICS = tuple(metric.name for metric in _ROWS if metric.default)
# The default metrics that need only the ground-truth map: all a maps-only dataset (MIT1003's
# continuous maps, blurred heat maps; records converted without fixation points) is scored with.
MAP_METRICS = tuple(name for name in DEFAULT_METRICS if not METRICS[name].needs_fixations)
