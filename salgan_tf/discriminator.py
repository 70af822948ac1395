"""SalGAN discriminator on image + saliency map (Pan et al. 2017, Sec. 3.2, Table 2).

Inputs: the generator's input image `[B, H, W, 3]` (caffe preprocessed) and a saliency map
`[B, H, W, 1]` in [0, 1]; they are stacked into the paper's 4-channel RGBS input. Output: `[B, 1]`
float32 LOGIT that the map is a human (ground-truth) one: Table 2's final sigmoid is applied by
the losses (`salgan_tf.losses`, sigmoid cross-entropy on logits), and `tf.sigmoid(logit)` is the
probability D(I, S) for logging.
"""
from __future__ import annotations

import dataclasses

import keras

from salgan_tf import config as config_lib


@dataclasses.dataclass(frozen=True)
class Row:
    """One row of Table 2: conv (filters, kernel), 2×2 max pool, or dense (units)."""

    name: str
    kind: str  # "conv", "pool" or "dense"
    size: int = 0  # conv filters or dense units
    kernel: int = 0
    activation: str | None = None


# Table 2 of the paper, top to bottom.
DISCRIMINATOR_TABLE = (
    Row("conv1_1", "conv", 3, 1, "relu"),
    Row("conv1_2", "conv", 32, 3, "relu"),
    Row("pool1", "pool"),
    Row("conv2_1", "conv", 64, 3, "relu"),
    Row("conv2_2", "conv", 64, 3, "relu"),
    Row("pool2", "pool"),
    Row("conv3_1", "conv", 64, 3, "relu"),
    Row("conv3_2", "conv", 64, 3, "relu"),
    Row("pool3", "pool"),
    Row("fc4", "dense", 100, activation="tanh"),
    Row("fc5", "dense", 2, activation="tanh"),
    Row("fc6", "dense", 1, activation="sigmoid"),
)

# Caffe-preprocessed pixels span about ±128 while maps span [0, 1]; the image channels are scaled
# by 1/128 before stacking (no weights: Table 2's parameters are unchanged).
IMAGE_SCALE = 1.0 / 128.0
# How the map enters D (docs/discriminator.md; the choices are config.MAP_INPUTS). "raw": the map
# in [0, 1] as is (mean ~0.04, so the image channels dominate the first conv and D barely sees the
# map); "standardized": each map shifted and scaled to mean 0, std 1 (the normalisation of NSS),
# so the map reaches D at the image channels' scale and D judges the map's shape, not its level.
_STD_EPSILON = 1e-6


@keras.saving.register_keras_serializable(package="salgan_tf")
class MapStandardization(keras.layers.Layer):
    """Per-map (x - mean) / (std + 1e-6) over H, W of `[B, H, W, 1]` maps (NSS's normalisation)."""

    def call(self, maps):
        mean = keras.ops.mean(maps, axis=(1, 2, 3), keepdims=True)
        std = keras.ops.std(maps, axis=(1, 2, 3), keepdims=True)
        return (maps - mean) / (std + _STD_EPSILON)


def build_discriminator(image_size=(192, 256), map_input="standardized",
                        name="salgan_discriminator"):
    """Builds the SalGAN discriminator as a Keras functional model.

    Args:
      image_size: `(height, width)` of image and map; multiples of 8 (three 2×2 poolings).
      map_input: one of config.MAP_INPUTS, how the map is scaled before stacking (module comment).
      name: model name.

    Returns:
      `keras.Model` taking `[image, saliency]` and returning `[B, 1]` logits (float32).
    """
    height, width = image_size
    if height % 8 or width % 8:
        raise ValueError(f"discriminator image size {height}x{width} must be multiples of 8")
    image = keras.Input(shape=(height, width, 3), name="image")
    saliency = keras.Input(shape=(height, width, 1), name="saliency")
    if map_input not in config_lib.MAP_INPUTS:
        raise ValueError(f"map_input must be one of {config_lib.MAP_INPUTS}, got {map_input!r}")
    scaled_image = keras.layers.Rescaling(IMAGE_SCALE, name="image_scale")(image)
    scaled_map = saliency
    if map_input == "standardized":
        # float32 even under mixed precision: a bfloat16 mean over H*W pixels is too coarse.
        scaled_map = MapStandardization(name="map_standardize", dtype="float32")(saliency)
    x = keras.layers.Concatenate(axis=-1, name="rgbs")([scaled_image, scaled_map])
    for row in DISCRIMINATOR_TABLE:
        if row.kind == "conv":
            x = keras.layers.Conv2D(row.size, row.kernel, padding="same",
                                    activation=row.activation, name=row.name)(x)
        elif row.kind == "pool":
            x = keras.layers.MaxPooling2D(2, strides=2, name=row.name)(x)
        else:
            if len(x.shape) > 2:
                x = keras.layers.Flatten(name="flatten")(x)
            # The last row's sigmoid moves into the losses: fc6 emits the logit, in float32
            # under mixed precision so the loss sees it at full precision.
            last = row.name == DISCRIMINATOR_TABLE[-1].name
            x = keras.layers.Dense(row.size, activation=None if last else row.activation,
                                   name=row.name, dtype="float32" if last else None)(x)
    return keras.Model([image, saliency], x, name=name)
