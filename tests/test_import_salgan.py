"""salgan_tf.tools.import_salgan: the authors' Theano generator npz -> our Keras generator.

The reference below re-implements THEIR forward pass in numpy from their model files
(imatge-upc/saliency-salgan-2017 scripts/models/{layers,vgg16,generator}.py), with scipy's
`correlate2d` for Lasagne `flip_filters=False` (encoder) and `convolve2d` for the default
`flip_filters=True` (decoder, output). Kernels are random (asymmetric), so dropping the decoder's
spatial flip or the RGB -> BGR order makes the comparison fail. Each conv connects only a few
random channels (the other kernels are zero) so the scipy loops stay fast at full layer widths.
"""
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image
from scipy import signal

from salgan_tf import checkpoints
from salgan_tf import generator as generator_lib
from salgan_tf import inference
from salgan_tf import preprocessing
from salgan_tf.data import images
from salgan_tf.tools import import_salgan

# Their generator, layer by layer (models/vgg16.py then models/generator.py): conv name and
# filters, "pool" (Pool2DLayer 2, max) or "up" (Upscale2DLayer scale_factor=2, repeat).
THEIR_LAYERS = (
    ("conv1_1", 64), ("conv1_2", 64), "pool", ("conv2_1", 128), ("conv2_2", 128), "pool",
    ("conv3_1", 256), ("conv3_2", 256), ("conv3_3", 256), "pool",
    ("conv4_1", 512), ("conv4_2", 512), ("conv4_3", 512), "pool",
    ("conv5_1", 512), ("conv5_2", 512), ("conv5_3", 512),
    ("uconv5_3", 512), ("uconv5_2", 512), ("uconv5_1", 512), "up",
    ("uconv4_3", 512), ("uconv4_2", 512), ("uconv4_1", 512), "up",
    ("uconv3_3", 256), ("uconv3_2", 256), ("uconv3_1", 256), "up",
    ("uconv2_2", 128), ("uconv2_1", 128), "up", ("uconv1_2", 64), ("uconv1_1", 64),
    ("output", 1),
)
THEIR_BGR_MEAN = np.array([103.939, 116.779, 123.68])  # models/layers.py RGBtoBGRLayer
SMALL_SIZE = (32, 48)
ACTIVE_CHANNELS = 4


def synthetic_generator_arrays(seed=0):
    """54 arrays laid out as their np.savez writes them; each conv uses 4 random channels."""
    rng = np.random.default_rng(seed)
    arrays = []
    active_in, in_channels = np.arange(3), 3
    for row in THEIR_LAYERS:
        if isinstance(row, str):
            continue
        name, filters = row
        size = 1 if name == "output" else 3
        active_out = np.array([0]) if name == "output" else rng.choice(
            filters, ACTIVE_CHANNELS, replace=False)
        weights = np.zeros((filters, in_channels, size, size), np.float32)
        # conv1_1 sees values of +-128, the others O(1) activations.
        scale = 0.003 if name == "conv1_1" else 0.3
        weights[np.ix_(active_out, active_in)] = scale * rng.standard_normal(
            (len(active_out), len(active_in), size, size))
        bias = np.zeros(filters, np.float32)
        bias[active_out] = rng.uniform(0.05, 0.3, len(active_out))
        arrays += [weights, bias]
        active_in, in_channels = active_out, filters
    return arrays


def their_forward(arrays, rgb):
    """Their generator on one RGB 0-255 `[H, W, 3]` image, in float64 numpy: map `[H, W]`."""
    x = rgb.transpose(2, 0, 1)[::-1].astype(np.float64)  # RGBtoBGRLayer: bc01, channels reversed
    x = x - THEIR_BGR_MEAN[:, None, None]
    params = iter(arrays)
    for row in THEIR_LAYERS:
        if row == "pool":
            c, h, w = x.shape
            x = x.reshape(c, h // 2, 2, w // 2, 2).max(axis=(2, 4))
            continue
        if row == "up":
            x = x.repeat(2, axis=1).repeat(2, axis=2)
            continue
        name, _ = row
        weights, bias = next(params), next(params)
        # Lasagne: flip_filters=False (encoder) = correlation, True (the default) = convolution.
        conv = signal.correlate2d if name.startswith("conv") else signal.convolve2d
        out = np.empty((weights.shape[0],) + x.shape[1:])
        for o in range(weights.shape[0]):
            out[o] = bias[o]
            for i in np.flatnonzero(np.any(weights[o] != 0, axis=(1, 2))):
                out[o] += conv(x[i], weights[o, i].astype(np.float64), mode="same")
        x = 1.0 / (1.0 + np.exp(-out)) if name == "output" else np.maximum(out, 0.0)
    return x[0]


def write_npz(path, arrays, **named):
    np.savez(path, *arrays, **named)
    return str(path)


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    """(arrays, source npz, imported .weights.h5) for the synthetic generator."""
    directory = tmp_path_factory.mktemp("import_salgan")
    arrays = synthetic_generator_arrays()
    source = write_npz(directory / "gen_modelWeights0090.npz", arrays)
    output = str(directory / "salgan_paper.weights.h5")
    import_salgan.import_salgan(source, output, echo=lambda line: None)
    return arrays, source, output


def test_imported_generator_matches_their_forward_pass(imported):
    arrays, _, output = imported
    rgb = np.random.default_rng(1).uniform(0, 255, SMALL_SIZE + (3,)).astype(np.float32)
    rgb[:, :SMALL_SIZE[1] // 2, 0] = 250.0  # a red left half: R and B must not be swapped
    expected = their_forward(arrays, rgb)
    assert expected.std() > 0.01, "the synthetic network should give a non-flat map"
    generator = generator_lib.build_generator(SMALL_SIZE, encoder_weights="none")
    generator.load_weights(output)
    ours = generator(preprocessing.vgg_preprocess(rgb[None]), training=False).numpy()[0, ..., 0]
    np.testing.assert_allclose(ours, expected, atol=2e-5, rtol=0)


def test_layer_plan_matches_their_order_and_flip_flags():
    convs = [row[0] for row in THEIR_LAYERS if not isinstance(row, str)]
    assert [layer.lasagne_name for layer in import_salgan.LAYER_PLAN] == convs
    assert import_salgan.NUM_ARRAYS == 54
    flips = {layer.lasagne_name: layer.flip_filters for layer in import_salgan.LAYER_PLAN}
    assert not any(flips[name] for name in convs if name.startswith("conv"))
    assert all(flips[name] for name in convs if not name.startswith("conv"))


def _bad(arrays, index, value):
    arrays = list(arrays)
    arrays[index] = value
    return arrays


def _discriminator_arrays():
    """The first arrays of their discriminator file (models/discriminator.py: merge 4->3, conv1)."""
    return [np.zeros((3, 4, 1, 1), np.float32), np.zeros(3, np.float32),
            np.zeros((32, 3, 3, 3), np.float32), np.zeros(32, np.float32)]


BAD_SOURCES = {
    "too few arrays": (lambda a: a[:-2], "holds 52 arrays, the SalGAN generator has 54"),
    "transposed decoder conv": (lambda a: _bad(a, 44, a[44].transpose(1, 0, 2, 3)),
                                "arr_44 (uconv2_2.W) has shape (256, 128, 3, 3), the SalGAN "
                                "generator needs (128, 256, 3, 3)"),
    "wrong conv1_1 shape": (lambda a: _bad(a, 0, np.zeros((3, 64, 3, 3), np.float32)),
                           "arr_0 (conv1_1.W) has shape (3, 64, 3, 3), the SalGAN generator "
                           "needs (64, 3, 3, 3)"),
    "discriminator": (lambda a: _discriminator_arrays(), "SalGAN discriminator"),
    "nan": (lambda a: _bad(a, 41, np.full_like(a[41], np.nan)), "arr_41 (uconv3_2.b) has NaN"),
    "inf": (lambda a: _bad(a, 52, np.full_like(a[52], np.inf)), "arr_52 (output.W) has NaN or "
            "infinite"),
    "integers": (lambda a: _bad(a, 1, a[1].astype(np.int64)), "arr_1 (conv1_1.b) has dtype int64"),
    "pickled objects": (lambda a: _bad(a, 5, np.array([{"W": 1}] * 128, dtype=object)),
                        "holds pickled Python objects"),
}


@pytest.mark.parametrize("case", sorted(BAD_SOURCES))
def test_bad_npz_is_refused_naming_file_and_problem(tmp_path, case):
    mutate, message = BAD_SOURCES[case]
    source = write_npz(tmp_path / "gen_modelWeights0090.npz", mutate(synthetic_generator_arrays()))
    output = tmp_path / "out.weights.h5"
    with pytest.raises(import_salgan.SalganWeightsError) as error:
        import_salgan.import_salgan(source, str(output), echo=lambda line: None)
    assert str(error.value).startswith(source + ": ")
    assert message in str(error.value)
    assert "\n" not in str(error.value)
    assert not output.exists() and os.listdir(tmp_path) == ["gen_modelWeights0090.npz"]


def test_keyword_names_and_non_npz_are_refused(tmp_path):
    arrays = synthetic_generator_arrays()
    named = write_npz(tmp_path / "named.npz", arrays[:-1], extra=arrays[-1])
    with pytest.raises(import_salgan.SalganWeightsError, match="arrays named \\['extra'\\]"):
        import_salgan.read_npz(named)
    text = tmp_path / "gen_modelWeights0090.npz"
    text.write_text("not an archive")
    with pytest.raises(import_salgan.SalganWeightsError, match="not an .npz archive"):
        import_salgan.read_npz(str(text))
    with pytest.raises(FileNotFoundError, match="missing.npz: SalGAN weights file not found"):
        import_salgan.read_npz(str(tmp_path / "missing.npz"))


def test_existing_output_is_kept_unless_overwrite(imported, tmp_path):
    _, source, _ = imported
    output = tmp_path / "salgan.weights.h5"
    output.write_bytes(b"earlier file")
    with pytest.raises(import_salgan.SalganWeightsError, match="already exists"):
        import_salgan.import_salgan(source, str(output), echo=lambda line: None)
    assert output.read_bytes() == b"earlier file"
    with pytest.raises(import_salgan.SalganWeightsError, match="must end in .weights.h5"):
        import_salgan.import_salgan(source, str(tmp_path / "x.h5"), echo=lambda line: None)


def _run(module, *args):
    env = dict(os.environ, PYTHONPATH=os.getcwd(), TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True,
                          env=env, timeout=600)


def test_cli_refuses_discriminator_with_one_line_and_exit_1(tmp_path):
    source = write_npz(tmp_path / "disrim_modelWeights0090.npz", _discriminator_arrays())
    result = _run("salgan_tf.tools.import_salgan", f"--source={source}",
                  f"--output={tmp_path / 'out.weights.h5'}")
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith(f"import_salgan: error: {source}: this is the SalGAN discriminator")
    assert not (tmp_path / "out.weights.h5").exists()


def test_imported_weights_work_in_predict_and_saved_model(imported, tmp_path):
    """`predict --model=X.weights.h5 --postprocess=paper`, `salgan_tf.export.saved_model --checkpoint=X`."""
    _, _, weights = imported
    image = np.random.default_rng(2).integers(0, 256, (60, 80, 3), dtype=np.uint8)
    Image.fromarray(image).save(tmp_path / "photo.png")
    result = _run("salgan_tf.predict", f"--model={weights}", f"--input={tmp_path / 'photo.png'}",
                  f"--output={tmp_path / 'maps'}", "--postprocess=paper")
    assert result.returncode == 0, result.stderr
    with Image.open(tmp_path / "maps" / "photo.png") as saliency:
        written = np.asarray(saliency)
    assert written.shape == (60, 80)
    generator, config = checkpoints.load_generator(weights)
    assert config.image_size == generator_lib.DEFAULT_IMAGE_SIZE
    rgb = image.astype(np.float32)
    paper = inference.load_predictor(weights, postprocess="paper")
    np.testing.assert_allclose(written, images.quantize_map(paper.predict(rgb), scale_to_max=False),
                               atol=1)
    direct = inference.load_predictor(weights)
    result = _run("salgan_tf.export.saved_model", f"--checkpoint={weights}",
                  f"--output={tmp_path / 'models' / '1'}")
    assert result.returncode == 0, result.stderr
    served = inference.load_predictor(str(tmp_path / "models" / "1"))
    np.testing.assert_allclose(served.predict(rgb), direct.predict(rgb), atol=1e-5)
