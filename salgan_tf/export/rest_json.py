"""TF Serving's REST predict JSON, applied to a loaded SavedModel signature.

TF Serving itself cannot run here (no Docker), so this module does what its REST handler does
(tensorflow_serving/util/json_tensor.cc, documented at
https://www.tensorflow.org/tfx/serving/api_rest#predict_api), letting tests and a local demo
server send the exact request bodies clients send:

  row format       {"signature_name": "...", "instances": [<item>, ...]}
                   one named input: each item is that input's value for one example, e.g.
                   {"b64": "<base64 JPEG>"}, or an object {"images": {"b64": ...}}
                   -> {"predictions": [{"saliency": [...], "height": 480, ...}, ...]}
                   (one object per example; a single-output signature gives bare values)
  columnar format  {"inputs": {"images": [{"b64": ...}, ...]}}  or  {"inputs": [...]}
                   -> {"outputs": {"saliency": [...], "height": [...], ...}}
Binary (DT_STRING) values are written {"b64": "..."}; plain strings are taken as UTF-8 bytes.
Errors come back as (400, {"error": "..."}), as TF Serving answers an InvalidArgument.
"""
from __future__ import annotations

import base64
import binascii
import json

import numpy as np
import tensorflow as tf

DEFAULT_SIGNATURE = "serving_default"


class RequestError(ValueError):
    """The JSON body does not fit the signature (HTTP 400)."""


def _loads(body):
    """JSON text -> value; RequestError for malformed JSON of any shape (also too deep)."""
    try:
        return json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as error:
        raise RequestError(f"request body is not JSON ({type(error).__name__}: "
                           f"{str(error)[:200]})") from error


def _input_specs(signature):
    """{input name: TensorSpec} of a loaded signature (a keyword-only ConcreteFunction)."""
    _, kwargs = signature.structured_input_signature
    return dict(kwargs)


def _decode_value(value, dtype, where):
    """JSON value (nested lists) -> numpy array of `dtype`, decoding {"b64": ...} objects."""
    if dtype == tf.string:
        array = np.array(_decode_strings(value, where), dtype=object)
        if not all(isinstance(item, bytes) for item in array.reshape(-1)):
            raise RequestError(f"{where}: nested lists of different lengths (a tensor needs "
                               "every row the same shape)")
        return array
    try:
        return np.asarray(value, dtype=dtype.as_numpy_dtype)
    except (TypeError, ValueError) as error:
        raise RequestError(f"{where}: cannot convert to {dtype.name} ({error})") from error


def _decode_strings(value, where):
    if isinstance(value, list):
        return [_decode_strings(item, where) for item in value]
    if isinstance(value, dict):
        if set(value) != {"b64"} or not isinstance(value["b64"], str):
            raise RequestError(f"{where}: a binary value must be {{\"b64\": \"<base64>\"}}, got "
                               f"keys {sorted(value)}")
        try:
            return base64.b64decode(value["b64"], validate=True)
        except binascii.Error as error:
            raise RequestError(f"{where}: invalid base64 ({error})") from error
    if isinstance(value, str):
        return value.encode("utf-8")
    raise RequestError(f"{where}: expected a string or {{\"b64\": ...}}, got {type(value).__name__}")


def _encode_value(array):
    """Output tensor -> JSON-ready nested lists (binary strings as {"b64": ...})."""
    array = np.asarray(array)
    if array.dtype == object:
        return np.vectorize(lambda b: {"b64": base64.b64encode(b).decode("ascii")},
                            otypes=[object])(array).tolist()
    return array.tolist()


def parse_request(body, signature):
    """JSON body (str, bytes or dict) -> ({input name: numpy array}, "row" or "columnar")."""
    if isinstance(body, (str, bytes)):
        body = _loads(body)
    if not isinstance(body, dict):
        raise RequestError("request body must be a JSON object")
    specs = _input_specs(signature)
    has_instances, has_inputs = "instances" in body, "inputs" in body
    if has_instances == has_inputs:
        raise RequestError('request body must have exactly one of "instances" (row format) or '
                           '"inputs" (columnar format)')
    if has_instances:
        instances = body["instances"]
        if not isinstance(instances, list) or not instances:
            raise RequestError('"instances" must be a non-empty list')
        columns = {name: [] for name in specs}
        for i, instance in enumerate(instances):
            named = (isinstance(instance, dict) and set(instance) == set(specs)
                     and not (len(specs) == 1 and set(instance) == {"b64"}))
            if not named and len(specs) != 1:
                raise RequestError(f"instances[{i}]: the signature has inputs {sorted(specs)}, "
                                   "so each instance must be an object with those keys")
            for name in specs:
                columns[name].append(instance[name] if named else instance)
        return ({name: _decode_value(columns[name], specs[name].dtype, f"instances[].{name}")
                 for name in specs}, "row")
    inputs = body["inputs"]
    if not (isinstance(inputs, dict) and set(inputs) == set(specs)):
        if len(specs) != 1:
            raise RequestError(f'"inputs" must be an object with keys {sorted(specs)}')
        inputs = {next(iter(specs)): inputs}
    return ({name: _decode_value(inputs[name], specs[name].dtype, f"inputs.{name}")
             for name in specs}, "columnar")


def format_response(outputs, layout):
    """Signature outputs {name: tensor} -> TF Serving's response dict for `layout`."""
    arrays = {name: np.asarray(value) for name, value in outputs.items()}
    if layout == "columnar":
        if len(arrays) == 1:
            return {"outputs": _encode_value(next(iter(arrays.values())))}
        return {"outputs": {name: _encode_value(value) for name, value in arrays.items()}}
    batch_sizes = {value.shape[0] if value.ndim else None for value in arrays.values()}
    if len(batch_sizes) != 1 or None in batch_sizes:
        raise RequestError("row format needs every output to share its 0th (batch) dimension; "
                           "use the columnar \"inputs\" format")
    (batch,) = batch_sizes
    encoded = {name: _encode_value(value) for name, value in arrays.items()}
    if len(encoded) == 1:
        return {"predictions": next(iter(encoded.values()))}
    return {"predictions": [{name: encoded[name][i] for name in encoded} for i in range(batch)]}


def predict(loaded, body):
    """Runs a TF Serving REST predict body through a loaded SavedModel.

    Args:
      loaded: `tf.saved_model.load(...)` result.
      body: the request JSON (str/bytes) or its parsed dict; `signature_name` picks the
        signature (default "serving_default").

    Returns:
      `(http_status, response dict)`: 200 with "predictions"/"outputs", or 400 with "error".
    """
    try:
        parsed = _loads(body) if isinstance(body, (str, bytes)) else body
        if not isinstance(parsed, dict):
            raise RequestError("request body must be a JSON object")
        name = parsed.get("signature_name", DEFAULT_SIGNATURE)
        if name not in loaded.signatures:
            raise RequestError(f"unknown signature_name {name!r}; the model has "
                               f"{sorted(loaded.signatures)}")
        signature = loaded.signatures[name]
        inputs, layout = parse_request(parsed, signature)
        outputs = signature(**{k: tf.constant(v) for k, v in inputs.items()})
        return 200, format_response(outputs, layout)
    except RequestError as error:
        return 400, {"error": str(error)}
    except tf.errors.InvalidArgumentError as error:
        return 400, {"error": error.message}
