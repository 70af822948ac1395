"""Per-epoch validation with the real saliency metrics, and the best-epoch keeper.

    validator = Validator(val_files, image_size=(96, 128), resize_mode="stretch", downsample=4)
    keeper = BestEpoch(run_dir, select_metric="cc", metric_names=validator.metric_names)
    scores = validator(generator)      # {"auc_judd": ..., "nss": ..., "content_loss": ...}
    keeper.update(epoch, phase, scores, generator)  # val_metrics.csv, best_generator.weights.h5

`Validator` reads the records once and keeps what every epoch reuses: the network inputs, the
ground truth, the fixations, the centre-bias IG reference and the shuffled-AUC negatives. A call
runs the generator on every image in batches and scores each map with `salgan_tf.evaluate_lib` at
the ORIGINAL image size, exactly as `python -m salgan_tf.evaluate --model=<run>` does (same
`inference.Predictor` pre/post-processing, same `score_map`, same seeds), so a training run's
validation numbers are the numbers `evaluate` prints for the same weights.

The paper picks "the best results through epochs" (Pan et al. 2017, Sec. 4.2); `BestEpoch` does
that by one metric and keeps that epoch's generator weights.
"""
from __future__ import annotations

import csv
import dataclasses
import io
import itertools
import json
import math
import os
import time

import numpy as np
import tensorflow as tf
from absl import logging

from salgan_tf import atomic
from salgan_tf import evaluate_lib
from salgan_tf import inference
from salgan_tf import losses
from salgan_tf import preprocessing
from salgan_tf.data import maps as maps_lib
from salgan_tf.data import pipeline
from salgan_tf.data import shards

# The metric set: the exact (sampling-free) AUC-Borji and sAUC, so an epoch-to-epoch
# change is never sampling noise. Names are evaluate_lib's columns.
VALIDATION_METRICS = ("auc_judd", "auc_borji_exact", "sauc_exact", "nss", "cc", "kld", "sim",
                      "ig")
# The metrics that need only the ground-truth map (records converted without fixations).
MAP_METRICS = evaluate_lib.MAP_METRICS
# Mean BCE on downsampled maps (the bootstrap loss), the loop's `val/content_loss`.
CONTENT_LOSS = "content_loss"

CSV_FILENAME = "val_metrics.csv"
BEST_WEIGHTS_FILENAME = "best_generator.weights.h5"
BEST_JSON_FILENAME = "best_epoch.json"


def higher_is_better(metric):
    """True when a larger value of `metric` (a `VALIDATION_METRICS` name or "content_loss") wins."""
    if metric == CONTENT_LOSS:
        return False
    if metric not in evaluate_lib.METRICS:
        raise ValueError(f"unknown validation metric {metric!r}; choose from "
                         f"{list(VALIDATION_METRICS) + [CONTENT_LOSS]}")
    return evaluate_lib.METRICS[metric][0]


class Validator:
    """Scores a generator on a fixed validation set; build once, call after every epoch.

    Attributes:
      metric_names: the keys a call returns (the metrics the records allow, then content_loss).
      num_examples: validation images.
      num_with_fixations: of those, how many carry fixations (the fixation metrics' count).
      last_seconds: {"network", "metrics", "total"} wall seconds of the last call.
    """

    def __init__(self, files, *, image_size, resize_mode="stretch", downsample=4, batch_size=8,
                 limit=None, eval_config=None):
        """Reads the records and prepares everything that does not depend on the weights.

        Args:
          files: comma-separated globs (str) or a list of TFRecord globs/paths
            (`shards.glob_records`), in the converter's schema (docs/data.md).
          image_size: `(height, width)` of the network input (the training size).
          resize_mode: "stretch" or "letterbox", the training run's.
          downsample: factor of the content-loss maps (the run's `downsample`).
          batch_size: images per generator call.
          limit: use only the first N records (files in sorted order, as `evaluate`).
          eval_config: `evaluate_lib.EvalConfig` of the metrics (default: MIT conventions,
            `VALIDATION_METRICS`); its `metrics` are the ones computed on records with fixations.

        Raises:
          FileNotFoundError: no file matches.
          ValueError: a corrupt record (naming its file), duplicate names, no records.
        """
        self._files = shards.glob_records(files, label="validation data")
        self._config = eval_config or evaluate_lib.EvalConfig(metrics=VALIDATION_METRICS)
        self._map_config = dataclasses.replace(
            self._config, metrics=tuple(m for m in self._config.metrics if m in MAP_METRICS))
        self._downsample = int(downsample)
        # The generator of the current call: `_network` runs it inside the predictor.
        self._generator = None
        self._run_generator = None
        self._predictor = inference.Predictor(
            self._network, kind="checkpoint", path="validation generator",
            image_size=image_size, resize_mode=resize_mode, batch_size=batch_size)

        # Each file read on its own (an existing path is not a pattern), in sorted order, as
        # `evaluate --data=<glob>` reads them; `limit` counts records across files.
        records = itertools.chain.from_iterable(
            evaluate_lib.read_tfrecord_examples(path) for path in self._files)
        examples, inputs = [], []
        for example in itertools.islice(records, limit):
            rgb = inference.as_rgb(example.image, name=example.name)
            inputs.append(self._predictor.to_network_input(rgb))
            examples.append(dataclasses.replace(example, image=None))  # keep no full-size RGB
        shuffled = evaluate_lib.shuffled_negatives(examples, config=self._config)
        baseline_maps = {}
        self._prepared = [evaluate_lib.prepare_example(example, config=self._config,
                                                       shuffled=shuffled,
                                                       baseline_maps=baseline_maps)
                          for example in examples]
        self._inputs = np.stack(inputs)
        self._targets_small = self._content_loss_targets([e.name for e in examples], image_size,
                                                         resize_mode)
        self.num_examples = len(examples)
        self.num_with_fixations = sum(len(e.fixations) > 0 for e in examples)
        fixation_metrics = [m for m in self._config.metrics if m not in MAP_METRICS]
        if self.num_with_fixations == 0:
            names = list(self._map_config.metrics)
            if fixation_metrics:
                logging.warning("validation records carry no fixations: computing only %s "
                                "(not %s)", ", ".join(names), ", ".join(fixation_metrics))
        else:
            names = list(self._config.metrics)
            if self.num_with_fixations < self.num_examples and fixation_metrics:
                logging.warning("%d of %d validation records carry no fixations: %s are means "
                                "over the %d that do", self.num_examples - self.num_with_fixations,
                                self.num_examples, ", ".join(fixation_metrics),
                                self.num_with_fixations)
        self.metric_names = tuple(names) + (CONTENT_LOSS,)
        self.last_seconds = {}
        logging.info("validation: %d images from %d file(s), %d with fixations; metrics %s",
                     self.num_examples, len(self._files), self.num_with_fixations,
                     ", ".join(self.metric_names))

    def _content_loss_targets(self, names, image_size, resize_mode):
        """Ground-truth maps at the network size as training sees them (`pipeline.make_dataset`),
        downsampled like the content loss, `[N, h/d, w/d, 1]` in the order of `names`."""
        wanted = set(names)
        maps = {}
        for batch in pipeline.make_dataset(self._files, image_size=image_size, batch_size=32,
                                           resize_mode=resize_mode, deterministic=True):
            small = maps_lib.downsample_maps(batch["map"], self._downsample).numpy()
            for name, target in zip(batch["name"].numpy(), small):
                name = name.decode("utf-8")
                if name in wanted:
                    maps[name] = target
            if len(maps) == len(wanted):
                break
        return np.stack([maps[name] for name in names])

    def _network(self, batch):
        """The predictor's network: RGB 0-255 `[N, h, w, 3]` -> `[N, h, w]` maps in [0, 1]."""
        return self._run_generator(tf.constant(batch)).numpy()

    def _use(self, generator):
        if generator is not self._generator:  # trace once per generator, not once per call
            @tf.function(reduce_retracing=True)
            def run(images):
                maps = generator(preprocessing.vgg_preprocess(images), training=False)
                return tf.cast(maps[..., 0], tf.float32)

            self._generator, self._run_generator = generator, run

    def __call__(self, generator):
        """Means of the metrics over the validation set for `generator` -> {metric: float}.

        Fixation metrics average the records with fixations; NaN images are left out of a mean
        (as in `evaluate`'s summary). `content_loss` is the mean BCE between the downsampled
        prediction and the downsampled ground truth of `pipeline.make_dataset` (the training
        loss without augmentation; the network input is the unrounded float resize `evaluate`
        uses, not the training pipeline's uint8 one).
        """
        start = time.perf_counter()
        self._use(generator)
        small_maps = self._predictor.predict_small(self._inputs)  # [N, h, w]
        network_done = time.perf_counter()
        content = losses.content_loss(self._targets_small, small_maps[..., None],
                                      self._downsample)
        rows, buffers = [], {}
        for small_map, prepared in zip(small_maps, self._prepared):
            example = prepared.example
            # The same two steps as `evaluate --model`: the predictor's resize to the original
            # size, then evaluate_lib's float64 copy.
            saliency = evaluate_lib.resize_map(
                self._predictor.to_original_size(small_map, example.shape), example.shape,
                out=buffers.setdefault(example.shape, np.empty(example.shape)))
            config = self._config if len(example.fixations) else self._map_config
            scores = evaluate_lib.score_map(saliency, example, config=config, prepared=prepared)
            rows.append({"source": "validation", **{m: scores.get(m, math.nan)
                                                    for m in self.metric_names[:-1]}})
        summary = evaluate_lib.summarize(rows, list(self.metric_names[:-1]))["validation"]
        results = {m: summary[m]["mean"] for m in self.metric_names[:-1]}
        results[CONTENT_LOSS] = float(tf.reduce_mean(content))
        end = time.perf_counter()
        self.last_seconds = {"network": network_done - start, "metrics": end - network_done,
                             "total": end - start}
        return results


# --------------------------------------------------------------------------- best epoch


def _atomic_write_text(path, text):
    with atomic.open_replaced(path, "w", newline="") as handle:
        handle.write(text)


class BestEpoch:
    """Keeps the per-epoch validation table and the generator weights of the best epoch.

    In `run_dir`:
      val_metrics.csv          one row per epoch: epoch, phase, every metric (rewritten atomically)
      best_generator.weights.h5  the generator weights of the best epoch (Keras format)
      best_epoch.json          {"epoch", "phase", "metric", "value", "higher_is_better", "scores"}

    Epochs are 1-based counts of completed epochs, as the training log prints them; epoch 0 (phase
    "start") is the starting model of a fine-tuning run (`--init_from`). A new
    instance on the same `run_dir` reads both files back, so a resumed run neither forgets the
    best nor repeats rows: recording an epoch again (a run resumed from before its end) replaces
    that row and drops any later ones. Ties keep the earlier epoch; NaN never wins.
    """

    def __init__(self, run_dir, select_metric, *, metric_names=None):
        """`metric_names`: what the validator returns, to reject an unavailable metric early."""
        self.run_dir = os.fspath(run_dir)
        self.select_metric = select_metric
        self.higher_is_better = higher_is_better(select_metric)
        if metric_names is not None and select_metric not in metric_names:
            raise ValueError(f"select_metric={select_metric!r} is not computed on this validation "
                             f"data (available: {', '.join(metric_names)}); records without "
                             "fixations give only the map metrics")
        self.csv_path = os.path.join(self.run_dir, CSV_FILENAME)
        self.json_path = os.path.join(self.run_dir, BEST_JSON_FILENAME)
        self.weights_path = os.path.join(self.run_dir, BEST_WEIGHTS_FILENAME)
        self.rows = self._read_rows()
        self.best = self._read_best()

    @property
    def last_epoch(self):
        """The last epoch with a row (0 when none): a resumed loop can validate a missed one."""
        return max((row["epoch"] for row in self.rows), default=0)

    def _read_rows(self):
        if not os.path.isfile(self.csv_path):
            return []
        rows = []
        with open(self.csv_path, newline="") as handle:
            reader = csv.DictReader(handle)
            if reader.fieldnames is None or reader.fieldnames[:2] != ["epoch", "phase"]:
                raise ValueError(f"{self.csv_path}: not a validation table (header must start "
                                 f"with epoch,phase; got {reader.fieldnames})")
            for line, row in enumerate(reader, start=2):
                try:
                    rows.append({"epoch": int(row["epoch"]), "phase": row["phase"],
                                 **{k: float(v) for k, v in row.items()
                                    if k not in ("epoch", "phase") and v not in ("", None)}})
                except (TypeError, ValueError) as error:
                    raise ValueError(
                        f"{self.csv_path}, line {line}: bad value ({error})") from error
        return rows

    def _read_best(self):
        if not os.path.isfile(self.json_path):
            return None
        try:
            with open(self.json_path) as handle:
                best = json.load(handle)
            epoch, value = int(best["epoch"]), float(best["value"])
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise ValueError(f"{self.json_path}: unreadable best-epoch record ({error})") from error
        if best.get("metric") != self.select_metric:
            raise ValueError(f"{self.json_path}: the best epoch was chosen by "
                             f"{best.get('metric')!r}, not select_metric={self.select_metric!r}; "
                             "use the run's metric or a new output directory")
        if not os.path.isfile(self.weights_path):
            raise ValueError(f"{self.json_path} names epoch {epoch} but {self.weights_path} is "
                             "missing")
        return {**best, "epoch": epoch, "value": value}

    def _better(self, value, than):
        if math.isnan(value):
            return False
        return value > than if self.higher_is_better else value < than

    def update(self, epoch, phase, scores, generator):
        """Records epoch `epoch`'s `scores`; saves `generator`'s weights if it is the best so far.

        Returns:
          True when this epoch became the best.
        """
        epoch = int(epoch)
        if self.select_metric not in scores:
            raise ValueError(f"select_metric={self.select_metric!r} is not among the validation "
                             f"scores ({', '.join(scores)})")
        value = float(scores[self.select_metric])
        self.rows = [row for row in self.rows if row["epoch"] < epoch]
        self.rows.append({"epoch": epoch, "phase": phase,
                          **{k: float(v) for k, v in scores.items()}})
        self._write_rows()
        if self.best is not None and self.best["epoch"] >= epoch:
            # The best came from a run that was rolled back to before `epoch`; its weights are the
            # only best weights on disk, so the re-run epoch takes over (with a warning if an
            # earlier row scored better: its weights were overwritten at the time).
            earlier = [row[self.select_metric] for row in self.rows[:-1]
                       if self.select_metric in row]
            if any(self._better(v, value) for v in earlier):
                logging.warning("epoch %d was recorded again; an earlier epoch scored better on "
                                "%s but its weights were replaced, so epoch %d becomes the best",
                                epoch, self.select_metric, epoch)
            self.best = None
        if self.best is not None and not self._better(value, self.best["value"]):
            return False
        if math.isnan(value):
            logging.warning("epoch %d: %s is NaN; not kept as the best epoch", epoch,
                            self.select_metric)
            return False
        self._save_weights(generator)
        self.best = {"epoch": epoch, "phase": phase, "metric": self.select_metric,
                     "value": value, "higher_is_better": self.higher_is_better,
                     "scores": {k: float(v) for k, v in scores.items()}}
        payload = {**self.best, "scores": {k: v if math.isfinite(v) else None  # strict JSON
                                           for k, v in self.best["scores"].items()}}
        _atomic_write_text(self.json_path, json.dumps(payload, indent=1, allow_nan=False) + "\n")
        return True

    def _save_weights(self, generator):
        """Writes the weights beside the final file, then renames: never a half-written best."""
        with atomic.replaced_file(self.weights_path) as tmp:  # keeps the .weights.h5 suffix
            generator.save_weights(tmp)

    def _write_rows(self):
        columns = ["epoch", "phase"]
        for row in self.rows:
            columns += [k for k in row if k not in columns]
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=columns, restval="", lineterminator="\n")
        writer.writeheader()
        for row in self.rows:  # repr: floats read back bit-exact
            writer.writerow({k: repr(v) if isinstance(v, float) else v for k, v in row.items()})
        _atomic_write_text(self.csv_path, text.getvalue())
