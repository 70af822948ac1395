"""Starting a training run from a trained model (`--init_from`), for fine-tuning.

    python -m salgan_tf.train --init_from=runs/salicon ...            # a run dir: G and D
    python -m salgan_tf.train --init_from=runs/salicon/checkpoints/ckpt-800 ...
    python -m salgan_tf.train --init_from=salgan_paper.weights.h5 ...  # generator weights only
    python -m salgan_tf.train --init_from=salgan-osie ...              # a shipped model (G only)

Only the networks' weights are taken: the optimizers and the progress counters of the source
run are not (a fine-tuning run starts at epoch 0 with fresh optimizer state). A generator weights
file (a run's generator.weights.h5, or salgan_tf.tools.import_salgan's output) initialises the
generator; the discriminator then starts random. A run directory or checkpoint also gives its
discriminator, when the checkpoint holds one of the same shapes (its dense layers depend on the
image size, so a source trained at another size leaves the discriminator random: the returned
description says so). Initialising happens only when the new run has no checkpoint of its own:
a rerun resumes the fine-tuning run (salgan_tf.train_lib).

`set_trainable` narrows what a fine-tuning run changes (`--trainable`): fewer free parameters
overfit a handful of images less.
"""
from __future__ import annotations

import os

import tensorflow as tf
from tensorflow.core.protobuf import trackable_object_graph_pb2

from salgan_tf import checkpoints
from salgan_tf import config as config_lib
from salgan_tf import generator as generator_lib
from salgan_tf import shipped


class InitFromError(ValueError):
    """An --init_from source that cannot initialise the networks; the message says why."""


def set_trainable(generator, trainable):
    """Freezes the generator's layers outside `trainable` (call before building the optimizer).

    Args:
      generator: `build_generator` model (VGG blocks 1-3 are already frozen, as in the paper).
      trainable: "paper" (VGG blocks 4-5, decoder and output conv, Sec. 4.2: unchanged),
        "decoder" (the decoder and the output conv: the ImageNet/source features stay as they
        are), or "output" (the 1x1 output conv only, 65 parameters: a per-dataset recalibration
        of the map, in the spirit of DeepGaze's dataset adaptation).
    """
    if trainable not in config_lib.TRAINABLE_CHOICES:
        raise ValueError(f"trainable must be one of {config_lib.TRAINABLE_CHOICES}, got "
                         f"{trainable!r}")
    if trainable == "paper":
        return
    kept = {generator_lib.OUTPUT_LOGITS_LAYER}
    if trainable == "decoder":
        kept.update(row.name for row in generator_lib.DECODER_TABLE if row.kind == "conv")
    for layer in generator.layers:
        if layer.weights and layer.name not in kept:
            layer.trainable = False


def _restore(prefix, **objects):
    """Restores `objects` from checkpoint `prefix` (shapes must match: ValueError otherwise)."""
    status = tf.train.Checkpoint(**objects).restore(prefix)
    status.expect_partial().assert_existing_objects_matched()


def _saved_objects(prefix):
    """Names of the top-level objects saved in checkpoint `prefix` (generator, discriminator...)."""
    reader = tf.train.load_checkpoint(prefix)
    graph = trackable_object_graph_pb2.TrackableObjectGraph()
    graph.ParseFromString(reader.get_tensor("_CHECKPOINTABLE_OBJECT_GRAPH"))
    return {child.local_name for child in graph.nodes[0].children}


def load_into(path, generator, discriminator=None):
    """Loads a trained generator (and discriminator) from `path` into freshly built networks.

    Args:
      path: a `*.weights.h5` generator weights file, a training run directory, its
        `checkpoints/` folder, a `ckpt-N` prefix, a packaged model folder or a shipped model's
        name (salgan_tf.shipped; a local path wins).
      generator: `salgan_tf.generator.build_generator` model (any input size).
      discriminator: optional `build_discriminator` model, restored from a run/checkpoint when
        the checkpoint holds one of the same shapes.

    Returns:
      One line describing what was loaded (for the training log).

    Raises:
      FileNotFoundError: `path` does not exist / holds no checkpoint.
      InitFromError: the file or checkpoint holds no generator of this architecture.
    """
    path = shipped.resolve(path)
    if shipped.is_model_folder(path):
        try:
            shipped.restore(generator, path)
        except shipped.ModelFileError as error:
            raise InitFromError(str(error)) from error
        return f"generator from the packaged model {path}; discriminator random (none shipped)"
    if path.endswith(checkpoints.WEIGHTS_SUFFIX):
        try:
            checkpoints.load_generator_weights(generator, path)
        except ValueError as error:
            raise InitFromError(str(error)) from error
        return f"generator from {path}; discriminator random (a weights file holds no D)"
    _, prefix = checkpoints.find_run_dir_and_prefix(path)
    saved = _saved_objects(prefix)
    if "generator" not in saved:
        raise InitFromError(f"{prefix}: checkpoint holds no generator (it has {sorted(saved)})")
    try:
        _restore(prefix, generator=generator)
    except ValueError as error:
        raise InitFromError(f"{prefix}: generator does not fit: {error}") from error
    if discriminator is None:
        return f"generator from {prefix}"
    if "discriminator" not in saved:
        return f"generator from {prefix}; discriminator random (none in the checkpoint)"
    # A shape mismatch (fc4 depends on the image size) fails midway through the restore: put the
    # random weights back then (restored in place, so no copy of the model is needed).
    random_weights = discriminator.get_weights()
    try:
        _restore(prefix, discriminator=discriminator)
    except ValueError as error:
        discriminator.set_weights(random_weights)
        return (f"generator from {prefix}; discriminator random (the checkpoint's does not fit "
                f"this image size: {str(error).splitlines()[0]})")
    return f"generator and discriminator from {prefix}"
