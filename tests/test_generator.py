"""Pins the generator to the paper's Table 1 and the encoder-weights contract."""
import keras
import numpy as np
import pytest

from salgan_tf import encoder_weights
from salgan_tf import generator

# (name, filters, trainable) for every conv layer, input to output: VGG-16 conv1_1…conv5_3
# (blocks 1-3 frozen, Sec. 4.2), then the mirrored decoder, then the 1×1 output conv.
EXPECTED_CONVS = [
    ("block1_conv1", 64, False), ("block1_conv2", 64, False),
    ("block2_conv1", 128, False), ("block2_conv2", 128, False),
    ("block3_conv1", 256, False), ("block3_conv2", 256, False), ("block3_conv3", 256, False),
    ("block4_conv1", 512, True), ("block4_conv2", 512, True), ("block4_conv3", 512, True),
    ("block5_conv1", 512, True), ("block5_conv2", 512, True), ("block5_conv3", 512, True),
    ("decoder_block5_conv3", 512, True), ("decoder_block5_conv2", 512, True),
    ("decoder_block5_conv1", 512, True),
    ("decoder_block4_conv3", 512, True), ("decoder_block4_conv2", 512, True),
    ("decoder_block4_conv1", 512, True),
    ("decoder_block3_conv3", 256, True), ("decoder_block3_conv2", 256, True),
    ("decoder_block3_conv1", 256, True),
    ("decoder_block2_conv2", 128, True), ("decoder_block2_conv1", 128, True),
    ("decoder_block1_conv2", 64, True), ("decoder_block1_conv1", 64, True),
    ("saliency_logits", 1, True),
]
# Encoder 14,714,688 (= keras VGG16 notop) + decoder 17,072,321; matches shared/notes/cpu_speed.md.
GENERATOR_PARAMS = 31_787_009
FROZEN_PARAMS = 1_735_488  # VGG blocks 1-3


@pytest.fixture(scope="module")
def tiny_generator():
    return generator.build_generator((32, 48))


def test_layer_table(tiny_generator):
    convs = [layer for layer in tiny_generator.layers if isinstance(layer, keras.layers.Conv2D)]
    assert [(c.name, c.filters, c.trainable) for c in convs] == EXPECTED_CONVS
    for conv in convs[:-1]:
        assert conv.kernel_size == (3, 3) and conv.padding == "same"
        assert conv.activation is keras.activations.relu
    assert convs[-1].kernel_size == (1, 1)
    assert tiny_generator.get_layer("saliency").activation is keras.activations.sigmoid
    pools = [l.name for l in tiny_generator.layers if isinstance(l, keras.layers.MaxPooling2D)]
    ups = [l.name for l in tiny_generator.layers if isinstance(l, keras.layers.UpSampling2D)]
    assert pools == ["block1_pool", "block2_pool", "block3_pool", "block4_pool"]  # no pool5
    assert len(ups) == 4


def test_param_counts(tiny_generator):
    # Conv parameter counts do not depend on the input size.
    assert tiny_generator.count_params() == GENERATOR_PARAMS
    frozen = sum(int(np.prod(v.shape)) for v in tiny_generator.non_trainable_weights)
    assert frozen == FROZEN_PARAMS
    vgg = keras.applications.VGG16(include_top=False, weights=None)
    encoder = sum(tiny_generator.get_layer(n).count_params()
                  for n in generator.encoder_layer_names())
    assert encoder == vgg.count_params() == 14_714_688


@pytest.mark.parametrize("size", [(32, 48), (64, 32)])
def test_output_shape_equals_input_shape(size):
    model = generator.build_generator(size)
    images = np.random.default_rng(0).normal(0, 60, (2, *size, 3)).astype("float32")
    maps = model(images).numpy()
    assert maps.shape == (2, *size, 1)
    assert maps.dtype == np.float32
    assert (maps >= 0).all() and (maps <= 1).all()


def test_default_size_is_paper_size():
    assert generator.DEFAULT_IMAGE_SIZE == (192, 256)  # H×W, i.e. the paper's 256×192 W×H


@pytest.mark.parametrize("size", [(30, 48), (32, 0)])
def test_bad_size_is_clear_error(size):
    with pytest.raises(ValueError, match="multiples of 16"):
        generator.build_generator(size)


def _random_vgg_file(tmp_path, suffix):
    vgg = keras.applications.VGG16(include_top=False, weights=None)
    path = tmp_path / f"vgg16_notop{suffix}"
    if suffix == ".keras":
        vgg.save(path)
    else:
        vgg.save_weights(path)
    return vgg, path


@pytest.mark.parametrize("suffix", [".weights.h5", ".keras"])
def test_encoder_weights_round_trip_through_local_file(tmp_path, suffix):
    vgg, path = _random_vgg_file(tmp_path, suffix)
    model = generator.build_generator((32, 48), encoder_weights=str(path))
    for name in generator.encoder_layer_names():
        for got, want in zip(model.get_layer(name).get_weights(), vgg.get_layer(name).get_weights()):
            np.testing.assert_array_equal(got, want)


def test_generator_weights_round_trip(tmp_path, tiny_generator):
    path = tmp_path / "generator.weights.h5"
    tiny_generator.save_weights(path)
    other = generator.build_generator((32, 48))
    other.load_weights(path)
    for a, b in zip(tiny_generator.weights, other.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_missing_weights_file_is_clear_error(tmp_path):
    with pytest.raises(encoder_weights.EncoderWeightsError, match="not found: .*nope.h5"):
        generator.build_generator((32, 48), encoder_weights=str(tmp_path / "nope.h5"))


def test_corrupt_weights_file_is_clear_error(tmp_path):
    bad = tmp_path / "bad.weights.h5"
    bad.write_bytes(b"this is not hdf5")
    with pytest.raises(encoder_weights.EncoderWeightsError, match="bad.weights.h5"):
        generator.build_generator((32, 48), encoder_weights=str(bad))


def test_wrong_extension_is_clear_error(tmp_path):
    bad = tmp_path / "weights.npz"
    bad.write_bytes(b"x")
    with pytest.raises(encoder_weights.EncoderWeightsError, match="unsupported type"):
        generator.build_generator((32, 48), encoder_weights=str(bad))


def test_failed_download_is_clear_error(monkeypatch):
    def offline(*args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setattr(keras.applications, "VGG16", offline)
    with pytest.raises(encoder_weights.EncoderWeightsError, match="import_vgg16"):
        generator.build_generator((32, 48), encoder_weights="imagenet")
