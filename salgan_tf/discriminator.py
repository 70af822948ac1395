"""SalGAN discriminator on image + saliency map (Pan et al. 2017, Sec. 3.2, Table 2).

Inputs: the generator's input image `[B, H, W, 3]` (caffe preprocessed) and a saliency map
`[B, H, W, 1]` in [0, 1]; they are stacked into the paper's 4-channel RGBS input. Output: `[B, 1]`
probability that the map is a human (ground-truth) one, float32 under mixed precision.
"""
from __future__ import annotations

import dataclasses

import keras


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
# by 1/128 before stacking so the first 1×1 conv sees channels of one order of magnitude (this
# layer has no weights, so Table 2's parameters are unchanged).
IMAGE_SCALE = 1.0 / 128.0


def build_discriminator(image_size=(192, 256), name="salgan_discriminator"):
    """Builds the SalGAN discriminator as a Keras functional model.

    Args:
      image_size: `(height, width)` of image and map; multiples of 8 (three 2×2 poolings).
      name: model name.

    Returns:
      `keras.Model` taking `[image, saliency]` and returning `[B, 1]` probabilities (float32).
    """
    height, width = image_size
    if height % 8 or width % 8:
        raise ValueError(f"discriminator image size {height}x{width} must be multiples of 8")
    image = keras.Input(shape=(height, width, 3), name="image")
    saliency = keras.Input(shape=(height, width, 1), name="saliency")
    scaled_image = keras.layers.Rescaling(IMAGE_SCALE, name="image_scale")(image)
    x = keras.layers.Concatenate(axis=-1, name="rgbs")([scaled_image, saliency])
    for row in DISCRIMINATOR_TABLE:
        if row.kind == "conv":
            x = keras.layers.Conv2D(row.size, row.kernel, padding="same",
                                    activation=row.activation, name=row.name)(x)
        elif row.kind == "pool":
            x = keras.layers.MaxPooling2D(2, strides=2, name=row.name)(x)
        else:
            if len(x.shape) > 2:
                x = keras.layers.Flatten(name="flatten")(x)
            # The last layer's sigmoid stays float32 under mixed precision (stable -log D).
            dtype = "float32" if row.name == DISCRIMINATOR_TABLE[-1].name else None
            x = keras.layers.Dense(row.size, activation=row.activation, name=row.name,
                                   dtype=dtype)(x)
    return keras.Model([image, saliency], x, name=name)
