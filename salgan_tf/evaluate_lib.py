"""Scores saliency maps against eye fixations: the loop behind `python -m salgan_tf.evaluate`.

The library never reads FLAGS. Data flow, one module per job:

  examples (salgan_tf.data.eval_examples: name, GT map, fixations at the ORIGINAL size) --+
  sources (salgan_tf.map_sources: a model's predictor, a folder of PNG maps, centre bias) +
  shuffled-AUC negatives from the other images' fixations (salgan_tf.metrics.negatives) -+
      --> evaluate() -> rows (one per source x image; the metrics of salgan_tf.metrics.table)
  rows -> salgan_tf.eval_results: summarize() -> format_table() / write_results()
  (the HTML report, salgan_tf.report, reuses them).

Maps are compared at the fixation-map (original image) size, as the MIT and Tübingen
benchmarks do: predictions are resized to it (bilinear; MIT's MATLAB code uses bicubic imresize).
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Callable, Iterable, Mapping

import numpy as np

from salgan_tf import baselines
from salgan_tf import eval_results
from salgan_tf import map_sources
from salgan_tf import metrics
from salgan_tf.data.eval_examples import EvalExample
from salgan_tf.metrics import negatives
from salgan_tf.metrics.table import DEFAULT_METRICS
from salgan_tf.metrics.table import METRICS


@dataclasses.dataclass(frozen=True)
class EvalConfig:
    """Metric settings. Defaults reproduce the MIT benchmark code.

    Attributes:
      metrics: which columns of `salgan_tf.metrics.table.METRICS` to compute.
      convention: "mit" or "pysaliency" (see salgan_tf.metrics).
      n_splits: random splits of the sampled AUC-Borji / sAUC (MIT: 100).
      step: threshold step of the sampled AUCs (MIT: 0.1).
      shuffled_other_images: M, images whose fixations form sAUC's MIT `otherMap` (Borji: 10).
      judd_jitter: AUC-Judd's 1e-7 tie-breaking noise (MIT: on).
      seed: seeds every random choice (jitter, splits, the M other images), per image.
      center_bias_sigma_fraction: the baseline / IG-reference Gaussian's sigma as a fraction of H.
      emd_downsize: EMD block size (MIT: 32).
    """
    metrics: tuple = DEFAULT_METRICS
    convention: str = "mit"
    n_splits: int = 100
    step: float = 0.1
    shuffled_other_images: int = 10
    judd_jitter: bool = True
    seed: int = 0
    center_bias_sigma_fraction: float = baselines.DEFAULT_SIGMA_FRACTION
    emd_downsize: int = 32

    def __post_init__(self):
        unknown = [name for name in self.metrics if name not in METRICS]
        if unknown:
            raise ValueError(f"unknown metric(s) {unknown}; choose from {list(METRICS)}")
        if self.convention not in metrics.CONVENTIONS:
            raise ValueError(f"convention must be one of {metrics.CONVENTIONS}")


def shuffled_negatives(examples, *, config):
    """`ShuffledNegatives` from ALL examples' fixations (sAUC's negatives for any one of them).

    Raises:
      ValueError: two examples share a name, or there are none.
    """
    fixations_by_name = {}
    for example in examples:
        if example.name in fixations_by_name:
            raise ValueError(f"duplicate image name {example.name!r} in the evaluation data")
        fixations_by_name[example.name] = (example.shape, example.fixations)
    if not fixations_by_name:
        raise ValueError("the evaluation data holds no examples")
    return negatives.ShuffledNegatives(fixations_by_name,
                                       other_images=config.shuffled_other_images,
                                       seed=config.seed)


class PreparedExample:
    """An example's fixations, ground truth, baseline and sAUC negatives, each checked once and
    with the statistics the metrics share cached (`metrics.PreparedMap` / `PreparedFixations`):
    every source scored on the example reuses them."""

    def __init__(self, example, *, baseline_map, shuffled):
        self.example = example
        self.fixations = metrics.PreparedFixations(example.fixations, example.shape)
        self.gt_map = metrics.PreparedMap(example.gt_map, "gt_map")
        self._baseline_map = baseline_map
        self._shuffled = shuffled

    @functools.cached_property
    def baseline_map(self):
        baseline = self._baseline_map
        if isinstance(baseline, metrics.PreparedMap):
            return baseline
        return metrics.PreparedMap(baseline, "baseline_map")

    @functools.cached_property
    def shuffled_sampled(self):
        return metrics.PreparedFixations(
            self._shuffled.sampled(self.example.name, self.example.shape), self.example.shape)

    @functools.cached_property
    def shuffled_exact(self):
        return metrics.PreparedFixations(
            self._shuffled.exact(self.example.name, self.example.shape), self.example.shape)


def score_map(saliency_map, example, *, config, baseline_map=None, shuffled=None, prepared=None):
    """All configured metrics of one saliency map on one example -> {metric: float}.

    Each metric is computed by its row of `salgan_tf.metrics.table.METRICS`.

    Args:
      saliency_map: float [H, W] at the example's size (resize first:
        `map_sources.resize_map`).
      example: the `EvalExample`.
      config: `EvalConfig`.
      baseline_map: IG reference map at the same size (centre bias by default).
      shuffled: `ShuffledNegatives` (only used by sauc / sauc_exact).
      prepared: the example's `PreparedExample` (built from the two above when None); pass the
        same one for every source scored on the example.
    """
    smap = np.asarray(saliency_map, dtype=np.float64)
    if smap.shape != example.shape:
        raise ValueError(f"{example.name}: saliency map is {smap.shape}, fixation map is "
                         f"{example.shape}; resize it with map_sources.resize_map first")
    if prepared is None:
        prepared = PreparedExample(example, baseline_map=baseline_map, shuffled=shuffled)
    smap = metrics.PreparedMap(smap)
    seed = [config.seed, negatives.stable_hash(example.name)]
    return {name: float(METRICS[name].score(smap, prepared, config, seed))
            for name in config.metrics}


def prepare_example(example, *, config, shuffled, baseline_maps):
    """The example's `PreparedExample` with the centre-bias IG reference of its size.

    `baseline_maps`: a dict (H, W) -> prepared centre bias, filled here so each size is made once
    (`evaluate` and `salgan_tf.validation` share one per run).
    """
    if example.shape not in baseline_maps:
        baseline_maps[example.shape] = metrics.PreparedMap(baselines.center_bias_map(
            *example.shape, sigma_fraction=config.center_bias_sigma_fraction
        ).astype(np.float64), "baseline_map")
    try:
        return PreparedExample(example, baseline_map=baseline_maps[example.shape],
                               shuffled=shuffled)
    except ValueError as error:
        raise ValueError(f"{example.name}: {error}") from error


def evaluate(examples: Iterable[EvalExample], sources: Mapping[str, map_sources.MapSource], *,
             config: EvalConfig, shuffled: negatives.ShuffledNegatives, progress=None,
             on_map=None):
    """Scores every source on every example.

    Args:
      examples: iterable of `EvalExample` (streamed; each is used once).
      sources: source name -> fn(example) returning a map (any size; resized here).
      config: `EvalConfig`.
      shuffled: `ShuffledNegatives` built from ALL examples' fixations.
      progress: optional callable(done_images) for a progress display.
      on_map: optional callable(source_name, example, saliency_map, scores), called once per
        source x image with the map as scored (float64 [H, W] at the original size; a reused
        buffer, so copy what you keep) — the HTML report (salgan_tf.report) draws from it.

    Returns:
      list of row dicts: {"source", "image", "height", "width", "num_fixations", <metrics>}.
    """
    rows = []
    baseline_maps = {}  # (H, W) -> float64 centre bias, made once per size
    map_buffers = {}  # (H, W) -> float64 buffer the current source map is copied into
    for count, example in enumerate(examples, start=1):
        prepared = prepare_example(example, config=config, shuffled=shuffled,
                                   baseline_maps=baseline_maps)
        for source_name, source in sources.items():
            try:
                buffer = map_buffers.setdefault(example.shape, np.empty(example.shape))
                smap = map_sources.resize_map(source(example), example.shape, out=buffer)
                scores = score_map(smap, example, config=config, prepared=prepared)
            except (ValueError, FileNotFoundError) as error:
                raise type(error)(f"{source_name} on {example.name}: {error}") from error
            if on_map is not None:
                on_map(source_name, example, smap, scores)
            rows.append({"source": source_name, "image": example.name,
                         "height": example.shape[0], "width": example.shape[1],
                         "num_fixations": int(len(example.fixations)), **scores})
        if progress is not None:
            progress(count)
    return rows


def run(examples_factory: Callable[[], Iterable[EvalExample]],
        sources: Mapping[str, map_sources.MapSource], *, config: EvalConfig, output_dir=None,
        progress=None, on_map=None):
    """The whole evaluation: two passes over the examples (fixations first, for sAUC's negatives).

    Args:
      examples_factory: returns a fresh iterable of examples each call (read twice).
      sources: as in `evaluate`.
      config: `EvalConfig`.
      output_dir: where to write per_image.csv + summary.json (skipped when None).
      progress: optional callable(done_images).
      on_map: optional per-map hook, as in `evaluate` (e.g. `report.ThumbnailWriter`).

    Returns:
      (rows, summary, table_text).
    """
    shuffled = shuffled_negatives(examples_factory(), config=config)
    rows = evaluate(examples_factory(), sources, config=config, shuffled=shuffled,
                    progress=progress, on_map=on_map)
    summary = eval_results.summarize(rows, list(config.metrics))
    table = eval_results.format_table(summary, list(config.metrics))
    if output_dir is not None:
        eval_results.write_results(rows, summary, output_dir, config=config)
    return rows, summary, table
