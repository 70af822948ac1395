"""SalGAN generator: VGG-16 encoder + mirrored decoder (Pan et al. 2017, Sec. 3.1, Table 1).

Input: `[B, H, W, 3]` float32, VGG "caffe" preprocessed (BGR, ImageNet mean subtracted; see
`salgan_tf.preprocessing.vgg_preprocess`). Output: `[B, H, W, 1]` saliency map in [0, 1] (sigmoid,
kept in float32 under mixed precision). H and W must be multiples of 16 (four 2×2 poolings).
"""
from __future__ import annotations

import dataclasses
import os

import keras

from salgan_tf import encoder_weights as encoder_weights_lib


@dataclasses.dataclass(frozen=True)
class ConvRow:
    """One row of the paper's layer table: a 3×3 ReLU conv, or a 2× resampling step."""

    name: str
    filters: int = 0  # 0 marks a resampling row ("pool" or "upsample").
    kind: str = "conv"  # "conv", "pool" (encoder, 2×2 max) or "upsample" (decoder, ×2 nearest).


# Encoder = VGG-16 conv1_1 … conv5_3 without pool5 and without the FC layers (paper Sec. 3.1).
# Names follow keras.applications.VGG16 so ImageNet weights load by layer name.
ENCODER_TABLE = (
    ConvRow("block1_conv1", 64), ConvRow("block1_conv2", 64), ConvRow("block1_pool", kind="pool"),
    ConvRow("block2_conv1", 128), ConvRow("block2_conv2", 128), ConvRow("block2_pool", kind="pool"),
    ConvRow("block3_conv1", 256), ConvRow("block3_conv2", 256), ConvRow("block3_conv3", 256),
    ConvRow("block3_pool", kind="pool"),
    ConvRow("block4_conv1", 512), ConvRow("block4_conv2", 512), ConvRow("block4_conv3", 512),
    ConvRow("block4_pool", kind="pool"),
    ConvRow("block5_conv1", 512), ConvRow("block5_conv2", 512), ConvRow("block5_conv3", 512),
)

# Decoder mirrors the encoder; upsampling replaces pooling (paper Sec. 3.1: "the decoder ... in
# reverse order, with the max pooling layers replaced by upsampling layers"), ReLU 3×3 convs.
DECODER_TABLE = (
    ConvRow("decoder_block5_conv3", 512), ConvRow("decoder_block5_conv2", 512),
    ConvRow("decoder_block5_conv1", 512), ConvRow("decoder_block4_upsample", kind="upsample"),
    ConvRow("decoder_block4_conv3", 512), ConvRow("decoder_block4_conv2", 512),
    ConvRow("decoder_block4_conv1", 512), ConvRow("decoder_block3_upsample", kind="upsample"),
    ConvRow("decoder_block3_conv3", 256), ConvRow("decoder_block3_conv2", 256),
    ConvRow("decoder_block3_conv1", 256), ConvRow("decoder_block2_upsample", kind="upsample"),
    ConvRow("decoder_block2_conv2", 128), ConvRow("decoder_block2_conv1", 128),
    ConvRow("decoder_block1_upsample", kind="upsample"),
    ConvRow("decoder_block1_conv2", 64), ConvRow("decoder_block1_conv1", 64),
)

# Only conv4 and conv5 of the encoder are fine-tuned (paper Sec. 4.2); blocks 1-3 stay at ImageNet.
TRAINABLE_ENCODER_BLOCKS = ("block4", "block5")
OUTPUT_LOGITS_LAYER = "saliency_logits"  # final 1×1 conv, one channel
OUTPUT_LAYER = "saliency"  # sigmoid, float32
DEFAULT_IMAGE_SIZE = (192, 256)  # (H, W); the paper's 256×192 is W×H.


def encoder_layer_names():
    """Names of the 13 VGG-16 conv layers of the encoder, input to output."""
    return [row.name for row in ENCODER_TABLE if row.kind == "conv"]


def _check_image_size(image_size):
    height, width = image_size
    if height % 16 or width % 16 or height <= 0 or width <= 0:
        raise ValueError(
            f"image size {height}x{width} (HxW) must be positive multiples of 16: the encoder "
            "pools 4 times by 2 and the decoder upsamples back to the input size")


def _apply_table(x, table, trainable_fn):
    for row in table:
        if row.kind == "pool":
            x = keras.layers.MaxPooling2D(2, strides=2, name=row.name)(x)
        elif row.kind == "upsample":
            x = keras.layers.UpSampling2D(2, interpolation="nearest", name=row.name)(x)
        else:
            x = keras.layers.Conv2D(row.filters, 3, padding="same", activation="relu",
                                    name=row.name, trainable=trainable_fn(row.name))(x)
    return x


def build_generator(image_size=DEFAULT_IMAGE_SIZE, encoder_weights="none", name="salgan_generator"):
    """Builds the SalGAN generator as a Keras functional model.

    Args:
      image_size: `(height, width)` of the input, multiples of 16. Default 192×256 (paper).
      encoder_weights: `"none"` (random init), `"imagenet"` (Keras download) or a path to a local
        VGG-16 weights file (`.h5`, `.weights.h5` or `.keras`); see `salgan_tf.encoder_weights`.
      name: model name.

    Returns:
      `keras.Model` mapping `[B, H, W, 3]` caffe-preprocessed images to `[B, H, W, 1]` maps in [0, 1].
    """
    _check_image_size(image_size)
    images = keras.Input(shape=(image_size[0], image_size[1], 3), name="image")
    x = _apply_table(images, ENCODER_TABLE,
                     lambda layer: layer.split("_")[0] in TRAINABLE_ENCODER_BLOCKS)
    x = _apply_table(x, DECODER_TABLE, lambda layer: True)
    logits = keras.layers.Conv2D(1, 1, name=OUTPUT_LOGITS_LAYER)(x)
    # Sigmoid in float32 so mixed-precision policies never round the map or the BCE.
    saliency = keras.layers.Activation("sigmoid", dtype="float32", name=OUTPUT_LAYER)(logits)
    model = keras.Model(images, saliency, name=name)
    if encoder_weights not in (None, "none"):
        encoder_weights_lib.load_into(model, os.fspath(encoder_weights), encoder_layer_names())
    return model
