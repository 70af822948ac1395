"""salgan_tf.export.tflite: every quantisation uses builtin ops only, runs in LiteRT and stays close
to the SavedModel on real photographs (OSIE stimuli, resized by the model's own path); int8 keeps
the faint tail of the map, so its KLD stays that of the float model.

The test model is the 32x32 generator of tests/conftest.py (fixed seeds), its output layer shifted
so the map looks like a trained SalGAN's: mostly faint, a few bright regions (logit mean -4, std
3 on the seeded images; ~20 % of the pixels below 1/512). It is not a trained SalGAN: the bounds
check the conversion, not saliency quality. Each variant is converted once per module.
"""
import json
import pathlib
import shutil

import numpy as np
import pytest
from ai_edge_litert import interpreter as litert
from ai_edge_litert import schema_py_generated as tflite_schema
from PIL import Image

from salgan_tf import generator as generator_lib
import salgan_tf
from salgan_tf import inference
from salgan_tf import metrics
from salgan_tf.data import images
from salgan_tf.data import prepare
from salgan_tf.data.readers import osie
from salgan_tf.export import saved_model as saved_model_lib
from salgan_tf.export import tflite as tflite_lib

# Pearson CC between TFLite and SavedModel maps (the bounds for float16 and int8).
MIN_CC = {"none": 0.99999, "float16": 0.999, "dynamic": 0.98, "int8": 0.98}
# Issue 14: int8's KLD (vs the fixations' density) within 5 % of the float model's.
MAX_INT8_KLD_RATIO = 1.05
CALIBRATION_IMAGES = 6
EVALUATION_IMAGES = 4
_OPERATOR_NAMES = {code: name for name, code in vars(tflite_schema.BuiltinOperator).items()
                   if not name.startswith("_")}
_TENSOR_TYPES = {code: name for name, code in vars(tflite_schema.TensorType).items()
                 if not name.startswith("_")}


def faint_tail_generator(util):
    """The tiny generator with its logits moved to mean -4, std 3 (module docstring)."""
    generator = util.tiny_generator((32, 32))  # logits mean 0, std 2 on the seeded images
    layer = generator.get_layer(generator_lib.OUTPUT_LOGITS_LAYER)
    kernel, bias = layer.get_weights()
    layer.set_weights([kernel * 1.5, bias * 1.5 - 4.0])
    return generator


@pytest.fixture(scope="module")
def osie_examples(osie_dir):
    """`[(RGB image, GT density)]` of the first OSIE images (1001, 1002, ...)."""
    count = CALIBRATION_IMAGES + EVALUATION_IMAGES
    examples = []
    for raw in osie.read(str(osie_dir)):
        image = images.decode_image(raw.image_path)
        examples.append((image, prepare.ground_truth_map(raw, image.shape[:2], osie.NAME)))
        if len(examples) == count:
            return examples
    pytest.skip(f"need {count} OSIE images under {osie_dir}, found {len(examples)}")


@pytest.fixture(scope="module")
def saved_model(util, tmp_path_factory):
    return saved_model_lib.export_saved_model(
        faint_tail_generator(util), str(tmp_path_factory.mktemp("faint_tail") / "1"))


@pytest.fixture(scope="module")
def converted(saved_model, osie_examples, tmp_path_factory):
    """`{quantize: path of the .tflite}`, every variant converted once."""
    calibration = [image for image, _ in osie_examples[:CALIBRATION_IMAGES]]
    folder = tmp_path_factory.mktemp("tflite")
    paths = {}
    for quantize in tflite_lib.QUANTIZATIONS:
        tflite_bytes, metadata = tflite_lib.convert(
            saved_model, quantize, representative_images=calibration if quantize == "int8" else None)
        paths[quantize] = tflite_lib.write(tflite_bytes, metadata, str(folder / f"{quantize}.tflite"))
    return paths


@pytest.fixture(scope="module")
def float_maps(saved_model, osie_examples):
    """The SavedModel's maps of the evaluation images (after the calibration ones)."""
    reference = inference.load_predictor(saved_model)
    return [reference.predict(image) for image, _ in osie_examples[CALIBRATION_IMAGES:]]


def operators(tflite_bytes):
    """`[(op name, output tensor type)]` of the model's main subgraph, in execution order."""
    model = tflite_schema.Model.GetRootAsModel(tflite_bytes, 0)
    subgraph = model.Subgraphs(0)
    found = []
    for i in range(subgraph.OperatorsLength()):
        op = subgraph.Operators(i)
        code = model.OperatorCodes(op.OpcodeIndex())
        # Codes above 127 live in BuiltinCode only; DeprecatedBuiltinCode caps at 127.
        name = _OPERATOR_NAMES[max(code.BuiltinCode(), code.DeprecatedBuiltinCode())]
        found.append((name, _TENSOR_TYPES[subgraph.Tensors(op.Outputs(0)).Type()]))
    return found


@pytest.mark.slow
def test_float_and_int8_files_carry_their_settings_and_predict_without_the_sidecar(
        converted, saved_model, float_maps, osie_examples, tmp_path):
    from salgan_tf.export import model_settings

    reference = inference.load_predictor(saved_model)
    image = osie_examples[CALIBRATION_IMAGES][0]
    for quantize in ("none", "int8"):
        recorded, _ = model_settings.read_tflite(converted[quantize])
        with open(converted[quantize] + ".json", "rb") as sidecar:
            assert json.load(sidecar) == recorded  # the sidecar is a copy of the settings inside
        alone = shutil.copy(converted[quantize], tmp_path / f"{quantize}.tflite")  # no sidecar
        predictor = inference.load_predictor(str(alone))
        assert (predictor.image_size, predictor.resize_mode) == (reference.image_size,
                                                                 reference.resize_mode)
        correlation = np.corrcoef(predictor.predict(image).ravel(), float_maps[0].ravel())[0, 1]
        assert correlation > (0.999 if quantize == "none" else 0.95), (quantize, correlation)


@pytest.mark.slow
def test_every_variant_uses_builtin_ops_and_runs_in_litert(converted, osie_examples):
    network_input = inference.load_predictor(converted["none"]).to_network_input(
        osie_examples[0][0])[None]
    for quantize, path in converted.items():
        tflite_bytes = pathlib.Path(path).read_bytes()
        names = [name for name, _ in operators(tflite_bytes)]
        assert "CUSTOM" not in names and not any(n.startswith("FLEX") for n in names), names
        # Only builtin kernels registered: a custom or Flex (TF) op would fail to allocate.
        interpreter = litert.Interpreter(
            model_content=tflite_bytes,
            experimental_op_resolver_type=litert.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
        interpreter.allocate_tensors()
        (input_detail,), (output_detail,) = (interpreter.get_input_details(),
                                             interpreter.get_output_details())
        assert input_detail["dtype"] == output_detail["dtype"] == np.float32, quantize
        interpreter.set_tensor(input_detail["index"], network_input)
        interpreter.invoke()
        saliency = interpreter.get_tensor(output_detail["index"])
        assert saliency.shape == (1, 32, 32, 1) and 0 <= saliency.min() <= saliency.max() <= 1


@pytest.mark.slow
def test_int8_is_integer_up_to_the_logits_and_the_sigmoid_is_float(converted):
    ops = operators(pathlib.Path(converted["int8"]).read_bytes())
    convolutions = [dtype for name, dtype in ops if name == "CONV_2D"]
    tables = generator_lib.ENCODER_TABLE + generator_lib.DECODER_TABLE
    # Every conv of the tables and the 1x1 logits (the converter may add one for the caffe
    # preprocessing's channel flip).
    assert len(convolutions) >= sum(row.kind == "conv" for row in tables) + 1, ops
    assert set(convolutions) == {"INT8"}, ops
    # ... -> saliency_logits (int8) -> DEQUANTIZE -> LOGISTIC in float32 = the output.
    assert ops[-2:] == [("DEQUANTIZE", "FLOAT32"), ("LOGISTIC", "FLOAT32")], ops


@pytest.mark.slow
def test_all_quantizations_load_in_litert_and_match_the_saved_model(converted, float_maps,
                                                                    osie_examples):
    evaluation = [image for image, _ in osie_examples[CALIBRATION_IMAGES:]]
    sizes = {}
    for quantize, path in converted.items():
        sizes[quantize] = pathlib.Path(path).stat().st_size
        predictor = inference.load_predictor(path)
        assert predictor.kind == "tflite" and predictor.image_size == (32, 32)
        assert isinstance(predictor.runtime, litert.Interpreter)
        assert json.loads(pathlib.Path(path + ".json").read_text())["quantize"] == quantize
        loaded = salgan_tf.load(path)  # the Python API takes the .tflite too
        for image, want in zip(evaluation, float_maps):
            got = predictor.predict(image)
            np.testing.assert_array_equal(loaded.predict(image), got)
            assert got.shape == image.shape[:2] and got.dtype == np.float32
            assert want.std() > 0.05
            cc = np.corrcoef(got.ravel(), want.ravel())[0, 1]
            assert cc >= MIN_CC[quantize], (quantize, cc)
    # Weights are really stored quantised (not left as variables).
    assert sizes["none"] > 120e6
    assert sizes["float16"] < 0.55 * sizes["none"]
    assert sizes["int8"] < 0.3 * sizes["none"] and sizes["dynamic"] < 0.3 * sizes["none"]


def _mean_kld(maps, osie_examples):
    gts = [gt for _, gt in osie_examples[CALIBRATION_IMAGES:]]
    return np.mean([metrics.kld(saliency, gt) for saliency, gt in zip(maps, gts)])


@pytest.mark.slow
def test_int8_keeps_the_kld_of_the_float_model(converted, float_maps, osie_examples):
    int8 = inference.load_predictor(converted["int8"])
    int8_maps = [int8.predict(image) for image, _ in osie_examples[CALIBRATION_IMAGES:]]
    float_kld = _mean_kld(float_maps, osie_examples)
    assert _mean_kld(int8_maps, osie_examples) <= MAX_INT8_KLD_RATIO * float_kld
    # The faint tail survives: where the float map is above 0, so is the int8 one.
    for want, got in zip(float_maps, int8_maps):
        assert np.all(got[want > 0] > 0)
    # The bound catches a sigmoid quantised as TFLite's int8 LOGISTIC outputs it (scale 1/256,
    # zero point -128): the same float maps on that grid exceed it.
    on_int8_grid = [np.clip(np.round(m * 256), 0, 255) / 256 for m in float_maps]
    assert np.mean([np.mean(m == 0) for m in on_int8_grid]) > 0.05
    assert _mean_kld(on_int8_grid, osie_examples) > MAX_INT8_KLD_RATIO * float_kld


def test_int8_needs_representative_images(saved_model):
    with pytest.raises(ValueError, match="representative"):
        tflite_lib.convert(saved_model, "int8")
    with pytest.raises(ValueError, match="quantize"):
        tflite_lib.convert(saved_model, "int4")


def test_write_is_atomic_and_checks_the_name(tmp_path):
    path = str(tmp_path / "m.tflite")
    tflite_lib.write(b"first", {"quantize": "none"}, path)
    with pytest.raises(ValueError, match=r"m\.onnx: the output file name must end in \.tflite"):
        tflite_lib.write(b"second", {}, str(tmp_path / "m.onnx"))
    with pytest.raises(TypeError):  # fails while writing: the previous pair stays whole
        tflite_lib.write(b"second", {"not JSON": object()}, path)
    assert pathlib.Path(path).read_bytes() == b"first"
    assert json.loads(pathlib.Path(path + ".json").read_text()) == {"quantize": "none"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.tflite", "m.tflite.json"]


def test_bad_tflite_file_is_named(tmp_path):
    path = tmp_path / "broken.tflite"
    path.write_bytes(b"not a flatbuffer")
    with pytest.raises(ValueError, match="broken.tflite: not a TFLite model LiteRT can run"):
        inference.load_predictor(str(path))


def test_package_runs_tflite_with_litert_and_public_tf_apis_only():
    package = pathlib.Path(inference.__file__).parent
    for source in package.rglob("*.py"):
        text = source.read_text()
        assert "tensorflow.python" not in text, source
        assert "tf.lite.Interpreter" not in text, source


def test_calibration_images_from_a_folder(util, tmp_path):
    for i in range(3):
        Image.fromarray(util.random_rgb(10 + i, 12, seed=i)).save(tmp_path / f"{i}.png")
    (tmp_path / "notes.txt").write_text("not an image")
    images = list(tflite_lib.calibration_images(image_paths=str(tmp_path), limit=2))
    assert [image.shape for image in images] == [(10, 12, 3), (11, 12, 3)]
    with pytest.raises(FileNotFoundError, match="no calibration images"):
        list(tflite_lib.calibration_images(image_paths=str(tmp_path / "*.jpg")))


def test_calibration_images_from_tfrecords(tmp_path):
    from salgan_tf.data import synthetic

    synthetic.write_synthetic_tfrecords(str(tmp_path), 3, 24, 40, seed=0)
    images = list(tflite_lib.calibration_images(tfrecords=str(tmp_path / "*.tfrecord"), limit=2))
    assert len(images) == 2
    assert all(image.shape == (24, 40, 3) and image.dtype == np.uint8 for image in images)
