"""Fault tests (issue 29, class 7): a model file whose settings are missing or damaged is refused
at load with one line naming the file and the field, for LiteRT, ONNX and SavedModel alike.

The LiteRT and ONNX models here are tiny stand-ins with the SalGAN interface (`[1 or N, 32, 32,
3]` float32 in, `[., 32, 32, 1]` out; a channel mean and a sigmoid), so each damaged copy costs
milliseconds; tests/test_export_tflite.py shows, on its one conversion of every variant, that
the embedded settings leave float32 and int8 models loading and predicting as before. Damaged
ONNX and sidecar settings are written as plain JSON / metadata_props, as a user or another tool
would.
"""
import json

import numpy as np
import pytest
import tensorflow as tf
from ai_edge_litert import interpreter as litert

from salgan_tf import inference

SIZE = 32
FLOAT = "float32"


def _tensors(details):
    return [{"name": d["name"], "dtype": np.dtype(d["dtype"]).name,
             "shape": [int(s) for s in d["shape_signature"]]} for d in details]


def _tiny_tflite(inputs):
    """A converted LiteRT model with `inputs` [1, 32, 32, 3] float32 inputs."""
    specs = [tf.TensorSpec([1, SIZE, SIZE, 3], tf.float32, name=f"image{i}") for i in range(inputs)]

    @tf.function(input_signature=specs)
    def network(*images):
        return {"saliency": tf.sigmoid(tf.reduce_mean(tf.add_n(images) / 255.0, -1,
                                                      keepdims=True))}

    return tf.lite.TFLiteConverter.from_concrete_functions(
        [network.get_concrete_function()]).convert()


@pytest.fixture(scope="module")
def tflite_models():
    """`{inputs: (flatbuffer bytes, format-1 settings)}` of the one- and two-input models."""
    models = {}
    for count in (1, 2):
        flatbuffer = _tiny_tflite(count)
        interpreter = litert.Interpreter(model_content=flatbuffer)
        models[count] = flatbuffer, {
            "format_version": 1, "image_height": SIZE, "image_width": SIZE,
            "resize_mode": "letterbox", "postprocess": "paper", "quantize": "none",
            "inputs": _tensors(interpreter.get_input_details()[:1]),
            "outputs": _tensors(interpreter.get_output_details())}
    return models


def _write_tflite(tmp_path, flatbuffer, embedded=None, sidecar=None):
    """`model.tflite` with `embedded` settings inside (None: none) and a sidecar of `sidecar`
    bytes beside it (None: none)."""
    path = tmp_path / "model.tflite"
    if embedded is not None:
        from salgan_tf.export import model_settings

        flatbuffer = model_settings.embed_in_tflite(flatbuffer, embedded)
    path.write_bytes(flatbuffer)
    if sidecar is not None:
        (tmp_path / "model.tflite.json").write_bytes(sidecar)
    return str(path)


def _refused(path, file_name, *fragments):
    """`load_predictor(path)` raises a one-line ValueError that starts with `file_name` and
    holds every fragment."""
    with pytest.raises(ValueError) as raised:
        inference.load_predictor(path)
    message = str(raised.value)
    assert "\n" not in message and message.startswith(file_name), message
    for fragment in fragments:
        assert fragment in message, message


def _changed(settings, **fields):
    return {**settings, **fields}


# --------------------------------------------------------------------------- LiteRT


def test_a_tflite_without_settings_is_refused(tflite_models, tmp_path):
    # a011dc3 loaded it as "stretch" / "none" whatever the model was trained with.
    path = _write_tflite(tmp_path, tflite_models[1][0])
    _refused(path, path, "no salgan_tf settings", "model.tflite.json")


def test_the_settings_inside_the_tflite_are_used_without_a_sidecar(tflite_models, tmp_path):
    flatbuffer, settings = tflite_models[1]
    predictor = inference.load_predictor(_write_tflite(tmp_path, flatbuffer, embedded=settings))
    assert (predictor.image_size, predictor.resize_mode, predictor.postprocess) == (
        (SIZE, SIZE), "letterbox", "paper")
    assert predictor.predict(np.full((20, 50, 3), 128, np.uint8)).shape == (20, 50)


@pytest.mark.parametrize("fields, fragments", [
    ({"image_height": "32"}, ("field `image_height` must be a positive integer", "'32'")),
    ({"image_width": True}, ("field `image_width` must be a positive integer",)),
    ({"image_height": 64}, ("field `image_height`", "64x32", "[1, 32, 32, 3]")),
    ({"resize_mode": "zoom"}, ("field `resize_mode` must be one of", "'zoom'")),
    ({"postprocess": "Paper"}, ("field `postprocess` must be one of",)),
    ({"format_version": 2}, ("field `format_version` is 2",)),
    ({"colour": "rgb"}, ("unknown field `colour`",)),
    ({"inputs": [{"name": "image", "dtype": FLOAT, "shape": [1, 32, 32, 3]}]},
     ("field `inputs` records `image`",)),
    ({"outputs": "saliency"}, ("field `outputs` must be a list of tensors",)),
], ids=["height-string", "width-bool", "wrong-size", "resize-mode", "postprocess", "version",
        "unknown-field", "input-name", "outputs-type"])
def test_damaged_settings_inside_the_tflite_are_refused(tflite_models, tmp_path, fields,
                                                        fragments):
    flatbuffer, settings = tflite_models[1]
    path = _write_tflite(tmp_path, flatbuffer, embedded=_changed(settings, **fields))
    _refused(path, path, *fragments)


def test_a_missing_field_inside_the_tflite_is_refused(tflite_models, tmp_path):
    flatbuffer, settings = tflite_models[1]
    settings = {key: value for key, value in settings.items() if key != "postprocess"}
    path = _write_tflite(tmp_path, flatbuffer, embedded=settings)
    _refused(path, path, "field `postprocess` is missing")


def test_a_tflite_with_an_extra_input_is_refused(tflite_models, tmp_path):
    # a011dc3: "too many values to unpack (expected 1)", naming no file.
    flatbuffer, settings = tflite_models[2]
    path = _write_tflite(tmp_path, flatbuffer, sidecar=json.dumps(
        {"image_height": SIZE, "image_width": SIZE, "resize_mode": "stretch"}).encode())
    _refused(path, path + ".json", "field `inputs`", "2 inputs")


@pytest.mark.parametrize("sidecar, fragments", [
    (b'{"image_height": 32, "image_width": 32, "resize_mode": "stretch\xff"}', ("not UTF-8",)),
    (b'{"image_height": 32, "image_width": 32, "resize_mode": 5}',
     ("field `resize_mode` must be a string",)),
    (b'{"image_height": 32, "image_width": 32}', ("field `resize_mode` is missing",)),
    (b'{"image_height": 32, "image_width": 32, "resize_mode": "stretch", "image_width": 48}',
     ("field `image_width` given twice",)),
    (b'{"image_height": NaN, "image_width": 32, "resize_mode": "stretch"}',
     ("NaN is not a JSON number",)),
    (b'["stretch"]', ("must be a JSON object",)),
], ids=["non-utf8", "wrong-type", "missing-field", "repeated-field", "nan", "not-an-object"])
def test_a_damaged_sidecar_is_refused_naming_the_sidecar(tflite_models, tmp_path, sidecar,
                                                         fragments):
    # a011dc3 read these (exports before format 1) with a traceback, an error naming the
    # .tflite, or not at all.
    path = _write_tflite(tmp_path, tflite_models[1][0], sidecar=sidecar)
    _refused(path, path + ".json", *fragments)


def test_a_sidecar_that_disagrees_with_the_settings_inside_is_refused(tflite_models, tmp_path):
    flatbuffer, settings = tflite_models[1]
    edited = json.dumps(_changed(settings, resize_mode="stretch")).encode()
    path = _write_tflite(tmp_path, flatbuffer, embedded=settings, sidecar=edited)
    _refused(path, path + ".json", "field `resize_mode` differs from the settings inside")


def test_non_utf8_settings_inside_the_tflite_are_refused(tflite_models, tmp_path):
    from ai_edge_litert import schema_py_generated as schema

    flatbuffer, settings = tflite_models[1]
    marker = b"QQQQQQQQ"  # replaced by invalid UTF-8 of the same length in the flatbuffer
    damaged = _write_tflite(tmp_path, flatbuffer,
                            embedded=_changed(settings, source=marker.decode()))
    data = open(damaged, "rb").read()
    assert data.count(marker) == 1
    with open(damaged, "wb") as handle:
        handle.write(data.replace(marker, b"\xff" * len(marker)))
    assert schema.Model.GetRootAs(open(damaged, "rb").read(), 0).MetadataLength() >= 1
    _refused(damaged, damaged, "metadata `salgan_tf_settings`", "not UTF-8")


# --------------------------------------------------------------------------- ONNX


onnx = pytest.importorskip("onnx")
onnxruntime = pytest.importorskip("onnxruntime")


def _onnx_model(tmp_path, props, inputs=1, raw_replace=None):
    """A tiny ONNX model (channel mean + sigmoid) with `props` as its metadata_props."""
    helper = onnx.helper
    names = [f"image{i}" for i in range(inputs)]
    nodes = [helper.make_node("Sum", names, ["total"]) if inputs > 1 else
             helper.make_node("Identity", names, ["total"]),
             helper.make_node("ReduceMean", ["total"], ["mean"], axes=[3], keepdims=1),
             helper.make_node("Sigmoid", ["mean"], ["saliency"])]
    graph = helper.make_graph(
        nodes, "tiny",
        [helper.make_tensor_value_info(n, onnx.TensorProto.FLOAT, ["N", SIZE, SIZE, 3])
         for n in names],
        [helper.make_tensor_value_info("saliency", onnx.TensorProto.FLOAT, ["N", SIZE, SIZE, 1])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    helper.set_model_props(model, props)
    data = model.SerializeToString()
    if raw_replace:
        data = data.replace(*raw_replace)
    path = tmp_path / "tiny.onnx"
    path.write_bytes(data)
    return str(path)


ONNX_TENSORS = {"inputs": [{"name": "image0", "dtype": FLOAT, "shape": [None, SIZE, SIZE, 3]}],
                "outputs": [{"name": "saliency", "dtype": FLOAT,
                             "shape": [None, SIZE, SIZE, 1]}]}
ONNX_SETTINGS = {"format_version": 1, "image_height": SIZE, "image_width": SIZE,
                 "resize_mode": "letterbox", "postprocess": "none", **ONNX_TENSORS}
LEGACY_PROPS = {"image_height": "32", "image_width": "32", "resize_mode": "stretch"}


def test_onnx_settings_load(tmp_path):
    path = _onnx_model(tmp_path, {"salgan_tf_settings": json.dumps(ONNX_SETTINGS)})
    predictor = inference.load_predictor(path)
    assert (predictor.image_size, predictor.resize_mode) == ((SIZE, SIZE), "letterbox")
    assert predictor.predict(np.zeros((10, 12, 3), np.uint8)).shape == (10, 12)


@pytest.mark.parametrize("props, inputs, raw_replace, fragments", [
    # a011dc3: UnicodeDecodeError from onnxruntime, naming no file.
    ({**LEGACY_PROPS, "resize_mode": "QQQQQQQ"}, 1, (b"QQQQQQQ", b"stretc\xff"), ("not UTF-8",)),
    # a011dc3: int('abc') -> "invalid literal for int()", naming no file.
    ({**LEGACY_PROPS, "image_height": "abc"}, 1, None,
     ("field `image_height` must be a positive integer",)),
    # a011dc3: loaded; the first predict failed inside onnxruntime.
    ({**LEGACY_PROPS, "image_width": "48"}, 1, None, ("field `image_width`", "32x48")),
    # a011dc3: "too many values to unpack".
    (LEGACY_PROPS, 2, None, ("field `inputs`", "2 inputs")),
    ({"salgan_tf_settings": json.dumps({**ONNX_SETTINGS, "resize_mode": "crop"})}, 1, None,
     ("field `resize_mode` must be one of",)),
    ({"salgan_tf_settings": json.dumps({**ONNX_SETTINGS, "image_height": 32.0})}, 1, None,
     ("field `image_height` must be a positive integer",)),
    ({"salgan_tf_settings": "{"}, 1, None, ("not valid JSON",)),
    ({"salgan_tf_settings": json.dumps(ONNX_SETTINGS), "resize_mode": "stretch"}, 1, None,
     ("field `resize_mode` is set outside",)),
], ids=["non-utf8", "wrong-type", "wrong-size", "extra-input", "resize-mode", "float-size",
        "bad-json", "stray-field"])
def test_damaged_onnx_metadata_is_refused(tmp_path, props, inputs, raw_replace, fragments):
    path = _onnx_model(tmp_path, props, inputs, raw_replace)
    _refused(path, path, *fragments)


# --------------------------------------------------------------------------- SavedModel


class _TinySavedModel(tf.Module):
    """The loader's view of a salgan_tf SavedModel: `network` and the settings variables."""

    def __init__(self, image_height):
        super().__init__()
        self.image_height = tf.Variable(image_height, trainable=False)
        self.image_width = tf.Variable(SIZE, trainable=False)
        self.resize_mode = tf.Variable("stretch", trainable=False)
        self.postprocess = tf.Variable("none", trainable=False)
        self.network = tf.function(
            lambda images: tf.sigmoid(tf.reduce_mean(images / 255.0, -1, keepdims=True)),
            input_signature=[tf.TensorSpec([None, SIZE, SIZE, 3], tf.float32, name="images")])


def test_a_saved_model_whose_size_disagrees_with_its_network_is_refused(tmp_path):
    # a011dc3 loaded it; the first predict failed inside the network.
    good, damaged = str(tmp_path / "good" / "1"), str(tmp_path / "damaged" / "1")
    tf.saved_model.save(_TinySavedModel(SIZE), good)
    tf.saved_model.save(_TinySavedModel(64), damaged)
    assert inference.load_predictor(good).image_size == (SIZE, SIZE)
    _refused(damaged, damaged, "field `image_height`", "64x32", "[None, 32, 32, 3]")
