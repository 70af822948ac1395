"""Helpers shared by the export / inference / predict tests (no tests here).

The test model: the real SalGAN generator at a tiny size (32x32 or 64x48) with fixed seeds. An
untrained VGG stack shrinks its activations layer after layer (logit std ~1e-4 here), so its map
is constant to 4 decimals and useless for checking int8 fidelity. `tiny_generator` therefore
rescales the last 1x1 conv (`saliency_logits`) so that, on seeded synthetic images, the logits
have mean 0 and std 2: the map then spans [0, 1] (std ~0.3 per image) and depends on the image
through the whole network. Deterministic: same seed, same weights, same map.
"""
import atexit
import functools
import io
import os
import shutil
import tempfile

import keras
import numpy as np
import tensorflow as tf
from PIL import Image

from salgan_tf import config as config_lib
from salgan_tf import generator as generator_lib
from salgan_tf import preprocessing
from salgan_tf.export import saved_model as saved_model_lib


def smooth_images(count, size, seed=0):
    """float32 `[count, H, W, 3]` RGB 0-255: upsampled 4x4 noise (smooth, image-like)."""
    rng = np.random.default_rng(seed)
    low = rng.uniform(0, 255, (count, 4, 4, 3)).astype(np.float32)
    return np.clip(tf.image.resize(low, size, method="bicubic").numpy(), 0, 255)


def tiny_generator(image_size=(32, 32), seed=0):
    """The SalGAN generator at `image_size` with a non-degenerate output (module docstring)."""
    keras.utils.set_random_seed(seed)
    generator = generator_lib.build_generator(image_size)
    layer = generator.get_layer(generator_lib.OUTPUT_LOGITS_LAYER)
    logits = keras.Model(generator.input, layer.output)(
        preprocessing.vgg_preprocess(smooth_images(8, image_size, seed))).numpy()
    kernel, bias = layer.get_weights()
    scale = 2.0 / logits.std()
    layer.set_weights([kernel * scale, (bias - logits.mean()) * scale])
    return generator


def keras_saliency(generator, rgb_at_network_size):
    """Reference: the Keras generator on caffe-preprocessed RGB, `[N, h, w, 1]` numpy."""
    return generator(preprocessing.vgg_preprocess(rgb_at_network_size), training=False).numpy()


def encode(array, fmt="PNG"):
    """Encoded image bytes of a uint8 array."""
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, fmt)
    return buffer.getvalue()


def random_rgb(height, width, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def write_training_run(run_dir, generator, resize_mode="stretch"):
    """A training output dir (config.json + checkpoints/ckpt-1) holding `generator`."""
    height, width = generator.input_shape[1:3]
    config_lib.save(config_lib.TrainConfig(output_dir=run_dir, image_height=height,
                                           image_width=width, resize_mode=resize_mode), run_dir)
    tf.train.CheckpointManager(tf.train.Checkpoint(generator=generator),
                               os.path.join(run_dir, "checkpoints"), 1).save()
    return run_dir


_WORK_DIR = None


def work_dir():
    """One temporary folder per test process for the (slow-ish) exported models."""
    global _WORK_DIR
    if _WORK_DIR is None:
        _WORK_DIR = tempfile.mkdtemp(prefix="salgan_export_test_")
        # Each exported model is ~125 MB: remove them when the test process ends.
        atexit.register(shutil.rmtree, _WORK_DIR, ignore_errors=True)
    return _WORK_DIR


def exported_model(image_size=(32, 32), resize_mode="stretch", max_pixels=2_000_000):
    """`(generator, training run dir, SavedModel version dir)`, built once per process."""
    return _exported_model(tuple(image_size), resize_mode, max_pixels)


@functools.lru_cache(maxsize=None)
def _exported_model(image_size, resize_mode, max_pixels):
    generator = tiny_generator(image_size)
    name = f"{image_size[0]}x{image_size[1]}_{resize_mode}_{max_pixels}"
    run_dir = write_training_run(os.path.join(work_dir(), "run_" + name), generator, resize_mode)
    version_dir = saved_model_lib.export_saved_model(
        generator, os.path.join(work_dir(), "model_" + name, "1"), resize_mode=resize_mode,
        max_pixels=max_pixels)
    return generator, run_dir, version_dir


@functools.lru_cache(maxsize=None)
def loaded(version_dir):
    """`tf.saved_model.load(version_dir)`, once per process."""
    return tf.saved_model.load(version_dir)
