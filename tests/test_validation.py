"""Tests for salgan_tf.validation: per-epoch metrics equal `evaluate --model`; the best epoch."""
import csv
import json
import logging
import math
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from salgan_tf import generator as generator_lib
from salgan_tf import losses
from salgan_tf import validation
from salgan_tf.data import pipeline
from salgan_tf.data import records as records_lib
from salgan_tf.data import shards
from salgan_tf.data import synthetic
from salgan_tf.metrics import table as metric_table
from tolerances import METRIC_ATOL


NET = (32, 48)  # network (H, W); the records' original size differs so both resizes run
ORIGINAL = (36, 60)


@pytest.fixture(scope="module")
def generator(util):
    return util.tiny_generator(NET, seed=1)


@pytest.fixture(scope="module")
def synthetic_records(tmp_path_factory):
    out = tmp_path_factory.mktemp("synthetic")
    synthetic.write_synthetic_tfrecords(str(out), n=6, height=ORIGINAL[0], width=ORIGINAL[1],
                                        seed=5, num_shards=2)
    return str(out / "synthetic-*.tfrecord")


@pytest.fixture(scope="module")
def osie_records(tmp_path_factory, osie_dir):
    """5 real OSIE images (800x600), converted pre-resized as the CPU recipe does."""
    root = osie_dir
    out = tmp_path_factory.mktemp("osie")
    subprocess.run([sys.executable, "-m", "salgan_tf.convert", "--dataset=osie",
                    f"--input={root}", f"--output={out}", "--limit=5", "--resize=128x96",
                    "--workers=1", "--noprogress"], check=True, capture_output=True)
    return str(out / "osie-*.tfrecord")


def _map_only_records(directory, n=4):
    """Records in the converter's schema with ground-truth maps but no fixations."""
    os.makedirs(directory, exist_ok=True)
    examples = synthetic.synthetic_examples(n, *ORIGINAL, seed=9)
    path = os.path.join(directory, "maps-00000-of-00001.tfrecord")
    count = shards.write_shard(path, (records_lib.build_record(
        name=ex["name"].replace("synthetic", "maps"), rgb=ex["image"], saliency=ex["map"],
        image_format="png")[0] for ex in examples))
    shards.write_manifest(directory, {os.path.basename(path): count})
    return path


def _evaluate_cli(data, run_dir, metric_names, output_dir):
    """Means printed by `python -m salgan_tf.evaluate --model=<run_dir>` (its summary.json)."""
    result = subprocess.run(
        [sys.executable, "-m", "salgan_tf.evaluate", f"--data={data}", f"--model={run_dir}",
         f"--metrics={','.join(metric_names)}", f"--output_dir={output_dir}"],
        capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    with open(os.path.join(output_dir, "summary.json")) as handle:
        summary = json.load(handle)["summary"]["model"]
    return {name: summary[name]["mean"] for name in metric_names}


@pytest.mark.parametrize("data,resize_mode", [("synthetic", "stretch"),
                                              ("synthetic", "letterbox"), ("osie", "stretch")])
def test_metrics_equal_evaluate_cli_for_the_same_weights(data, resize_mode, generator, tmp_path,
                                                         request, util):
    pattern = request.getfixturevalue(f"{data}_records")
    run_dir = util.write_training_run(str(tmp_path / "run"), generator, resize_mode=resize_mode)
    validator = validation.Validator(pattern, image_size=NET, resize_mode=resize_mode,
                                     batch_size=4)  # batches of 4 vs evaluate's one at a time
    scores = validator(generator)
    assert list(scores) == list(validation.VALIDATION_METRICS) + ["content_loss"]
    expected = _evaluate_cli(pattern, run_dir, validation.VALIDATION_METRICS, tmp_path / "eval")
    for name in validation.VALIDATION_METRICS:
        assert math.isfinite(scores[name]), name
        assert scores[name] == pytest.approx(expected[name], abs=METRIC_ATOL), name
    # Prepared once, reused: a second call gives the same numbers.
    assert validator(generator) == scores


def test_limit_takes_the_first_records_as_evaluate_max_images(util, synthetic_records, generator,
                                                              tmp_path):
    run_dir = util.write_training_run(str(tmp_path / "run"), generator)
    validator = validation.Validator(synthetic_records, image_size=NET, limit=3)
    assert validator.num_examples == 3
    names = ["nss", "sauc_exact", "cc"]
    result = subprocess.run(
        [sys.executable, "-m", "salgan_tf.evaluate", f"--data={synthetic_records}",
         f"--model={run_dir}", f"--metrics={','.join(names)}", "--max_images=3",
         f"--output_dir={tmp_path / 'eval'}"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    with open(tmp_path / "eval" / "summary.json") as handle:
        expected = json.load(handle)["summary"]["model"]
    scores = validator(generator)
    for name in names:
        assert scores[name] == pytest.approx(expected[name]["mean"], abs=METRIC_ATOL), name


def test_content_loss_is_the_training_bce_on_downsampled_maps(tmp_path, generator):
    # Records stored at the network size: the network input is then the stored image in both the
    # training pipeline and the evaluate path, so the loss must equal the training loop's old
    # `validation_content_loss` (BCE between x4 maps of make_dataset, no augmentation).
    synthetic.write_synthetic_tfrecords(str(tmp_path), n=5, height=NET[0], width=NET[1], seed=2)
    files = sorted(str(p) for p in tmp_path.glob("*.tfrecord"))
    total, count = 0.0, 0
    for batch in pipeline.make_dataset(files, image_size=NET, batch_size=2):
        per_example = losses.content_loss(batch["map_small"],
                                          generator(batch["image"], training=False), 4)
        total += float(tf.reduce_sum(per_example))
        count += int(per_example.shape[0])
    scores = validation.Validator(files, image_size=NET, batch_size=3)(generator)
    assert scores["content_loss"] == pytest.approx(total / count, rel=1e-5)
    # Another downsampling factor is the same BCE on other maps.
    other = validation.Validator(files, image_size=NET, downsample=2)(generator)
    assert other["content_loss"] != pytest.approx(scores["content_loss"], rel=1e-6)


def test_records_without_fixations_give_map_metrics_and_say_so_once(tmp_path, generator, caplog,
                                                                     util):
    path = _map_only_records(str(tmp_path / "maps"))
    with caplog.at_level(logging.WARNING):
        validator = validation.Validator(path, image_size=NET)
        scores = validator(generator)
        validator(generator)
    assert validator.metric_names == ("cc", "kld", "sim", "content_loss")
    assert list(scores) == list(validator.metric_names)
    notes = [r.getMessage() for r in caplog.records if "no fixations" in r.getMessage()]
    assert len(notes) == 1 and "cc, kld, sim" in notes[0], notes
    run_dir = util.write_training_run(str(tmp_path / "run"), generator)
    expected = _evaluate_cli(path, run_dir, ("cc", "kld", "sim"), tmp_path / "eval")
    for name in ("cc", "kld", "sim"):
        assert scores[name] == pytest.approx(expected[name], abs=METRIC_ATOL), name
    with pytest.raises(ValueError, match="select_metric='nss' is not computed"):
        validation.BestEpoch(tmp_path / "run", "nss", metric_names=validator.metric_names)


def test_mixed_records_average_fixation_metrics_over_records_with_fixations(
        tmp_path, synthetic_records, generator):
    maps_path = _map_only_records(str(tmp_path / "maps"), n=2)
    with_fixations = validation.Validator(synthetic_records, image_size=NET)
    mixed = validation.Validator(
        sorted(tf.io.gfile.glob(synthetic_records)) + [maps_path], image_size=NET)
    assert (mixed.num_examples, mixed.num_with_fixations) == (8, 6)
    maps_only = validation.Validator(maps_path, image_size=NET)
    a, b, c = with_fixations(generator), mixed(generator), maps_only(generator)
    # sAUC's negatives gain nothing from map-only records, so every fixation metric is unchanged.
    for name in ("auc_judd", "auc_borji_exact", "sauc_exact", "nss", "ig"):
        assert b[name] == pytest.approx(a[name], abs=1e-12), name
    for name in ("cc", "kld", "sim"):
        assert b[name] == pytest.approx((6 * a[name] + 2 * c[name]) / 8, abs=1e-9), name


def test_records_are_read_once_for_all_epochs(tmp_path, generator, file_opens):
    """Building the validator and validating two epochs opens each record file once."""
    synthetic.write_synthetic_tfrecords(str(tmp_path), n=4, height=ORIGINAL[0],
                                        width=ORIGINAL[1], seed=3, num_shards=2)
    files = shards.glob_records(str(tmp_path / "*.tfrecord"))
    records = shards.check_records(files)  # what the training loop passes: checked once, there
    opens = file_opens(tmp_path)
    validator = validation.Validator(records, image_size=NET, downsample=4)
    validator(generator)
    validator(generator)
    counts = opens.counts()
    assert {name: counts.get(name, 0) for name in map(os.path.basename, files)} == {
        os.path.basename(path): 1 for path in files}, counts
    assert "manifest.json" not in counts  # a RecordSet is taken as checked


def test_missing_and_corrupt_validation_files_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="no TFRecord file matches"):
        validation.Validator(str(tmp_path / "none-*.tfrecord"), image_size=NET)
    bad = tmp_path / "bad.tfrecord"
    bad.write_bytes(b"not a tfrecord at all")
    with pytest.raises(ValueError, match="bad.tfrecord"):
        validation.Validator(str(bad), image_size=NET)


# --------------------------------------------------------------------------- BestEpoch


def _tiny_model(seed):
    """A stand-in for the generator where only `save_weights` matters: distinct weights per seed."""
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    return model


def _weights_of(path):
    model = _tiny_model(0)
    model.load_weights(path)
    return model.get_weights()


def _assert_same_weights(path, model):
    for loaded, kept in zip(_weights_of(path), model.get_weights()):
        np.testing.assert_array_equal(loaded, kept)


def _read_csv(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.parametrize("metric,values,best", [("cc", [0.3, 0.5, 0.4, 0.5], 2),
                                                ("kld", [1.0, 1.2, 0.7, 0.9], 3)])
def test_keeper_picks_the_best_epoch_in_the_metrics_direction(tmp_path, metric, values, best):
    keeper = validation.BestEpoch(tmp_path, metric)
    models = {}
    for epoch, value in enumerate(values, start=1):
        models[epoch] = _tiny_model(epoch)
        became_best = keeper.update(epoch, "bce", {metric: value, "content_loss": 0.1 * epoch},
                                    models[epoch])
        assert became_best == (epoch == best or (epoch == 1))
    assert keeper.best["epoch"] == best  # a tie (cc 0.5 at epochs 2 and 4) keeps the earlier one
    _assert_same_weights(tmp_path / validation.BEST_WEIGHTS_FILENAME, models[best])
    with open(tmp_path / validation.BEST_JSON_FILENAME) as handle:
        saved = json.load(handle)
    assert (saved["epoch"], saved["metric"], saved["value"]) == (best, metric, values[best - 1])
    assert saved["higher_is_better"] == (metric == "cc")
    rows = _read_csv(tmp_path / validation.CSV_FILENAME)
    assert [(r["epoch"], r["phase"], float(r[metric])) for r in rows] == [
        (str(e), "bce", v) for e, v in enumerate(values, start=1)]
    # Only the three files: the temporary weights/CSV/JSON files were renamed into place.
    assert sorted(os.listdir(tmp_path)) == sorted([validation.BEST_WEIGHTS_FILENAME,
                                                   validation.BEST_JSON_FILENAME,
                                                   validation.CSV_FILENAME])


def test_keeper_survives_a_restart_and_replaces_a_rerun_epoch(tmp_path):
    keeper = validation.BestEpoch(tmp_path, "nss")
    first = {1: _tiny_model(1), 2: _tiny_model(2), 3: _tiny_model(3)}
    for epoch, value in ((1, 1.0), (2, 1.5), (3, 1.2)):
        keeper.update(epoch, "bce", {"nss": value, "cc": value / 3}, first[epoch])

    resumed = validation.BestEpoch(tmp_path, "nss")  # a new process on the same run dir
    assert resumed.best["epoch"] == 2 and resumed.best["value"] == 1.5
    assert resumed.last_epoch == 3
    # Epoch 3 ran again (resumed from a checkpoint inside it): its row is replaced, not repeated.
    assert not resumed.update(3, "gan", {"nss": 1.4, "cc": 0.4}, _tiny_model(33))
    assert not resumed.update(4, "gan", {"nss": 1.49, "cc": 0.5}, _tiny_model(4))
    _assert_same_weights(tmp_path / validation.BEST_WEIGHTS_FILENAME, first[2])
    rows = _read_csv(tmp_path / validation.CSV_FILENAME)
    assert [(r["epoch"], r["phase"], r["nss"]) for r in rows] == [
        ("1", "bce", "1.0"), ("2", "bce", "1.5"), ("3", "gan", "1.4"), ("4", "gan", "1.49")]
    better = _tiny_model(5)
    assert validation.BestEpoch(tmp_path, "nss").update(5, "gan", {"nss": 1.7, "cc": 0.6}, better)
    _assert_same_weights(tmp_path / validation.BEST_WEIGHTS_FILENAME, better)
    # A run rolled back to before epoch 3 drops the rows it will redo.
    again = validation.BestEpoch(tmp_path, "nss")
    again.update(3, "gan", {"nss": 1.1, "cc": 0.3}, _tiny_model(6))
    assert [r["epoch"] for r in _read_csv(tmp_path / validation.CSV_FILENAME)] == ["1", "2", "3"]
    assert again.best["epoch"] == 3  # the old best (epoch 5) belonged to the rolled-back run


def test_keeper_rejects_nan_other_metrics_and_unknown_names(tmp_path):
    keeper = validation.BestEpoch(tmp_path, "cc")
    assert not keeper.update(1, "bce", {"cc": float("nan")}, _tiny_model(1))
    assert keeper.best is None and not os.path.exists(tmp_path / validation.BEST_WEIGHTS_FILENAME)
    assert keeper.update(2, "bce", {"cc": 0.2, "nss": float("nan")}, _tiny_model(2))
    with open(tmp_path / validation.BEST_JSON_FILENAME) as handle:
        assert json.load(handle)["scores"]["nss"] is None  # strict JSON
    with pytest.raises(ValueError, match="chosen by 'cc', not select_metric='nss'"):
        validation.BestEpoch(tmp_path, "nss")
    with pytest.raises(ValueError, match="unknown validation metric 'auc'"):
        validation.BestEpoch(tmp_path, "auc")
    with pytest.raises(ValueError, match="select_metric='cc' is not among"):
        keeper.update(3, "bce", {"nss": 1.0}, _tiny_model(3))
    (tmp_path / validation.CSV_FILENAME).write_text("epoch,phase,cc\n1,bce,zero\n")
    with pytest.raises(ValueError, match="val_metrics.csv, line 2"):
        validation.BestEpoch(tmp_path, "cc")


def test_validator_and_keeper_end_to_end_reload_best_weights(util, tmp_path, synthetic_records):
    """The loop's use: validate each epoch, keep the best; the kept file scores as recorded."""
    validator = validation.Validator(synthetic_records, image_size=NET)
    keeper = validation.BestEpoch(tmp_path, "cc", metric_names=validator.metric_names)
    epochs = {epoch: util.tiny_generator(NET, seed=epoch) for epoch in (1, 2, 3)}
    recorded = {}
    for epoch, model in epochs.items():
        recorded[epoch] = validator(model)
        keeper.update(epoch, "bce", recorded[epoch], model)
    best = max(recorded, key=lambda e: recorded[e]["cc"])
    assert keeper.best["epoch"] == best
    reloaded = generator_lib.build_generator(NET)
    reloaded.load_weights(os.path.join(tmp_path, validation.BEST_WEIGHTS_FILENAME))
    assert validator(reloaded) == recorded[best]
    rows = _read_csv(tmp_path / validation.CSV_FILENAME)
    assert list(rows[0]) == ["epoch", "phase", *validator.metric_names]
    assert float(rows[best - 1]["nss"]) == recorded[best]["nss"]  # repr: read back bit-exact


def test_direction_comes_from_evaluate_lib():
    for name in validation.VALIDATION_METRICS:
        assert validation.higher_is_better(name) == metric_table.METRICS[name].higher_is_better
    assert not validation.higher_is_better("kld")
    assert not validation.higher_is_better("content_loss")
