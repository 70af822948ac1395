"""Tests for salgan_tf.evaluate_lib / the evaluate CLI on tiny synthetic TFRecords."""
import csv
import json
import math
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from salgan_tf import baselines
from salgan_tf import eval_results
from salgan_tf import evaluate_lib
from salgan_tf import map_sources
from salgan_tf import metrics
from salgan_tf.data import eval_examples
from salgan_tf.data import shards
from salgan_tf.metrics import negatives
from salgan_tf.metrics import table as metric_table

H, W = 32, 48
FAST = evaluate_lib.EvalConfig(n_splits=10)


class BrightnessPredictor:
    """A fake `salgan_tf.inference` predictor: brightness of the image, at the image's size."""

    def __init__(self):
        self.seen_shapes = []

    def predict(self, rgb):
        self.seen_shapes.append(rgb.shape)
        grey = rgb.astype(np.float32).mean(axis=-1)
        return grey / max(grey.max(), 1.0)


def _examples(pattern, **kwargs):
    return lambda: eval_examples.read_tfrecord_examples(pattern, **kwargs)


def test_reads_records_at_original_size(records):
    examples = list(eval_examples.read_tfrecord_examples(records))
    assert len(examples) == 4
    for example in examples:
        assert example.shape == (H, W) and example.image.shape == (H, W, 3)
        assert example.gt_map.max() == pytest.approx(1.0)
        assert example.fixations.shape[1] == 2 and len(example.fixations) > 0
        assert example.fixations[:, 0].max() < H and example.fixations[:, 1].max() < W
    assert list(eval_examples.read_tfrecord_examples(records, with_images=False))[0].image is None
    assert len(list(eval_examples.read_tfrecord_examples(records, limit=3))) == 3


def test_one_pass_checks_the_manifest_once_and_opens_each_file_once(tmp_path, file_opens):
    from salgan_tf.data import synthetic

    synthetic.write_synthetic_tfrecords(str(tmp_path), n=4, height=16, width=24, num_shards=2)
    files = shards.glob_records(str(tmp_path / "*.tfrecord"))
    shards.check_records(files)  # SHA-256s cached: what is left to count is the reading
    opens = file_opens(tmp_path)
    assert len(list(eval_examples.read_tfrecord_examples(str(tmp_path / "*.tfrecord")))) == 4
    counts = opens.counts()
    assert counts == {"manifest.json": 1, **{os.path.basename(f): 1 for f in files}}, counts


def test_missing_and_corrupt_records_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="matches no TFRecord"):
        list(eval_examples.read_tfrecord_examples(str(tmp_path / "none-*.tfrecord")))
    bad = tmp_path / "bad.tfrecord"
    bad.write_bytes(b"\x00" * 40)
    shards.write_manifest(str(tmp_path), {"bad.tfrecord": 1})  # listed: the records are checked
    with pytest.raises(ValueError, match="bad.tfrecord: corrupt"):
        list(eval_examples.read_tfrecord_examples(str(bad)))


def test_run_model_and_baseline_writes_consistent_csv_and_json(records, tmp_path):
    predictor = BrightnessPredictor()
    sources = {"model": map_sources.predictor_source(predictor),
               map_sources.BASELINE_SOURCE: map_sources.center_bias_source(FAST)}
    rows, summary, table = evaluate_lib.run(_examples(records), sources, config=FAST,
                                            output_dir=tmp_path)
    assert predictor.seen_shapes == [(H, W, 3)] * 4  # the model sees original-size RGB
    assert len(rows) == 8 and {r["source"] for r in rows} == {"model", "center_bias"}
    for metric in metric_table.DEFAULT_METRICS:
        model_values = [r[metric] for r in rows if r["source"] == "model"]
        assert summary["model"][metric]["mean"] == pytest.approx(np.nanmean(model_values))
    # IG of the centre bias over itself is exactly 0: the baseline IS the IG reference.
    assert summary["center_bias"]["ig"]["mean"] == pytest.approx(0.0, abs=1e-12)
    assert "| model" in table and "| center_bias" in table and "auc_judd ↑" in table
    with open(tmp_path / "per_image.csv") as handle:
        csv_rows = list(csv.DictReader(handle))
    assert len(csv_rows) == 8
    assert float(csv_rows[0]["nss"]) == pytest.approx(rows[0]["nss"])
    payload = json.loads((tmp_path / "summary.json").read_text())
    assert payload["summary"]["model"]["cc"]["mean"] == pytest.approx(summary["model"]["cc"]["mean"])
    assert payload["config"]["n_splits"] == 10 and len(payload["per_image"]) == 8


def test_scores_match_direct_metric_calls(records):
    examples = list(eval_examples.read_tfrecord_examples(records, with_images=False))
    by_name = {e.name: (e.shape, e.fixations) for e in examples}
    shuffled = negatives.ShuffledNegatives(by_name, seed=0)
    rows = evaluate_lib.evaluate(examples, {"cb": map_sources.center_bias_source(FAST)},
                                 config=FAST, shuffled=shuffled)
    example, row = examples[1], rows[1]
    cb = baselines.center_bias_map(H, W).astype(np.float64)
    assert row["nss"] == metrics.nss(cb, example.fixations)
    assert row["cc"] == metrics.cc(cb, example.gt_map)
    assert row["auc_borji_exact"] == metrics.auc_borji(cb, example.fixations, exact=True)
    assert row["sauc_exact"] == metrics.auc_shuffled(
        cb, example.fixations, shuffled.exact(example.name, (H, W)), exact=True)


def test_maps_dir_scores_saved_maps_resized_to_the_original_size(records, tmp_path):
    examples = list(eval_examples.read_tfrecord_examples(records, with_images=False))
    maps_dir = tmp_path / "maps"
    maps_dir.mkdir()
    for example in examples:  # GT maps saved at HALF size, 8-bit: must be resized back
        small = Image.fromarray(np.round(example.gt_map * 255).astype(np.uint8)).resize(
            (W // 2, H // 2), Image.BILINEAR)
        small.save(maps_dir / f"{pathlib.PurePath(example.name).stem}.png")
    sources = {"gt": map_sources.maps_dir_source(maps_dir),
               "cb": map_sources.center_bias_source(FAST)}
    _, summary, _ = evaluate_lib.run(_examples(records, with_images=False), sources,
                                     config=FAST)
    assert summary["gt"]["cc"]["mean"] > 0.9
    assert summary["gt"]["nss"]["mean"] > summary["cb"]["nss"]["mean"]
    assert summary["gt"]["kld"]["mean"] < summary["cb"]["kld"]["mean"]
    os.remove(maps_dir / f"{pathlib.PurePath(examples[2].name).stem}.png")
    with pytest.raises(FileNotFoundError, match=r"no map .*\.png for image"):
        evaluate_lib.run(_examples(records, with_images=False), sources, config=FAST)


def test_shuffled_negatives_exclude_own_image_rescale_and_are_seeded():
    by_name = {
        "a": ((10, 20), np.array([[1, 2], [3, 4]])),
        "b": ((20, 40), np.array([[10, 30], [19, 39]])),  # twice the size: halved
        "c": ((10, 20), np.array([[5, 5]])),
    }
    shuffled = negatives.ShuffledNegatives(by_name, other_images=1, seed=0)
    exact = shuffled.exact("a", (10, 20))
    assert sorted(map(tuple, exact)) == [(5, 5), (5, 15), (9, 19)]
    sampled = shuffled.sampled("a", (10, 20))
    assert len(sampled) in (1, 2) and {tuple(p) for p in sampled} <= {(5, 5), (5, 15), (9, 19)}
    assert np.array_equal(sampled, shuffled.sampled("a", (10, 20)))


def test_summary_counts_nan_and_json_is_strict(tmp_path):
    rows = [{"source": "m", "image": "x", "nss": float("nan"), "cc": 0.5},
            {"source": "m", "image": "y", "nss": 1.0, "cc": 0.7}]
    summary = eval_results.summarize(rows, ["nss", "cc"])
    assert summary["m"]["nss"] == {"mean": 1.0, "std": 0.0, "count": 1, "nan_count": 1}
    assert summary["m"]["cc"]["mean"] == pytest.approx(0.6)
    table = eval_results.format_table(summary)
    assert "m/nss: 1 NaN image(s) skipped" in table
    _, json_path = eval_results.write_results(rows, summary, tmp_path)
    payload = json.loads(json_path.read_text())  # would fail on a bare NaN token
    assert payload["per_image"][0]["nss"] is None


def test_bad_config_and_mismatched_maps_are_reported():
    with pytest.raises(ValueError, match="unknown metric"):
        evaluate_lib.EvalConfig(metrics=("auc",))
    example = eval_examples.EvalExample(name="img.jpg", gt_map=np.ones((H, W)),
                                       fixations=np.array([[1, 1]]))
    with pytest.raises(ValueError, match="img.jpg"):
        evaluate_lib.score_map(np.ones((H, W + 1)), example, config=FAST,
                               baseline_map=np.ones((H, W)), shuffled=None)


def test_cli_prints_table_and_writes_outputs(records, tmp_path):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run(
        [sys.executable, "-m", "salgan_tf.evaluate", f"--data={records}", "--baseline",
         f"--output_dir={tmp_path}", "--n_splits=5", "--metrics=auc_judd,nss,cc,sauc"],
        capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "| center_bias" in result.stdout and "sauc ↑" in result.stdout
    summary = json.loads((tmp_path / "summary.json").read_text())["summary"]
    assert set(summary["center_bias"]) == {"auc_judd", "nss", "cc", "sauc"}
    assert all(math.isfinite(v["mean"]) for v in summary["center_bias"].values())
    usage = subprocess.run([sys.executable, "-m", "salgan_tf.evaluate", f"--data={records}"],
                           capture_output=True, text=True, env=env, timeout=300)
    assert usage.returncode != 0 and "nothing to score" in usage.stderr
    missing = subprocess.run([sys.executable, "-m", "salgan_tf.evaluate", "--baseline",
                              f"--data={tmp_path}/none-*.tfrecord"],
                             capture_output=True, text=True, env=env, timeout=300)
    assert missing.returncode == 1 and "Traceback" not in missing.stderr
    assert f"error: --data {tmp_path}/none-*.tfrecord matches no TFRecord file" in missing.stderr
    (tmp_path / "maps").mkdir()
    bad_maps = subprocess.run([sys.executable, "-m", "salgan_tf.evaluate", f"--data={records}",
                               f"--maps={tmp_path}/maps"],
                              capture_output=True, text=True, env=env, timeout=300)
    assert bad_maps.returncode == 1 and "Traceback" not in bad_maps.stderr
    assert "error: maps on " in bad_maps.stderr and "no map" in bad_maps.stderr


def test_model_source_with_a_real_predictor(records, tmp_path, util):
    """`--model` path: a tiny SalGAN training run loaded by salgan_tf.inference.load_predictor."""
    from salgan_tf import inference

    run_dir = util.write_training_run(str(tmp_path / "run"), util.tiny_generator((32, 32)))
    sources = {"salgan": map_sources.predictor_source(inference.load_predictor(run_dir))}
    rows, summary, _ = evaluate_lib.run(_examples(records), sources, config=FAST)
    assert len(rows) == 4
    # A random tiny network is no saliency model, but its maps are real, finite and scored.
    for metric in ("auc_judd", "auc_borji_exact", "nss", "cc", "kld", "sim"):
        assert summary["salgan"][metric]["count"] == 4, metric
    assert 0.0 <= summary["salgan"]["auc_judd"]["mean"] <= 1.0


def test_a_metric_is_one_row_of_the_table(monkeypatch):
    """A row added to metrics.table.METRICS is accepted, scored and shown with its direction,
    with no other edit (evaluate, the summary table and validation read the table)."""
    from salgan_tf import validation

    row = metric_table.Metric("peak", False, "the map's maximum", (metric_table.GT_MAP,),
                              lambda s, x, c, seed: s.image.max() - x.gt_map.image.max())
    monkeypatch.setitem(metric_table.METRICS, "peak", row)
    config = evaluate_lib.EvalConfig(metrics=("cc", "peak"))
    example = eval_examples.EvalExample(name="x", gt_map=np.ones((4, 6)),
                                        fixations=np.zeros((0, 2), np.int64))
    saliency = np.arange(24.0).reshape(4, 6)
    scores = evaluate_lib.score_map(saliency, example, config=config,
                                    baseline_map=np.ones((4, 6)))
    assert scores["peak"] == 22.0 and set(scores) == {"cc", "peak"}
    header, _ = eval_results.table_cells(eval_results.summarize(
        [{"source": "m", "image": "x", **scores}], ["cc", "peak"]))
    assert header == ["source", "cc ↑", "peak ↓"]
    assert validation.higher_is_better("peak") is False


def test_maps_only_metrics_are_the_default_rows_that_need_no_fixations():
    assert metric_table.MAP_METRICS == ("cc", "kld", "sim")
    assert all(metric_table.FIXATIONS in metric_table.METRICS[m].needs
               for m in metric_table.DEFAULT_METRICS if m not in metric_table.MAP_METRICS)
    assert "emd" not in metric_table.DEFAULT_METRICS  # slow: asked for by name only
