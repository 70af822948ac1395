"""The SalGAN generator in PyTorch, layer for layer, for speed comparison only.

Built from the same layer tables as `salgan_tf.generator` (ENCODER_TABLE, DECODER_TABLE: 3x3
"same" ReLU convs, 2x2 max pools in the encoder, x2 nearest upsampling in the decoder, then a
1x1 conv to one channel and a sigmoid), so the two nets cannot drift apart. Layer names match the
Keras ones, which lets `copy_keras_weights` move every kernel across by name; with equal weights
the two nets must give equal maps.

Never imported by the salgan_tf package or the test suite; needs `pip install torch==2.13.0`
(bench only). Its self-check:

  python bench/torch_reference.py [--image_size=32x48]

prints and checks that both nets have the same parameter count, that with copied He-scaled random
weights their logits (before the sigmoid, where a transposed kernel or a wrong layer order shows)
agree to 1e-4 relative, and that copying from another Keras model is refused; exit status 1 if
any check fails.
"""
from __future__ import annotations

import argparse
import os
import pathlib
import sys

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from salgan_tf import generator as generator_lib  # noqa: E402

# Keras `padding="same"` for a 3x3 stride-1 conv pads one pixel on every side, as padding=1 does.
_SAME_PADDING = 1


class SalGANGeneratorTorch(nn.Module):
    """VGG-16 encoder + mirrored decoder; NCHW in, NCHW out, map in [0, 1]."""

    def __init__(self):
        super().__init__()
        layers = []
        channels = 3
        for row in generator_lib.ENCODER_TABLE + generator_lib.DECODER_TABLE:
            if row.kind == "pool":
                layers.append((row.name, nn.MaxPool2d(2, stride=2)))
            elif row.kind == "upsample":
                layers.append((row.name, nn.Upsample(scale_factor=2, mode="nearest")))
            else:
                layers.append((row.name, nn.Conv2d(channels, row.filters, 3,
                                                   padding=_SAME_PADDING)))
                layers.append((row.name + "_relu", nn.ReLU(inplace=True)))
                channels = row.filters
        layers.append((generator_lib.OUTPUT_LOGITS_LAYER, nn.Conv2d(channels, 1, 1)))
        layers.append((generator_lib.OUTPUT_LAYER, nn.Sigmoid()))
        self.layers = nn.Sequential()
        for name, layer in layers:
            self.layers.add_module(name, layer)

    def forward(self, images):
        """`images`: [B, 3, H, W] caffe-preprocessed (BGR, mean subtracted); returns [B, 1, H, W]."""
        return self.layers(images)

    def conv_layers(self):
        """(name, nn.Conv2d) pairs, input to output; names equal the Keras layer names."""
        return [(name, m) for name, m in self.layers.named_children() if isinstance(m, nn.Conv2d)]


def count_parameters(module):
    """Number of scalar parameters (weights and biases) of a torch module."""
    return sum(p.numel() for p in module.parameters())


def copy_keras_weights(keras_model, torch_model):
    """Copies every conv kernel and bias from the Keras generator into `torch_model`, by name.

    Keras kernels are [kh, kw, Cin, Cout]; torch kernels are [Cout, Cin, kh, kw].

    Raises:
      ValueError: a layer missing on the Keras side or with a different kernel shape.
    """
    with torch.no_grad():
        for name, conv in torch_model.conv_layers():
            try:
                kernel, bias = keras_model.get_layer(name).get_weights()
            except ValueError as e:
                raise ValueError(f"Keras model {keras_model.name!r} has no conv layer {name!r} "
                                 "to copy into the PyTorch reference") from e
            kernel = np.transpose(kernel, (3, 2, 0, 1))
            if tuple(kernel.shape) != tuple(conv.weight.shape):
                raise ValueError(f"layer {name}: Keras kernel {kernel.shape} (as Cout,Cin,kh,kw) "
                                 f"does not fit the PyTorch kernel {tuple(conv.weight.shape)}")
            conv.weight.copy_(torch.from_numpy(np.ascontiguousarray(kernel)))
            conv.bias.copy_(torch.from_numpy(bias))


def torch_predict(torch_model, images_nhwc):
    """Runs the torch net on NHWC numpy images and returns NHWC numpy maps (float32)."""
    with torch.inference_mode():
        x = torch.from_numpy(np.ascontiguousarray(images_nhwc, dtype=np.float32))
        out = torch_model(x.permute(0, 3, 1, 2))
    return out.permute(0, 2, 3, 1).contiguous().numpy()


def max_abs_diff(keras_model, torch_model, images_nhwc):
    """max |Keras map - PyTorch map| on the same images (both float32)."""
    keras_maps = keras_model(images_nhwc, training=False).numpy()
    return float(np.max(np.abs(keras_maps - torch_predict(torch_model, images_nhwc))))


def _he_scaled_weights(keras_model, rng):
    """Random kernels and biases that keep activations O(1) through all 27 convs (Glorot init
    shrinks them to ~1e-4, where any two nets look alike)."""
    import keras

    for layer in keras_model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            kernel, bias = layer.get_weights()
            fan_in = np.prod(kernel.shape[:3])
            layer.set_weights([rng.normal(0, np.sqrt(2 / fan_in), kernel.shape).astype("float32"),
                               rng.normal(0, 0.1, bias.shape).astype("float32")])


def check(image_size):
    """Runs the self-checks; returns a list of failure messages (empty: all passed)."""
    import keras

    failures = []
    keras_model = generator_lib.build_generator(image_size)
    torch_model = SalGANGeneratorTorch().eval()
    keras_params, torch_params = keras_model.count_params(), count_parameters(torch_model)
    print(f"parameters: Keras {keras_params:,}, PyTorch {torch_params:,}")
    if keras_params != torch_params:
        failures.append(f"parameter counts differ: Keras {keras_params}, PyTorch {torch_params}")
    rng = np.random.default_rng(0)
    _he_scaled_weights(keras_model, rng)
    copy_keras_weights(keras_model, torch_model)
    images = rng.normal(0, 60, (2, *image_size, 3)).astype(np.float32)
    keras_logits = keras.Model(keras_model.input, keras_model.get_layer(
        generator_lib.OUTPUT_LOGITS_LAYER).output)(images).numpy()
    with torch.inference_mode():
        torch_logits = torch_model.layers[:-1](torch.from_numpy(images).permute(0, 3, 1, 2))
    torch_logits = torch_logits.permute(0, 2, 3, 1).numpy()
    scale = float(np.abs(keras_logits).max())
    logit_diff = float(np.max(np.abs(torch_logits - keras_logits)))
    print(f"logits: std {np.std(keras_logits):.3g}, max |Keras - PyTorch| {logit_diff:.3g} "
          f"(allowed 1e-4 x max |logit| = {1e-4 * scale:.3g})")
    if np.std(keras_logits) <= 1.0:
        failures.append("logits too flat for the comparison to mean anything")
    if logit_diff > 1e-4 * scale:
        failures.append(f"logits differ by {logit_diff:.3g}")
    map_diff = max_abs_diff(keras_model, torch_model, images)
    print(f"maps: max |Keras - PyTorch| {map_diff:.3g} on two {image_size[0]}x{image_size[1]} "
          "images")
    if map_diff >= 1e-4:
        failures.append(f"maps differ by {map_diff:.3g}")
    other = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(4, 3, name="x")])
    try:
        copy_keras_weights(other, SalGANGeneratorTorch())
        failures.append("copy_keras_weights accepted a model without the generator's layers")
    except ValueError as e:
        print(f"other model refused: {e}")
    return failures


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image_size", default="32x48", help="HxW")
    args = parser.parse_args(argv)
    import flops  # bench/flops.py

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    failures = check(flops.parse_image_size(args.image_size))
    for failure in failures:
        print(f"FAILED: {failure}")
    print("FAILED" if failures else "all checks passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
