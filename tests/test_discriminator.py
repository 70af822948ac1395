"""Pins the discriminator to the paper's Table 2."""
import keras
import numpy as np
import pytest

from salgan_tf import discriminator

# (name, type, filters/units, kernel, activation) as in Table 2.
EXPECTED = [
    ("conv1_1", "Conv2D", 3, (1, 1), "relu"),
    ("conv1_2", "Conv2D", 32, (3, 3), "relu"),
    ("pool1", "MaxPooling2D", None, None, None),
    ("conv2_1", "Conv2D", 64, (3, 3), "relu"),
    ("conv2_2", "Conv2D", 64, (3, 3), "relu"),
    ("pool2", "MaxPooling2D", None, None, None),
    ("conv3_1", "Conv2D", 64, (3, 3), "relu"),
    ("conv3_2", "Conv2D", 64, (3, 3), "relu"),
    ("pool3", "MaxPooling2D", None, None, None),
    ("fc4", "Dense", 100, None, "tanh"),
    ("fc5", "Dense", 2, None, "tanh"),
    ("fc6", "Dense", 1, None, "linear"),  # Table 2's sigmoid is in the losses (logits)
]
# At 192×256: convs 15+896+18,496+36,928*3 = 130,191; fc4 49,152*100+100; fc5 202; fc6 3.
PAPER_SIZE_PARAMS = 5_045_696


def _rows(model):
    rows = []
    for layer in model.layers:
        kind = type(layer).__name__
        if kind not in ("Conv2D", "MaxPooling2D", "Dense"):
            continue
        size = getattr(layer, "filters", None) or getattr(layer, "units", None)
        kernel = getattr(layer, "kernel_size", None)
        act = layer.activation.__name__ if hasattr(layer, "activation") else None
        rows.append((layer.name, kind, size, kernel, act))
    return rows


def test_layer_table_and_params_at_paper_size():
    model = discriminator.build_discriminator((192, 256))
    assert _rows(model) == EXPECTED
    assert model.count_params() == PAPER_SIZE_PARAMS
    assert all(layer.trainable for layer in model.layers)
    assert model.input_shape == [(None, 192, 256, 3), (None, 192, 256, 1)]


def test_rgbs_input_and_logit_output():
    model = discriminator.build_discriminator((32, 48))
    assert model.get_layer("rgbs").output.shape[-1] == 4  # RGB + saliency
    rng = np.random.default_rng(0)
    out = model([rng.normal(0, 60, (3, 32, 48, 3)).astype("float32"),
                 rng.uniform(size=(3, 32, 48, 1)).astype("float32")]).numpy()
    assert out.shape == (3, 1) and out.dtype == np.float32
    assert model.get_layer("fc6").activation.__name__ == "linear"


def test_standardized_map_input_ignores_the_map_level():
    # D with map_input="standardized" sees each map at mean 0, std 1: a map and the same map
    # scaled and shifted give one logit; with "raw" they differ.
    rng = np.random.default_rng(1)
    image = rng.normal(0, 60, (1, 32, 48, 3)).astype("float32")
    saliency = rng.uniform(size=(1, 32, 48, 1)).astype("float32") * 0.1
    for map_input, same in (("standardized", True), ("raw", False)):
        keras.utils.set_random_seed(0)
        model = discriminator.build_discriminator((32, 48), map_input=map_input)
        a = model([image, saliency]).numpy()
        b = model([image, 5.0 * saliency + 0.3]).numpy()
        assert np.allclose(a, b, atol=1e-4) == same, map_input


def test_bad_arguments():
    with pytest.raises(ValueError, match="multiples of 8"):
        discriminator.build_discriminator((30, 48))
    with pytest.raises(ValueError, match="map_input"):
        discriminator.build_discriminator((32, 48), map_input="log")
