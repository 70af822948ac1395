"""Training checkpoints: what they hold, and how inference gets the generator back.

A training output directory holds:
  config.json             the TrainConfig (image size, recipe)
  checkpoints/ckpt-N      `tf.train.Checkpoint` with generator, discriminator, both optimizers and
                          the progress counters (phase is derived from the epoch)
  tensorboard/            scalars and sample maps
  samples/                predicted maps of a few training images, PNG
  generator.weights.h5    the final generator weights (Keras format), written when training ends
  train.lock              held by the training writing here, with its PID (`salgan_tf.run_dir`)
  checkpoints/corrupt/    checkpoints that did not read back, set aside by a resume
"""
from __future__ import annotations

import os
import warnings

import tensorflow as tf

from salgan_tf import atomic
from salgan_tf import config as config_lib
from salgan_tf import generator as generator_lib
from salgan_tf import shipped

CHECKPOINT_SUBDIR = "checkpoints"
FINAL_WEIGHTS = "generator.weights.h5"
WEIGHTS_SUFFIX = ".weights.h5"


class TrainingProgress(tf.Module):
    """Counters saved with every checkpoint so a rerun resumes exactly where it stopped."""

    def __init__(self):
        super().__init__(name="progress")
        self.epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch")
        self.step_in_epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="step_in_epoch")
        self.global_step = tf.Variable(0, dtype=tf.int64, trainable=False, name="global_step")
        # What step_in_epoch counts in: batches of this size over the data with this fingerprint
        # (`salgan_tf.data.shards.RecordSet.fingerprint`), so a resume can check or convert it.
        self.batch_size = tf.Variable(0, dtype=tf.int64, trainable=False, name="batch_size")
        self.data_fingerprint = tf.Variable("", dtype=tf.string, trainable=False,
                                            name="data_fingerprint")


_POSITION = ("epoch", "step_in_epoch", "global_step")


def position(progress):
    """`(epoch, step_in_epoch, global_step)` of a TrainingProgress."""
    return tuple(int(getattr(progress, name)) for name in _POSITION)


def saved_position(prefix):
    """`(epoch, step_in_epoch, global_step)` saved in the training checkpoint `prefix`."""
    reader = tf.train.load_checkpoint(prefix)
    return tuple(int(reader.get_tensor(f"progress/{name}/.ATTRIBUTES/VARIABLE_VALUE"))
                 for name in _POSITION)


# What reading a damaged checkpoint raises: IndexError for a file cut short, an OpError for a bad
# checksum or a missing or unparsable file.
READ_ERRORS = (IndexError, tf.errors.OpError)


def read_failure(error):
    """Why a checkpoint did not read back (one of READ_ERRORS), on one line."""
    if isinstance(error, IndexError):
        return f"truncated: {error}"
    return atomic.failure_reason(error)


def make_checkpoint(generator, discriminator, g_optimizer, d_optimizer, progress):
    """The one checkpoint layout used by training (and read partially by inference)."""
    return tf.train.Checkpoint(generator=generator, discriminator=discriminator,
                               g_optimizer=g_optimizer, d_optimizer=d_optimizer, progress=progress)


def find_run_dir_and_prefix(path):
    """Resolves a run directory, its checkpoints/ folder or a ckpt-N prefix."""
    path = os.path.abspath(path)
    if os.path.isdir(path):
        run_dir = path
        ckpt_dir = os.path.join(path, CHECKPOINT_SUBDIR)
        if os.path.basename(path) == CHECKPOINT_SUBDIR:
            run_dir, ckpt_dir = os.path.dirname(path), path
        prefix = tf.train.latest_checkpoint(ckpt_dir)
        if prefix is None:
            raise FileNotFoundError(f"{path}: no checkpoint found in {ckpt_dir}")
        return run_dir, prefix
    if tf.io.gfile.exists(path + ".index"):
        run_dir = os.path.dirname(os.path.dirname(path))
        return run_dir, path
    raise FileNotFoundError(f"{path}: not a training run directory or a checkpoint prefix (ckpt-N)"
                            f"{shipped.not_found_hint()}")


def load_generator(path):
    """Rebuilds the generator of a training run and restores its weights.

    Args:
      path: a training output directory (latest checkpoint), its `checkpoints/` folder, a
        checkpoint prefix `.../checkpoints/ckpt-N`, or a generator weights file `*.weights.h5`
        (a run's generator.weights.h5, or salgan_tf.tools.import_salgan's output): built at the
        image size and resize mode of a config.json beside it, else the paper's 192x256 stretch;
        or a packaged model folder or a shipped model's name (salgan_tf.shipped; a local path
        wins).

    Returns:
      `(generator, config)`: the Keras generator and the run's TrainConfig.
    """
    path = shipped.resolve(path)
    if shipped.is_model_folder(path):
        return shipped.load_generator(path)
    if path.endswith(WEIGHTS_SUFFIX):
        return _load_weights_file(path)
    run_dir, prefix = find_run_dir_and_prefix(path)
    config = config_lib.load(run_dir)
    generator = generator_lib.build_generator(config.image_size, encoder_weights="none")
    try:
        status = tf.train.Checkpoint(generator=generator).restore(prefix)
    except READ_ERRORS as error:
        raise ValueError(f"{prefix}: the checkpoint does not read back ({read_failure(error)}); "
                         "pass an older checkpoint of the run (<run>/checkpoints/ckpt-N)"
                         ) from None
    status.expect_partial().assert_existing_objects_matched()
    return generator, config


def load_generator_weights(generator, path):
    """Loads a generator `.weights.h5` into `generator`; ValueError naming the file if it does
    not fit (Keras' per-layer warnings on the way are silenced: the error says it)."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: generator weights file not found")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            generator.load_weights(path)
    except Exception as error:  # Keras/h5py raise many types for a foreign file
        raise ValueError(f"{path}: not a SalGAN generator weights file "
                         f"({type(error).__name__}: {str(error).splitlines()[0]})") from error
    return generator


def _load_weights_file(path):
    """`(generator, config)` from a generator `.weights.h5` (see `load_generator`)."""
    directory = os.path.dirname(os.path.abspath(path))
    if os.path.isfile(os.path.join(directory, config_lib.CONFIG_FILENAME)):
        config = config_lib.load(directory)
    else:
        config = config_lib.TrainConfig(output_dir=directory)
    generator = generator_lib.build_generator(config.image_size, encoder_weights="none")
    return load_generator_weights(generator, path), config
