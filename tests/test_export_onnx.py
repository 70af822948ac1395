"""salgan_tf.export.onnx: the ONNX model run by onnxruntime gives the SavedModel's maps on real
photographs (OSIE stimuli) to 1e-4, at any batch size, and loads behind `load_predictor`.

The test model is the 32x32 generator of tests/conftest.py (fixed seeds, rescaled output layer);
it is converted once per module.
"""

import json

import numpy as np
import pytest

import salgan_tf
from salgan_tf import inference
from salgan_tf.data import images
from salgan_tf.export import model_settings
from salgan_tf.export import onnx as onnx_lib
from tolerances import MAP_ATOL


onnx = pytest.importorskip("onnx")
pytest.importorskip("tf2onnx", reason="ONNX export needs tf2onnx (pip install 'salgan_tf[onnx]')")
onnxruntime = pytest.importorskip("onnxruntime")

# Issue 14: max |ONNX - SavedModel| on real images.
MAX_ABS_DIFFERENCE = 1e-4


@pytest.fixture(scope="module")
def onnx_path(util, tmp_path_factory):
    _, _, version_dir = util.exported_model()
    model = onnx_lib.convert(saved_model=version_dir)
    return onnx_lib.write(model, str(tmp_path_factory.mktemp("onnx") / "salgan.onnx"))


@pytest.fixture(scope="module")
def osie_images(osie_dir):
    stimuli = sorted((osie_dir / "data" / "stimuli").glob("*.jpg"))[:4]
    if len(stimuli) < 4:
        pytest.skip(f"need 4 OSIE stimuli under {osie_dir}, found {len(stimuli)}")
    return [images.decode_image(str(path)) for path in stimuli]


def test_onnx_matches_the_saved_model_on_real_images(util, onnx_path, osie_images):
    _, _, version_dir = util.exported_model()
    reference = inference.load_predictor(version_dir)
    predictor = inference.load_predictor(onnx_path, batch_size=3)
    assert predictor.kind == "onnx" and isinstance(predictor.runtime, onnxruntime.InferenceSession)
    assert (predictor.image_size, predictor.resize_mode) == ((32, 32), "stretch")
    loaded = salgan_tf.load(onnx_path)  # the Python API takes the .onnx too
    for image, want in zip(osie_images, reference.predict_batch(osie_images)):
        got = predictor.predict(image)
        np.testing.assert_array_equal(loaded.predict(image), got)
        assert got.shape == image.shape[:2] and got.dtype == np.float32 and want.std() > 0.05
        assert np.abs(got - want).max() <= MAX_ABS_DIFFERENCE
    # The batch dimension is open: 4 images go in as a batch of 3 and one of 1.
    network_inputs = np.stack([reference.to_network_input(image) for image in osie_images])
    np.testing.assert_allclose(predictor.predict_small(network_inputs),
                               reference.predict_small(network_inputs), atol=MAX_ABS_DIFFERENCE)


def test_onnx_interface_and_metadata(onnx_path):
    model = onnx.load(onnx_path)
    (graph_input,), (graph_output,) = model.graph.input, model.graph.output
    assert (graph_input.name, graph_output.name) == ("image", "saliency")
    dims = [d.dim_value or d.dim_param for d in graph_input.type.tensor_type.shape.dim]
    assert dims[1:] == [32, 32, 3] and isinstance(dims[0], str)  # batch: a symbolic dimension
    metadata = {prop.key: prop.value for prop in model.metadata_props}
    settings = json.loads(metadata[model_settings.METADATA_NAME])
    assert {key: settings[key] for key in ("image_height", "image_width", "resize_mode")} == {
        "image_height": 32, "image_width": 32, "resize_mode": "stretch"}
    assert [t["name"] for t in settings["inputs"] + settings["outputs"]] == ["image", "saliency"]


def test_a_training_run_exports_the_same_network(util, osie_images):
    generator, run_dir, version_dir = util.exported_model()
    module, image_size, resize_mode, postprocess, _ = onnx_lib.network_source(checkpoint=run_dir)
    assert postprocess == "none"
    assert (image_size, resize_mode) == ((32, 32), "stretch")
    reference = inference.load_predictor(version_dir)
    batch = np.stack([reference.to_network_input(image) for image in osie_images])
    np.testing.assert_allclose(module.network(batch).numpy(),
                               util.keras_saliency(generator, batch), atol=MAP_ATOL)
    with pytest.raises(ValueError, match="exactly one"):
        onnx_lib.convert(saved_model=version_dir, checkpoint=run_dir)
    with pytest.raises(ValueError, match="exactly one"):
        onnx_lib.convert()


def test_write_is_atomic_and_checks_the_name(tmp_path):
    model = onnx.helper.make_model(onnx.helper.make_graph(
        [onnx.helper.make_node("Identity", ["x"], ["y"])], "g",
        [onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1])],
        [onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1])]))
    path = onnx_lib.write(model, str(tmp_path / "m.onnx"))
    with pytest.raises(ValueError, match=r"m\.tflite: the output file name must end in \.onnx"):
        onnx_lib.write(model, str(tmp_path / "m.tflite"))
    assert [p.name for p in tmp_path.iterdir()] == ["m.onnx"]
    # An ONNX file without salgan_tf's metadata is refused by name.
    with pytest.raises(ValueError, match=r"m\.onnx: field `image_height` is missing"):
        inference.load_predictor(path)


def test_bad_onnx_file_is_named(tmp_path):
    path = tmp_path / "broken.onnx"
    path.write_bytes(b"not a protobuf")
    with pytest.raises(ValueError, match="broken.onnx: not an ONNX model onnxruntime can run"):
        inference.load_predictor(str(path))
    with pytest.raises(FileNotFoundError, match="ONNX file not found"):
        inference.load_predictor(str(tmp_path / "missing.onnx"))
