"""Maps-only data (ground-truth maps, no fixation points: MIT1003's maps, blurred heat maps):
fine-tune with --init_from, validate and evaluate with the map metrics CC, KLD, SIM only."""
import csv
import os
import subprocess
import sys

import keras
import pytest

from salgan_tf import config as config_lib
from salgan_tf import generator as generator_lib
from salgan_tf import train_lib
from salgan_tf import validation
from salgan_tf.data import records as records_lib
from salgan_tf.data import shards
from salgan_tf.data import synthetic

SIZE = (32, 48)


def _maps_only_records(path, n, seed):
    """Records in the converter's schema with ground-truth maps and no fixations."""
    examples = synthetic.synthetic_examples(n, *SIZE, seed=seed)
    shards.write_shard(str(path), (records_lib.build_record(
        name=f"maps_{seed}_{i}", rgb=ex["image"], saliency=ex["map"], image_format="png")[0]
        for i, ex in enumerate(examples)))
    return str(path)


@pytest.fixture(scope="module")
def finetuned_run(tmp_path_factory):
    """A run fine-tuned from a weights file on maps-only records, validated on maps-only ones."""
    root = tmp_path_factory.mktemp("maps_only")
    train = _maps_only_records(root / "heatmaps-00000-of-00002.tfrecord", 4, seed=1)
    val = _maps_only_records(root / "heatmaps-00001-of-00002.tfrecord", 3, seed=2)
    shards.write_manifest(str(root), {"heatmaps-00000-of-00002.tfrecord": 4,
                                      "heatmaps-00001-of-00002.tfrecord": 3})
    keras.utils.set_random_seed(0)
    source = str(root / "source.weights.h5")
    generator_lib.build_generator(SIZE, encoder_weights="none").save_weights(source)
    config = config_lib.TrainConfig(
        output_dir=str(root / "run"), train_data=train, val_data=val, init_from=source,
        image_height=SIZE[0], image_width=SIZE[1], batch_size=4, bce_epochs=1, gan_epochs=0,
        trainable="decoder", num_sample_maps=1, log_every_steps=1)
    train_lib.train(config)
    return root / "run", val


def test_fine_tuning_on_maps_only_records_validates_with_map_metrics(finetuned_run):
    run_dir, _ = finetuned_run
    with open(run_dir / validation.CSV_FILENAME) as handle:
        reader = csv.DictReader(handle)
        rows = list(reader)
    assert reader.fieldnames == ["epoch", "phase", "cc", "kld", "sim", "content_loss"]
    assert [row["epoch"] for row in rows] == ["0", "1"]
    assert (run_dir / validation.BEST_WEIGHTS_FILENAME).is_file()


def test_evaluate_scores_maps_only_records_with_map_metrics(finetuned_run):
    run_dir, val = finetuned_run
    env = dict(os.environ, PYTHONPATH=os.getcwd(), TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run(
        [sys.executable, "-m", "salgan_tf.evaluate", f"--data={val}",
         f"--model={run_dir / validation.BEST_WEIGHTS_FILENAME}", "--baseline"],
        capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    header = result.stdout.splitlines()[0]
    assert [cell.split()[0] for cell in header.strip("| ").split(" | ")] == [
        "source", "cc", "kld", "sim"]
    assert "nan" not in result.stdout and "NaN" not in result.stdout
    assert "no fixation points: scoring cc, kld, sim only" in result.stderr
    # Asked for explicitly, a fixation metric is still computed (NaN: nothing to score it on).
    explicit = subprocess.run(
        [sys.executable, "-m", "salgan_tf.evaluate", f"--data={val}", "--baseline",
         "--metrics=cc,nss"], capture_output=True, text=True, env=env, timeout=600)
    assert explicit.returncode == 0, explicit.stderr[-2000:]
    assert "nss" in explicit.stdout.splitlines()[0]
