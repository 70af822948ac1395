"""Scores saliency maps against eye fixations: per-image rows, a summary, a table, CSV + JSON.

The library behind `python -m salgan_tf.evaluate` (never reads FLAGS). Data flow:

  examples (name, GT map, fixations at the ORIGINAL size) --+
  sources: name -> fn(example) -> saliency map             +--> evaluate() -> rows (one per
  (a model's predictor, a folder of PNG maps, centre bias) |     source x image x metric)
  shuffled-AUC negatives from the other images' fixations -+
  rows -> summarize() -> format_table() / write_results() (a later HTML report reuses them).

Maps are compared at the fixation-map (original image) size, as the MIT and Tübingen
benchmarks do: predictions are resized to it (bilinear; MIT's MATLAB code uses bicubic imresize).
"""
from __future__ import annotations

import csv
import dataclasses
import functools
import json
import math
import os
import pathlib
import time
from typing import Callable, Iterable, Mapping

import numpy as np
from PIL import Image

from salgan_tf import atomic
from salgan_tf import baselines
from salgan_tf import metrics

# Column name -> (higher is better, one-line meaning). Order is the table's column order.
METRICS = {
    "auc_judd": (True, "AUC-Judd (MIT AUC_Judd.m, jitter)"),
    "auc_borji": (True, "AUC-Borji, MIT sampled (splits, step 0.1)"),
    "auc_borji_exact": (True, "AUC-Borji, exact (all pixels negatives)"),
    "sauc": (True, "shuffled AUC, MIT sampled (M other images)"),
    "sauc_exact": (True, "shuffled AUC, exact (all other fixations)"),
    "nss": (True, "NSS (MIT, std ddof=1)"),
    "cc": (True, "CC (Pearson)"),
    "kld": (False, "KL(G||S), nats (MIT KLdiv.m)"),
    "sim": (True, "SIM (MIT similarity.m)"),
    "ig": (True, "IG over centre bias, bits/fixation (MIT InfoGain.m)"),
    "emd": (False, "EMD on 1/32 maps (slow, off by default)"),
}
DEFAULT_METRICS = tuple(name for name in METRICS if name != "emd")
# The metrics that need only the ground-truth map: all a maps-only dataset (MIT1003's continuous
# maps, blurred heat maps; records converted without fixation points) can be scored with.
MAP_METRICS = ("cc", "kld", "sim")
BASELINE_SOURCE = "center_bias"


@dataclasses.dataclass(frozen=True)
class EvalExample:
    """One image to score. Everything at the ORIGINAL image size (docs/conventions.md).

    Attributes:
      name: image id, e.g. "1001.jpg" (matches `--maps` PNG names by stem).
      gt_map: float [H, W] continuous ground-truth density (any positive scale).
      fixations: int [N, 2] 0-based (row, col), every fixation (duplicates kept).
      image: uint8 [H, W, 3] RGB, needed only by model predictors.
    """
    name: str
    gt_map: np.ndarray
    fixations: np.ndarray
    image: np.ndarray | None = None

    @property
    def shape(self):
        return tuple(self.gt_map.shape[:2])


@dataclasses.dataclass(frozen=True)
class EvalConfig:
    """Metric settings. Defaults reproduce the MIT benchmark code.

    Attributes:
      metrics: which `METRICS` columns to compute.
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


# --------------------------------------------------------------------------- shuffled negatives


class ShuffledNegatives:
    """Other images' fixations, rescaled to the image being scored, for sAUC.

    `sampled(name, shape)`: MIT `otherMap` — the union of the fixations of M other images drawn
    at random (seeded by the image's name), as an [K, 2] array (de-duplicated by the metric).
    `exact(name, shape)`: every fixation on every other image (pysaliency's "shuffled").
    Fixations of a (h, w) image are mapped to (H, W) by row * H / h, col * W / w, floored —
    pysaliency's `FullShuffledNonfixationProvider` rule; identity when sizes agree (OSIE).
    """

    def __init__(self, fixations_by_name: Mapping[str, tuple], *, other_images=10, seed=0):
        """`fixations_by_name`: name -> ((H, W), int [N, 2] (row, col))."""
        self._names = list(fixations_by_name)
        self._shapes = [tuple(fixations_by_name[n][0]) for n in self._names]
        points = [np.asarray(fixations_by_name[n][1], dtype=np.int64).reshape(-1, 2)
                  for n in self._names]
        self._index = {name: i for i, name in enumerate(self._names)}
        self._other_images = other_images
        self._seed = seed
        # All fixations in one array with their image index; rescaled copies cached per size.
        self._all_points = np.concatenate(points) if points else np.zeros((0, 2), np.int64)
        self._owner = np.repeat(np.arange(len(points)), [len(p) for p in points])
        self._source_shape = np.array([self._shapes[i] for i in self._owner],
                                      dtype=np.float64).reshape(-1, 2)
        self._rescaled_cache = {}

    def _rescaled_all(self, shape):
        shape = tuple(shape)
        if shape not in self._rescaled_cache:
            scaled = np.floor(self._all_points * (np.array(shape) / self._source_shape))
            same = (self._source_shape == np.array(shape)).all(axis=1)
            scaled[same] = self._all_points[same]  # exact identity where sizes agree
            self._rescaled_cache[shape] = np.clip(scaled, 0, np.array(shape) - 1).astype(np.int64)
        return self._rescaled_cache[shape]

    def _others(self, name):
        me = self._index.get(name)
        return [i for i in range(len(self._names)) if i != me]

    def sampled(self, name, shape):
        others = self._others(name)
        rng = np.random.default_rng([self._seed, _stable_hash(name)])
        count = min(self._other_images, len(others))
        chosen = [others[i] for i in rng.choice(len(others), size=count, replace=False)] \
            if count else []
        return self._rescaled_all(shape)[np.isin(self._owner, chosen)]

    def exact(self, name, shape):
        return self._rescaled_all(shape)[self._owner != self._index.get(name, -1)]


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
    return ShuffledNegatives(fixations_by_name, other_images=config.shuffled_other_images,
                             seed=config.seed)


def _stable_hash(text):
    """A run-to-run stable 32-bit hash (Python's hash() is salted per process)."""
    value = 2166136261
    for byte in text.encode("utf-8"):
        value = ((value ^ byte) * 16777619) & 0xFFFFFFFF
    return value


# --------------------------------------------------------------------------- scoring


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

    Args:
      saliency_map: float [H, W] at the example's size (resize first, see `resize_map`).
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
                         f"{example.shape}; resize it with evaluate_lib.resize_map first")
    if prepared is None:
        prepared = PreparedExample(example, baseline_map=baseline_map, shuffled=shuffled)
    smap = metrics.PreparedMap(smap)
    points = prepared.fixations
    gt_map = prepared.gt_map
    conv = config.convention
    seed = [config.seed, _stable_hash(example.name)]
    scores = {}
    for name in config.metrics:
        if name == "auc_judd":
            value = metrics.auc_judd(smap, points, jitter=config.judd_jitter, seed=seed,
                                     convention=conv)
        elif name == "auc_borji":
            value = metrics.auc_borji(smap, points, n_splits=config.n_splits, step=config.step,
                                      seed=seed, convention=conv)
        elif name == "auc_borji_exact":
            value = metrics.auc_borji(smap, points, exact=True, convention=conv)
        elif name == "sauc":
            value = metrics.auc_shuffled(smap, points, prepared.shuffled_sampled,
                                         n_splits=config.n_splits, step=config.step, seed=seed,
                                         convention=conv)
        elif name == "sauc_exact":
            value = metrics.auc_shuffled(smap, points, prepared.shuffled_exact,
                                         exact=True, convention=conv)
        elif name == "nss":
            value = metrics.nss(smap, points, convention=conv)
        elif name == "cc":
            value = metrics.cc(smap, gt_map, convention=conv)
        elif name == "kld":
            value = metrics.kld(smap, gt_map, convention=conv)
        elif name == "sim":
            value = metrics.sim(smap, gt_map, convention=conv)
        elif name == "ig":
            value = metrics.information_gain(smap, points, prepared.baseline_map,
                                             convention=conv)
        elif name == "emd":
            value = metrics.emd(smap.image, gt_map.image, downsize=config.emd_downsize)
        else:  # guarded by EvalConfig.__post_init__
            raise ValueError(f"unknown metric {name!r}")
        scores[name] = float(value)
    return scores


MapSource = Callable[[EvalExample], np.ndarray]


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


def evaluate(examples: Iterable[EvalExample], sources: Mapping[str, MapSource], *,
             config: EvalConfig, shuffled: ShuffledNegatives, progress=None, on_map=None):
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
                smap = resize_map(source(example), example.shape,
                                  out=map_buffers.setdefault(example.shape,
                                                             np.empty(example.shape)))
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


# --------------------------------------------------------------------------- sources


def resize_map(saliency_map, shape, out=None):
    """float64 [H, W] map resized (bilinear, PIL float mode) to `shape` = (H, W) if needed.

    `out`: optional float64 array of `shape` to write into (saves a large allocation per map).
    """
    smap = np.asarray(saliency_map)
    if smap.ndim == 3 and smap.shape[-1] == 1:
        smap = smap[..., 0]
    if smap.ndim != 2:
        raise ValueError(f"saliency map must be [H, W] or [H, W, 1], got {smap.shape}")
    if smap.shape != tuple(shape):
        resized = Image.fromarray(smap.astype(np.float32), mode="F").resize(
            (shape[1], shape[0]), Image.BILINEAR)
        smap = np.asarray(resized)
    if out is None:
        return smap.astype(np.float64)
    np.copyto(out, smap)
    return out


def load_map_png(path):
    """A saved map PNG (8/16-bit grey, or RGB averaged) -> float [H, W] in [0, 1]."""
    path = pathlib.Path(path)
    try:
        with Image.open(path) as image:
            image.load()
            array = np.asarray(image)
            mode = image.mode
    except (OSError, ValueError) as error:
        raise ValueError(f"{path}: cannot read saliency map PNG ({error})") from error
    if array.ndim == 3:
        array = array[..., :3].mean(axis=-1)
    maximum = 65535.0 if mode.startswith("I") or array.dtype == np.uint16 else 255.0
    if array.dtype.kind == "f":
        maximum = 1.0
    return array.astype(np.float64) / maximum


def maps_dir_source(maps_dir) -> MapSource:
    """Source reading `<maps_dir>/<stem>.png` (or `<name>.png`) for each example's name."""
    maps_dir = pathlib.Path(maps_dir)
    if not maps_dir.is_dir():
        raise FileNotFoundError(f"--maps folder {maps_dir} does not exist")

    def source(example):
        stem = pathlib.PurePath(example.name).stem
        for candidate in (maps_dir / f"{stem}.png", maps_dir / f"{example.name}.png"):
            if candidate.is_file():
                return load_map_png(candidate)
        raise FileNotFoundError(f"no map {maps_dir / (stem + '.png')} for image {example.name}")

    return source


def predictor_source(predictor) -> MapSource:
    """Source calling `predictor.predict(rgb_uint8 [H, W, 3]) -> [H, W] map` (salgan_tf.inference)."""

    def source(example):
        if example.image is None:
            raise ValueError(f"{example.name}: the record has no image to run the model on")
        return predictor.predict(example.image)

    return source


def center_bias_source(config: EvalConfig) -> MapSource:
    """The centre-bias baseline map (`salgan_tf.baselines`) at each example's size."""

    def source(example):
        return baselines.center_bias_map(*example.shape,
                                         sigma_fraction=config.center_bias_sigma_fraction)

    return source


# --------------------------------------------------------------------------- records


def read_tfrecord_examples(file_pattern, *, with_images=True, limit=None):
    """Yields `EvalExample`s from TFRecords of the salgan_tf schema (docs/data.md).

    Reads with the data layer's `salgan_tf.data.pipeline.evaluation_dataset`: everything at the
    ORIGINAL size (the fixation grid) — a pre-resized stored image/map is resized back there;
    fixations are stored in the original grid. Files are read one by one, in sorted order, so an
    error names its file. `with_images=False` drops the RGB (scoring saved maps or a baseline).

    Raises:
      FileNotFoundError: a glob matches nothing (`salgan_tf.data.shards.glob_records`).
      salgan_tf.data.shards.ManifestError: the files do not match their manifest.json (checked
        before the first example is yielded).
      ValueError: a corrupt record, naming its file.
    """
    import tensorflow as tf

    from salgan_tf.data import pipeline
    from salgan_tf.data import shards

    paths = shards.glob_records(file_pattern, label="--data")
    shards.check_records(paths)
    count = 0
    for path in paths:
        try:
            for record in pipeline.evaluation_dataset(path).as_numpy_iterator():
                if limit is not None and count >= limit:
                    return
                yield _example_from_record(record, with_images)
                count += 1
        except (tf.errors.DataLossError, tf.errors.InvalidArgumentError) as error:
            raise ValueError(f"{path}: corrupt or unreadable TFRecord ({error.message})") from error


def _example_from_record(record, with_images):
    """`evaluation_dataset` element (NumPy dict) -> `EvalExample`."""
    name = record["name"]
    name = name.decode("utf-8") if isinstance(name, bytes) else str(name)
    gt_map = np.asarray(record["map"], dtype=np.float64)
    if gt_map.ndim == 3:
        gt_map = gt_map[..., 0]
    fixations = np.stack([record["fixation_rows"], record["fixation_cols"]], axis=1)
    return EvalExample(name=name, gt_map=gt_map, fixations=fixations.astype(np.int64),
                       image=np.asarray(record["image"], np.uint8) if with_images else None)


# --------------------------------------------------------------------------- summary and output


def summarize(rows, metric_names=None):
    """{source: {metric: {"mean", "std", "count", "nan_count"}}} over images (NaN skipped)."""
    metric_names = metric_names or [m for m in METRICS if rows and m in rows[0]]
    summary = {}
    for source in dict.fromkeys(row["source"] for row in rows):
        source_rows = [row for row in rows if row["source"] == source]
        summary[source] = {}
        for metric in metric_names:
            values = np.array([row[metric] for row in source_rows], dtype=np.float64)
            finite = values[~np.isnan(values)]
            summary[source][metric] = {
                "mean": float(finite.mean()) if len(finite) else float("nan"),
                "std": float(finite.std()) if len(finite) else float("nan"),
                "count": int(len(finite)),
                "nan_count": int(len(values) - len(finite)),
            }
    return summary


def table_cells(summary, metric_names=None, *, digits=4):
    """(header, body) strings of the summary table; `format_table` and the HTML report share it.

    header: ["source", "auc_judd ↑", ...]; body: one list per source, [source, "0.7308", ...]
    (means rounded to `digits`, "nan" when every image was NaN).
    """
    sources = list(summary)
    metric_names = metric_names or (list(summary[sources[0]]) if sources else [])
    header = ["source"] + [f"{m} {'↑' if METRICS[m][0] else '↓'}" for m in metric_names]
    body = []
    for source in sources:
        cells = [source]
        for metric in metric_names:
            mean = summary[source][metric]["mean"]
            cells.append("nan" if math.isnan(mean) else f"{mean:.{digits}f}")
        body.append(cells)
    return header, body


def format_table(summary, metric_names=None, *, digits=4):
    """A plain-text (Markdown-compatible) table: one row per source, mean of each metric.

    Arrows in the header say which direction is better; NaN images are counted in a note.
    """
    sources = list(summary)
    if not sources:
        return "(no results)"
    metric_names = metric_names or list(summary[sources[0]])
    header, body = table_cells(summary, metric_names, digits=digits)
    widths = [max(len(row[i]) for row in [header] + body) for i in range(len(header))]

    def line(cells):
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths)) + " |"

    lines = [line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    lines += [line(row) for row in body]
    nan_notes = [f"{s}/{m}: {summary[s][m]['nan_count']} NaN image(s) skipped"
                 for s in sources for m in metric_names if summary[s][m]["nan_count"]]
    if nan_notes:
        lines.append("")
        lines += nan_notes
    return "\n".join(lines)


def write_results(rows, summary, output_dir, *, config=None, extra=None):
    """Writes `per_image.csv` and `summary.json` (atomically) to `output_dir`; returns paths."""
    output_dir = pathlib.Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    csv_path = output_dir / "per_image.csv"
    json_path = output_dir / "summary.json"
    fieldnames = list(rows[0]) if rows else ["source", "image"]
    with atomic.open_replaced(csv_path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fieldnames)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: (repr(v) if isinstance(v, float) else v) for k, v in row.items()})
    payload = {
        "summary": _json_safe(summary),
        "per_image": _json_safe(rows),
        "config": dataclasses.asdict(config) if config is not None else None,
        "metrics": {m: {"higher_is_better": METRICS[m][0], "meaning": METRICS[m][1]}
                    for m in METRICS},
        "written_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        **(extra or {}),
    }
    with atomic.open_replaced(json_path) as handle:
        json.dump(payload, handle, indent=1, allow_nan=False)
    return csv_path, json_path


def _json_safe(value):
    """NaN/inf -> None so the JSON is strict (allow_nan=False) and readable by any parser."""
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, np.generic):
        return _json_safe(value.item())
    return value


def run(examples_factory: Callable[[], Iterable[EvalExample]], sources: Mapping[str, MapSource],
        *, config: EvalConfig, output_dir=None, progress=None, on_map=None):
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
    summary = summarize(rows, list(config.metrics))
    table = format_table(summary, list(config.metrics))
    if output_dir is not None:
        write_results(rows, summary, output_dir, config=config)
    return rows, summary, table
