"""Fine-tuning that cannot end worse on validation: the starting model is "epoch 0"; --trainable."""
import csv
import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from salgan_tf import checkpoints
from salgan_tf import config as config_lib
from salgan_tf import generator as generator_lib
from salgan_tf import init_from
from salgan_tf import steps as steps_lib
from salgan_tf import train_lib
from salgan_tf import validation
from salgan_tf.data import synthetic
from tolerances import METRIC_ATOL

SIZE = (32, 48)


@pytest.fixture(scope="module")
def val_records(tmp_path_factory):
    out = tmp_path_factory.mktemp("val")
    synthetic.write_synthetic_tfrecords(str(out), n=4, height=SIZE[0], width=SIZE[1], seed=5)
    return str(out / "synthetic-*.tfrecord")


@pytest.fixture(scope="module")
def source(tmp_path_factory, val_records):
    """A generator weights file to fine-tune from: random (seed 1), its output conv's sign chosen
    so that its maps correlate positively with the validation maps."""
    keras.utils.set_random_seed(1)
    generator = generator_lib.build_generator(SIZE, encoder_weights="none")
    if validation.Validator(val_records, image_size=SIZE)(generator)["cc"] < 0:
        for variable in generator.get_layer(generator_lib.OUTPUT_LOGITS_LAYER).weights:
            variable.assign(-variable)
    path = str(tmp_path_factory.mktemp("source") / "source.weights.h5")
    generator.save_weights(path)
    return path


def _config(output_dir, **overrides):
    values = dict(output_dir=str(output_dir), train_data="demo", demo_examples=4,
                  image_height=SIZE[0], image_width=SIZE[1], batch_size=4, bce_epochs=1,
                  gan_epochs=0, num_sample_maps=1, log_every_steps=1)
    values.update(overrides)
    return config_lib.TrainConfig(**values)


def _load(path):
    generator = generator_lib.build_generator(SIZE, encoder_weights="none")
    return checkpoints.load_generator_weights(generator, path)


def _weights(path):
    generator = _load(path)
    return {layer.name: [w.copy() for w in layer.get_weights()]
            for layer in generator.layers if layer.weights}


def _same(a, b):
    return all(np.array_equal(x, y) for x, y in zip(a, b))


def test_starting_model_is_epoch_zero_and_stays_best_when_training_hurts(
        tmp_path, val_records, source, monkeypatch):
    start_scores = validation.Validator(val_records, image_size=SIZE)(_load(source))
    assert start_scores["cc"] > 0  # so the inverted map below scores worse

    def inverting_step(self, batch):
        """A "training step" that surely hurts: the output conv flips the map's contrast."""
        layer = self.generator.get_layer(generator_lib.OUTPUT_LOGITS_LAYER)
        for variable in layer.trainable_variables:
            variable.assign(-variable)
        return {"content_loss": tf.constant(0.5)}

    monkeypatch.setattr(steps_lib.SalGANSteps, "_bce_step", inverting_step)
    run_dir = tmp_path / "finetune"
    train_lib.train(_config(run_dir, init_from=source, val_data=val_records))

    with open(run_dir / validation.CSV_FILENAME) as handle:
        rows = list(csv.DictReader(handle))
    assert [(row["epoch"], row["phase"]) for row in rows] == [("0", "start"), ("1", "bce")]
    assert float(rows[0]["cc"]) == pytest.approx(start_scores["cc"], abs=METRIC_ATOL)
    assert float(rows[1]["cc"]) < float(rows[0]["cc"])
    with open(run_dir / validation.BEST_JSON_FILENAME) as handle:
        assert json.load(handle)["epoch"] == 0
    best, started = _weights(str(run_dir / validation.BEST_WEIGHTS_FILENAME)), _weights(source)
    assert all(_same(best[name], started[name]) for name in started)
    final = _weights(str(run_dir / checkpoints.FINAL_WEIGHTS))
    assert not _same(final[generator_lib.OUTPUT_LOGITS_LAYER],
                     started[generator_lib.OUTPUT_LOGITS_LAYER])


def test_training_from_scratch_has_no_epoch_zero(tmp_path, val_records):
    run_dir = tmp_path / "scratch"
    train_lib.train(_config(run_dir, val_data=val_records))
    with open(run_dir / validation.CSV_FILENAME) as handle:
        assert [row["epoch"] for row in csv.DictReader(handle)] == ["1"]


def test_set_trainable_parameter_counts():
    keras.utils.set_random_seed(0)
    generator = generator_lib.build_generator(SIZE, encoder_weights="none")

    def trainable_count():
        return sum(int(np.prod(v.shape)) for v in generator.trainable_variables)

    paper = trainable_count()
    init_from.set_trainable(generator, "paper")
    assert trainable_count() == paper
    init_from.set_trainable(generator, "decoder")
    decoder = sum(int(np.prod(w.shape)) for layer in generator.layers
                  if layer.name.startswith("decoder_") for w in layer.weights)
    assert trainable_count() == decoder + 64 + 1
    init_from.set_trainable(generator, "output")
    assert trainable_count() == 64 + 1  # the 1x1 output conv: 64 weights and a bias
    with pytest.raises(ValueError, match="trainable must be one of"):
        init_from.set_trainable(generator, "encoder")


@pytest.mark.parametrize("trainable", ["decoder", "output"])
def test_frozen_layers_keep_the_source_weights(tmp_path, source, trainable):
    run_dir = tmp_path / trainable
    train_lib.train(_config(run_dir, init_from=source, trainable=trainable, learning_rate=1e-2))
    started, final = _weights(source), _weights(str(run_dir / checkpoints.FINAL_WEIGHTS))
    changed = {name for name in started if not _same(started[name], final[name])}
    assert generator_lib.OUTPUT_LOGITS_LAYER in changed
    if trainable == "output":
        assert changed == {generator_lib.OUTPUT_LOGITS_LAYER}
    else:
        assert changed and all(name.startswith("decoder_") or
                               name == generator_lib.OUTPUT_LOGITS_LAYER for name in changed)
        assert not any(name.startswith("block") for name in changed)
    # Optimizer slots depend on what trains: a resume with another choice is refused.
    with pytest.raises(train_lib.RunSettingsError, match="trainable"):
        train_lib.train(_config(run_dir, init_from=source, trainable="paper"))
