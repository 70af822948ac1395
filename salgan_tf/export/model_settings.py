"""The settings an exported model carries for its loader, and the one check they pass at load.

Fields (format 1):
  format_version              1
  image_height, image_width   the network input size, positive ints
  resize_mode                 "stretch" or "letterbox" (salgan_tf.preprocessing.RESIZE_MODES)
  postprocess                 "none" or "paper" (salgan_tf.postprocess.CHOICES)
  inputs, outputs             the network's one input and one output as the file holds them:
                              [{"name": str, "dtype": "float32", "shape": [1 or null, h, w, 3 / 1]}]
  source, quantize, calibration_images   what the export was made from (checked, not used)

Where they live:
  .tflite      UTF-8 JSON in the flatbuffer's own `metadata` list, entry `salgan_tf_settings`
               (schema field `Model.metadata`; LiteRT ignores entries it does not know), with a
               copy in `<file>.tflite.json` for apps that do not parse flatbuffers;
  .onnx        the same JSON in `metadata_props["salgan_tf_settings"]`;
  SavedModel   its scalar variables `image_height`, `image_width`, `resize_mode`, `postprocess`,
               `max_pixels`, `max_request_pixels` (salgan_tf.export.saved_model); no `inputs` /
               `outputs`: the `network` function's signature is the model's interface.

Exports from before format 1 (no `format_version`: a `.tflite` whose settings are only in the
sidecar, an `.onnx` with one `metadata_props` key per field, every SavedModel) are "format 0":
the same fields without `format_version`, `inputs`, `outputs`, and `postprocess` "none" when
absent (exports older than the option resize plainly).

`check` runs at every load, for every kind: each field's type and allowed values, no unknown or
missing field, one input and one output whose shapes match `image_height` x `image_width`, and
(format 1) `inputs` / `outputs` equal to the tensors the file really has. A problem raises
`SettingsError`, one line naming the file and the field, before any image is predicted.
"""
from __future__ import annotations

import dataclasses
import json
import mmap
import os

from salgan_tf import postprocess as postprocess_lib
from salgan_tf import preprocessing

FORMAT_VERSION = 1
# The TFLite metadata entry and the ONNX metadata_props key holding the JSON.
METADATA_NAME = "salgan_tf_settings"
# The TFLite copy beside the model: `model.tflite` -> `model.tflite.json`.
SIDECAR_SUFFIX = ".json"
QUANTIZATIONS = ("none", "float16", "dynamic", "int8")
DTYPES = ("float32", "int8", "uint8")  # inference._quantize handles the integer interfaces
_TENSOR_KEYS = ("dtype", "name", "shape")
_INT, _STR, _TENSORS = "an integer", "a string", "a list of tensors"
# name: (kind, allowed values or None); the order of the error messages.
_FIELDS = {
    "format_version": (_INT, None),
    "image_height": (_INT, None), "image_width": (_INT, None),
    "resize_mode": (_STR, preprocessing.RESIZE_MODES),
    "postprocess": (_STR, postprocess_lib.CHOICES),
    "inputs": (_TENSORS, None), "outputs": (_TENSORS, None),
    "source": (_STR, None), "quantize": (_STR, QUANTIZATIONS), "calibration_images": (_INT, None),
    "max_pixels": (_INT, None), "max_request_pixels": (_INT, None),
    # format 0 only: the descriptions and source name those exports wrote.
    "saved_model": (_STR, None), "input": (_STR, None), "output": (_STR, None),
}
_REQUIRED = {1: ("format_version", "image_height", "image_width", "resize_mode", "postprocess",
                 "inputs", "outputs"),
             0: ("image_height", "image_width", "resize_mode")}
_FORMAT_0_ONLY = ("saved_model", "input", "output")
_SAVED_MODEL_VARIABLES = ("image_height", "image_width", "resize_mode", "postprocess",
                          "max_pixels", "max_request_pixels")
_ONNX_TYPES = {"tensor(float)": "float32", "tensor(int8)": "int8", "tensor(uint8)": "uint8"}


class SettingsError(ValueError):
    """Settings a model file records that salgan_tf cannot use; one line naming file and field."""


@dataclasses.dataclass(frozen=True)
class ModelSettings:
    """What a loader applies: the network size and the pre/post-processing around it."""

    image_size: tuple[int, int]
    resize_mode: str
    postprocess: str


def tensor(name, dtype, shape):
    """One `inputs` / `outputs` entry; `shape` dims are ints, None for an open dimension."""
    return {"name": str(name), "dtype": str(dtype),
            "shape": [None if d is None or isinstance(d, str) or d < 0 else int(d) for d in shape]}


def record(image_size, resize_mode, postprocess, *, inputs, outputs, **provenance):
    """The format-1 settings of an export (a JSON-able dict)."""
    return {"format_version": FORMAT_VERSION, "image_height": int(image_size[0]),
            "image_width": int(image_size[1]), "resize_mode": resize_mode,
            "postprocess": postprocess, "inputs": list(inputs), "outputs": list(outputs),
            **provenance}


def to_json(settings):
    """The UTF-8 JSON every kind stores."""
    return json.dumps(settings, indent=2, sort_keys=True).encode("utf-8")


def parse_json(data, source):
    """UTF-8 JSON (bytes, or text already decoded) -> its value; SettingsError naming `source`
    for anything else (bad UTF-8, bad JSON, a repeated key, NaN / Infinity)."""
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        return json.loads(text, object_pairs_hook=_unique_keys, parse_constant=_no_constant)
    except UnicodeDecodeError as error:
        raise SettingsError(f"{source}: settings are not UTF-8 ({error})") from error
    except ValueError as error:
        raise SettingsError(f"{source}: settings are not valid JSON ({error})") from error


def _unique_keys(pairs):
    keys = [key for key, _ in pairs]
    repeated = sorted({key for key in keys if keys.count(key) > 1})
    if repeated:
        raise ValueError(f"field `{repeated[0]}` given twice")
    return dict(pairs)


def _no_constant(name):
    raise ValueError(f"{name} is not a JSON number")


def check(settings, source, *, inputs, outputs):
    """Checks the settings a model file records against the model itself.

    Args:
      settings: the decoded settings (module docstring).
      source: the file they came from, named in every error.
      inputs, outputs: the model's real tensors, `tensor(...)` dicts.

    Returns:
      `ModelSettings`.

    Raises:
      SettingsError: one line naming `source` and the field.
    """
    if not isinstance(settings, dict):
        raise SettingsError(f"{source}: settings must be a JSON object, got "
                            f"{type(settings).__name__}")
    version = settings.get("format_version", 0)
    _check_field(settings, "format_version", source)
    if version not in _REQUIRED:
        raise SettingsError(f"{source}: field `format_version` is {version}; this salgan_tf "
                            f"reads {sorted(_REQUIRED)} (update salgan_tf or re-export)")
    for name in sorted(settings):
        if name not in _FIELDS or (version > 0 and name in _FORMAT_0_ONLY):
            raise SettingsError(f"{source}: unknown field `{name}`")
    for name in _REQUIRED[version]:
        if name not in settings:
            raise SettingsError(f"{source}: field `{name}` is missing (was it written by "
                                "`python -m salgan_tf.export`?)")
    for name in _FIELDS:
        _check_field(settings, name, source)
    image_size = (settings["image_height"], settings["image_width"])
    for role, tensors, channels in (("input", inputs, 3), ("output", outputs, 1)):
        _check_model_tensors(tensors, role, channels, image_size, source)
        recorded = settings.get(role + "s")
        if recorded is not None and recorded != tensors:
            raise SettingsError(f"{source}: field `{role}s` records {_describe(recorded)}; the "
                                f"model's {role}s are {_describe(tensors)}")
    return ModelSettings(image_size=image_size, resize_mode=settings["resize_mode"],
                         postprocess=settings.get("postprocess", "none"))


def _check_field(settings, name, source):
    if name not in settings:
        return
    value = settings[name]
    kind, allowed = _FIELDS[name]
    if kind == _INT:
        good = type(value) is int and (value > 0 or name == "calibration_images" and value == 0)
        if not good:
            raise SettingsError(f"{source}: field `{name}` must be a positive integer, got "
                                f"{value!r}")
    elif kind == _STR:
        if not isinstance(value, str):
            raise SettingsError(f"{source}: field `{name}` must be a string, got {value!r}")
        if allowed is not None and value not in allowed:
            raise SettingsError(f"{source}: field `{name}` must be one of {allowed}, got "
                                f"{value!r}")
    else:
        problem = _tensor_list_problem(value)
        if problem:
            raise SettingsError(f"{source}: field `{name}` {problem}")


def _tensor_list_problem(value):
    if not isinstance(value, list):
        return f"must be a list of tensors, got {value!r}"
    for i, entry in enumerate(value):
        if not isinstance(entry, dict) or sorted(entry) != list(_TENSOR_KEYS):
            return f"[{i}] must be an object with exactly {list(_TENSOR_KEYS)}, got {entry!r}"
        if not isinstance(entry["name"], str):
            return f"[{i}].name must be a string, got {entry['name']!r}"
        if entry["dtype"] not in DTYPES:
            return f"[{i}].dtype must be one of {DTYPES}, got {entry['dtype']!r}"
        shape = entry["shape"]
        if not isinstance(shape, list) or not all(
                d is None or (type(d) is int and d > 0) for d in shape):
            return f"[{i}].shape must be a list of positive integers or null, got {shape!r}"
    return None


def _check_model_tensors(tensors, role, channels, image_size, source):
    """One tensor of shape [1 or open, h, w, channels] at `image_size`, a known dtype."""
    if len(tensors) != 1:
        raise SettingsError(f"{source}: field `{role}s`: the model has {len(tensors)} {role}s "
                            f"({_describe(tensors)}); a SalGAN network has one")
    (found,) = tensors
    want = [image_size[0], image_size[1], channels]
    shape = found["shape"]
    field = None
    if len(shape) != 4 or shape[0] not in (1, None) or shape[3] != channels:
        field = f"{role}s"
    elif shape[1] != want[0]:
        field = "image_height"
    elif shape[2] != want[1]:
        field = "image_width"
    if field:
        raise SettingsError(f"{source}: field `{field}`: the settings say {image_size[0]}x"
                            f"{image_size[1]} but the model's {role} is {_describe(tensors)} "
                            f"(want [N, {want[0]}, {want[1]}, {channels}])")
    if found["dtype"] not in DTYPES:
        raise SettingsError(f"{source}: field `{role}s`: the model's {role} is "
                            f"{_describe(tensors)}; salgan_tf runs {DTYPES}")


def _describe(tensors):
    return ", ".join(f"`{t.get('name')}` {t.get('dtype')} {t.get('shape')}"
                     if isinstance(t, dict) else repr(t) for t in tensors) or "none"


# --------------------------------------------------------------------------- LiteRT (.tflite)


def embed_in_tflite(tflite_bytes, settings):
    """The flatbuffer with `settings` as its `metadata` entry `METADATA_NAME` (replacing any)."""
    import flatbuffers
    import numpy as np
    from ai_edge_litert import schema_py_generated as schema

    model = schema.ModelT.InitFromPackedBuf(bytearray(tflite_bytes), 0)
    model.metadata = [entry for entry in (model.metadata or [])
                      if entry.name not in (METADATA_NAME, METADATA_NAME.encode())]
    buffer = schema.BufferT()
    buffer.data = np.frombuffer(to_json(settings), np.uint8)
    model.buffers.append(buffer)
    entry = schema.MetadataT()
    entry.name = METADATA_NAME
    entry.buffer = len(model.buffers) - 1
    model.metadata.append(entry)
    builder = flatbuffers.Builder(len(tflite_bytes) + 4096)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def tflite_tensors(details):
    """LiteRT's `get_input_details()` / `get_output_details()` as `tensor(...)` dicts."""
    import numpy as np

    return [tensor(d["name"], np.dtype(d["dtype"]).name, d["shape_signature"]) for d in details]


def read_tflite(path):
    """`(settings, the file holding them)` of a `.tflite`: the embedded entry, else (format 0)
    the sidecar; a sidecar beside an embedded entry must hold the same settings."""
    embedded = _embedded_tflite_settings(path)
    sidecar = path + SIDECAR_SUFFIX
    if embedded is None:
        if not os.path.isfile(sidecar):
            raise SettingsError(f"{path}: no salgan_tf settings: none inside the file (metadata "
                                f"`{METADATA_NAME}`) and no sidecar {os.path.basename(sidecar)}; "
                                "re-export it with `python -m salgan_tf.export.tflite`")
        return _read_sidecar(sidecar), sidecar
    settings = parse_json(embedded, f"{path} (metadata `{METADATA_NAME}`)")
    if os.path.isfile(sidecar):
        copy = _read_sidecar(sidecar)
        if copy != settings:
            both = isinstance(copy, dict) and isinstance(settings, dict)
            field = min(key for key in set(copy) | set(settings)
                        if copy.get(key) != settings.get(key)) if both else "(the whole file)"
            raise SettingsError(f"{sidecar}: field `{field}` differs from the settings inside "
                                f"{os.path.basename(path)}; delete the sidecar or re-export")
    return settings, path


def _read_sidecar(sidecar):
    with open(sidecar, "rb") as handle:
        return parse_json(handle.read(), sidecar)


def _embedded_tflite_settings(path):
    """The bytes of the `METADATA_NAME` metadata entry, or None (file memory-mapped, not read)."""
    from ai_edge_litert import schema_py_generated as schema

    with open(path, "rb") as handle, mmap.mmap(handle.fileno(), 0,
                                               access=mmap.ACCESS_READ) as data:
        model = schema.Model.GetRootAs(data, 0)
        found = [model.Metadata(i) for i in range(model.MetadataLength())
                 if model.Metadata(i).Name() == METADATA_NAME.encode()]
        if not found:
            return None
        if len(found) > 1:
            raise SettingsError(f"{path}: metadata `{METADATA_NAME}` given {len(found)} times")
        index = found[0].Buffer()
        if index >= model.BuffersLength():
            raise SettingsError(f"{path}: metadata `{METADATA_NAME}` points at buffer {index} "
                                f"of {model.BuffersLength()}")
        buffer = model.Buffers(index)
        # bytes(...) copies out of the map so it can close.
        return bytes(buffer.DataAsNumpy()) if buffer.DataLength() else b""


# --------------------------------------------------------------------------- ONNX, SavedModel


def read_onnx(session, path):
    """The settings of an onnxruntime session's model: the JSON key, else (format 0) one
    `metadata_props` key per field, integers as decimal strings."""
    try:
        props = dict(session.get_modelmeta().custom_metadata_map)
    except UnicodeDecodeError as error:
        raise SettingsError(f"{path}: metadata_props are not UTF-8 ({error})") from error
    if METADATA_NAME in props:
        stray = sorted(set(props) & set(_FIELDS))
        if stray:  # an edited per-field key would otherwise be ignored
            raise SettingsError(f"{path}: field `{stray[0]}` is set outside "
                                f"metadata_props[{METADATA_NAME!r}]")
        return parse_json(props[METADATA_NAME], f"{path} (metadata_props[{METADATA_NAME!r}])")
    for name in ("image_height", "image_width"):
        if props.get(name, "").isascii() and props.get(name, "").isdecimal():
            props[name] = int(props[name])
    return props


def onnx_tensors(arguments):
    """onnxruntime's `get_inputs()` / `get_outputs()` as `tensor(...)` dicts."""
    return [tensor(a.name, _ONNX_TYPES.get(a.type, a.type), a.shape) for a in arguments]


def read_saved_model(loaded, version_dir):
    """`(settings, inputs, outputs)` of a loaded salgan_tf SavedModel: its variables and its
    `network` function's signature."""
    settings = {}
    for name in _SAVED_MODEL_VARIABLES:
        if hasattr(loaded, name):
            settings[name] = _python_value(getattr(loaded, name), name, version_dir)
    function = loaded.network.get_concrete_function()
    (spec,), _ = function.structured_input_signature
    output = function.structured_outputs
    inputs = [tensor(spec.name, spec.dtype.name, spec.shape.as_list())]
    outputs = [tensor(getattr(output, "name", "output"), output.dtype.name,
                      output.shape.as_list())]
    return settings, inputs, outputs


def _python_value(variable, name, source):
    """A scalar variable's value as a Python int / str (anything else left for `check`)."""
    import numpy as np

    value = variable.numpy() if hasattr(variable, "numpy") else variable
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError as error:
            raise SettingsError(f"{source}: field `{name}` is not UTF-8 ({error})") from error
    return value.tolist() if isinstance(value, np.ndarray) else value
