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
    ("fc6", "Dense", 1, None, "sigmoid"),
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


def test_rgbs_input_and_output_range():
    model = discriminator.build_discriminator((32, 48))
    assert model.get_layer("rgbs").output.shape[-1] == 4  # RGB + saliency
    rng = np.random.default_rng(0)
    out = model([rng.normal(0, 60, (3, 32, 48, 3)).astype("float32"),
                 rng.uniform(size=(3, 32, 48, 1)).astype("float32")]).numpy()
    assert out.shape == (3, 1) and out.dtype == np.float32
    assert ((out > 0) & (out < 1)).all()


def test_bad_size():
    with pytest.raises(ValueError, match="multiples of 8"):
        discriminator.build_discriminator((30, 48))
