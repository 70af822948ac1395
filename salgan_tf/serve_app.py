"""The local demo server's app: TF Serving's REST API shape plus a drop-an-image page.

For development and demos only; serve production traffic with TF Serving and the SavedModel from
`python -m salgan_tf.export.saved_model` (export/README.md). Routes (`<name>` is `ServeConfig.model_name`):

  GET  /                                      the page (templates/serve.html + static/app.js,
                                              style.css: no CDN, works offline)
  GET  /v1/models/<name>[/versions/<v>]       TF Serving model status
  GET  /v1/models/<name>[/versions/<v>]/metadata  TF Serving metadata (the signature)
  POST /v1/models/<name>[/versions/<v>]:predict
                                              TF Serving REST predict, as salgan_tf.export.saved_model's
                                              `serving_default`: {"instances": [{"b64": JPEG/PNG}]}
                                              -> {"predictions": [{"saliency": [H][W][1],
                                                  "height": H, "width": W, "saliency_small": ...}]}
                                              (columnar {"inputs": ...} -> {"outputs": ...})
  POST /api/saliency.png?filename=NAME        the page's call: raw image bytes -> the map at the
                                              image's size as an 8-bit grayscale PNG; header
                                              `X-Crop-Boxes`: JSON {aspect: {top, left, height,
                                              width}}, the most salient box of each of
                                              `CROP_ASPECTS` (salgan_tf.crop.best_box on the
                                              float map), which the page draws

Validation (every failure is a 4xx JSON `{"error": "..."}` naming the file, request item or limit,
and the server keeps serving): a Host that is not loopback (nor `allowed_hosts`), a foreign
Origin or a POST body of another content type than its route's gets 400/403/415 before any route
(`request_refusal`: another site's page cannot use the server); a predict body with more commas
than its images could need is refused as it streams, before parsing (`read_body`); bodies over `max_request_bytes` get 413 before they are read in
full; a request not received in full within `request_timeout` seconds gets 408 and is closed, and
a malformed request line or header (e.g. `Content-Length: 12abc`) gets 400 (`server_config`);
malformed JSON of any shape (also 100,000-deep nesting, non-ASCII base64) gets 400; empty bytes,
non-images and formats other than JPEG/PNG get 400; an image over `max_pixels`, or a request over
the budget of `salgan_tf.request_budget` (each image counting at least the network input, and
the padded `saliency` output) gets 400 from the headers alone, before any pixel is decoded (the
SavedModel's own rule).
Memory: at most `max_concurrent_requests` predict/page requests are in flight (body, decoding,
prediction, reply); one more gets 503 with Retry-After at once. The JSON reply is streamed in
pieces, never built whole. So the peak is about `max_concurrent_requests` requests' budget
(docs/serve.md, "Memory").
Images are decoded by `salgan_tf.data.images.decode_image` (as predict and the converter: TF's
JPEG/PNG decoder, EXIF orientation applied) and maps encoded by `images.encode_map_png`. Decoding
and prediction run in a worker thread (the event loop keeps answering), one prediction at a time
(a TFLite interpreter is not thread-safe), `batch_size` images per network call.

The app takes any predictor with `salgan_tf.inference.Predictor`'s interface (dependency
injection: tests pass a `Predictor` around a fake network).
"""
from __future__ import annotations

import base64
import dataclasses
import ipaddress
import logging
import os
import sys
import threading

import h11
import numpy as np
import orjson
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect
from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from salgan_tf import crop
from salgan_tf import pages
from salgan_tf import request_budget
from salgan_tf.data import images
from salgan_tf.export import saved_model as saved_model_lib

STATIC_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")
DEFAULT_MAX_REQUEST_BYTES = 32 * 2**20
# A request (headers and body) must arrive in full within this many seconds: a 32 MB body needs
# ~11 Mbit/s; a client that stops half-way holds no connection longer.
DEFAULT_REQUEST_TIMEOUT = 30.0
# Predict / page requests decoded, predicted or answered at once; more get 503 at once. Peak
# memory is about this many times one request's (docs/serve.md, "Memory"): predictions run one
# at a time anyway, so a second slot only lets one request decode while another predicts.
DEFAULT_MAX_CONCURRENT_REQUESTS = 2
# The JSON reply is sent in pieces of about this many bytes, never built whole.
RESPONSE_PIECE_BYTES = 2**20
# Same formats as the SavedModel's serving_default, so a client that works here works on TF
# Serving too.
ACCEPTED_FORMATS = images.SERVING_FORMATS
# The SavedModel signature this server answers as, and its one input (string [N]).
SIGNATURE_NAME = saved_model_lib.SERVING_SIGNATURE
INPUT_NAME = "images"
# The crop aspects (W:H) the page offers; their boxes come with every map.
CROP_ASPECTS = ("1:1", "4:3", "3:4", "16:9", "9:16")
# `Host` names always served (with any port); others only when in `ServeConfig.allowed_hosts`.
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")
# POST bodies by route: the predict routes take JSON, the page route the raw image. Both are
# content types a browser sends cross-site only after a CORS preflight, which this server never
# grants (text/plain, form and multipart bodies, or none, are refused).
JSON_CONTENT_TYPES = ("application/json",)
PAGE_CONTENT_TYPES = ("application/octet-stream", "image/jpeg", "image/png")
PAGE_ROUTE = "/api/saliency.png"
# JSON commas a predict body may hold beyond two per admitted image (`max_instances`): the
# request object's own keys.
EXTRA_JSON_COMMAS = 64


@dataclasses.dataclass(frozen=True)
class ServeConfig:
    """What the server exposes and what it refuses.

    Attributes:
      model_name: the `<name>` in `/v1/models/<name>:predict` (TF Serving's `--model_name`).
      model_version: the version reported by the status route and accepted in `/versions/<v>`.
      max_request_bytes: larger request bodies get 413 (JSON base64 adds a third to the image).
      max_pixels: largest accepted image (H*W), checked from the header before decoding.
      max_request_pixels: largest total H*W of one request's images, and of its padded
        `saliency` output N x H_max x W_max (as the SavedModel's `max_request_pixels`).
      request_timeout: seconds a request may take to arrive in full (`server_config`).
      max_concurrent_requests: predict and page requests in flight (body, decoding, prediction,
        reply); one more gets 503 with Retry-After instead of waiting in an unbounded queue.
      allowed_hosts: `Host` names served besides `LOOPBACK_HOSTS` (e.g. a name that resolves
        to 127.0.0.1 here); any other Host gets 400, so a DNS-rebound page cannot use the server.
    """

    model_name: str = "salgan"
    model_version: int = 1
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES
    max_pixels: int = images.DEFAULT_MAX_PIXELS
    max_request_pixels: int = images.DEFAULT_MAX_REQUEST_PIXELS
    request_timeout: float = DEFAULT_REQUEST_TIMEOUT
    max_concurrent_requests: int = DEFAULT_MAX_CONCURRENT_REQUESTS
    allowed_hosts: tuple = ()

    def validate(self):
        """Raises ValueError naming the first bad field."""
        if not self.model_name or "/" in self.model_name or ":" in self.model_name:
            raise ValueError(f"model_name must be a non-empty name without '/' or ':', got "
                             f"{self.model_name!r}")
        for host in self.allowed_hosts:
            if not host or any(c.isspace() or c in "/[]@" for c in host) or (
                    ":" in host and not _is_ip(host)):
                raise ValueError(f"allowed_hosts: {host!r} is not a host name (give names "
                                 "without a port or scheme, e.g. myhost.local)")
        for name in ("model_version", "max_request_bytes", "max_pixels", "max_request_pixels",
                     "request_timeout", "max_concurrent_requests"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        return self


def check_loopback(host):
    """Returns `host` if it is a loopback address, else raises ValueError saying why not."""
    if host == "localhost":
        return host
    try:
        if ipaddress.ip_address(host).is_loopback:
            return host
    except ValueError:
        pass
    raise ValueError(f"--host={host}: this demo server only listens on loopback addresses "
                     "(127.0.0.1, ::1, localhost); use TF Serving to serve other machines")


def _is_ip(text):
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def host_name(host_header):
    """The lower-case name of a `Host` header value, without its port and IPv6 brackets."""
    host = host_header.strip().lower()
    if host.startswith("["):
        return host[1:host.find("]")] if "]" in host else host
    return host.rpartition(":")[0] if host.count(":") == 1 else host


def request_refusal(method, path, headers, allowed_hosts):
    """`(status, message)` for a request a web page other than this server's own could have
    sent, else None: a `Host` that is neither loopback nor allowed (DNS rebinding), an `Origin`
    other than the server's own, a POST body that is not of its route's content type."""
    host = headers.get("host", "")
    name = host_name(host)
    if not (name in LOOPBACK_HOSTS or name in allowed_hosts
            or (_is_ip(name) and ipaddress.ip_address(name).is_loopback)):
        return 400, (f"Host header {host!r} is not a loopback name ({', '.join(LOOPBACK_HOSTS)}) "
                     "nor one of --allowed_hosts; this local server refuses it (DNS rebinding)")
    origin = headers.get("origin")
    if origin is not None and origin.lower() != f"http://{host.strip().lower()}":
        return 403, (f"Origin {origin!r} is not this server's own (http://{host}); requests "
                     "from other sites are refused")
    if method == "POST":
        kinds = PAGE_CONTENT_TYPES if path == PAGE_ROUTE else JSON_CONTENT_TYPES
        kind = headers.get("content-type", "").partition(";")[0].strip().lower()
        if kind not in kinds:
            return 415, (f"POST {path}: Content-Type {kind or '(none)'!r} is not accepted; send "
                         f"{' or '.join(kinds)}")
    return None


def same_origin_only(app, allowed_hosts):
    """ASGI middleware: `request_refusal`'s requests get their 4xx JSON answer, unread."""
    from starlette.datastructures import Headers  # noqa: PLC0415 (with the app only)

    allowed = tuple(host.lower() for host in allowed_hosts)

    async def guarded(scope, receive, send):
        if scope["type"] == "http":
            refused = request_refusal(scope["method"], scope["path"], Headers(scope=scope),
                                      allowed)
            if refused is not None:
                await _error(*refused)(scope, receive, send)
                return
        await app(scope, receive, send)

    return guarded


def version_of(model_path):
    """The TF Serving version of a model path: its directory name if numeric (`salgan/3` -> 3),
    else 1 (a training run, a .tflite file)."""
    name = os.path.basename(os.path.normpath(str(model_path)))
    return int(name) if name.isdigit() and int(name) > 0 else 1


class ClientError(Exception):
    """A request the server refuses: HTTP `status` (4xx) and a message naming the problem."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status = status
        self.message = message


# --------------------------------------------------------------------------- images


def decode_request_image(data, *, name, config):
    """Request bytes -> uint8 `[H, W, 3]` (`images.decode_image`), or ClientError 400."""
    try:
        return images.decode_image(data, name=name, max_pixels=config.max_pixels,
                                   formats=ACCEPTED_FORMATS)
    except images.BadInputError as error:
        raise ClientError(400, str(error)) from error


def check_request_pixels(items, config, network_size):
    """Refuses (400) a request over `config.max_request_pixels`, from the headers alone.

    `items` are `(name, bytes)`; each header is also checked as `images.decode_image` would (format,
    `max_pixels`). The budget is the SavedModel's (`salgan_tf.request_budget`): each image
    counts at least the `network_size` pixels, and the padded `saliency` output N x H_max x W_max
    must fit too.
    """
    sizes = []
    for name, data in items:
        try:
            sizes.append(images.image_size(data, name=name, max_pixels=config.max_pixels,
                                           formats=ACCEPTED_FORMATS))
        except images.BadInputError as error:
            raise ClientError(400, str(error)) from error
    within, message = request_budget.check(sizes, network_size, config.max_request_pixels)
    if not within:
        raise ClientError(400, message.numpy().decode())


# --------------------------------------------------------------------------- model


class SaliencyService:
    """The predictor behind a lock, producing the SavedModel signature's outputs."""

    def __init__(self, predictor):
        self.predictor = predictor
        self._lock = threading.Lock()

    def maps(self, rgbs):
        """uint8 `[H_i, W_i, 3]` images -> (`[N, h, w]` network-size maps, list of `[H_i, W_i]`).

        `predictor.batch_size` images at a time, as the SavedModel's chunks: the float network
        inputs of the whole request never exist at once.
        """
        chunk_size = self.predictor.batch_size
        small, full = [], []
        with self._lock:
            for start in range(0, len(rgbs), chunk_size):
                chunk = rgbs[start:start + chunk_size]
                maps = self.predictor.predict_small(
                    np.stack([self.predictor.to_network_input(rgb) for rgb in chunk]))
                small.extend(np.asarray(maps, np.float32))
                full.extend(self.predictor.to_original_size(m, rgb.shape[:2])
                            for m, rgb in zip(maps, chunk))
        return np.stack(small), full

    def serving_outputs(self, rgbs):
        """The outputs of salgan_tf.export.saved_model's `serving_default` for decoded images.

        `saliency` holds each map at its image's size, top-left aligned and zero padded to the
        largest height and width of the request (dense, as TF Serving returns it); crop
        `saliency[i, :height[i], :width[i], 0]`.
        """
        small, full = self.maps(rgbs)
        heights = np.array([m.shape[0] for m in full], np.int32)
        widths = np.array([m.shape[1] for m in full], np.int32)
        saliency = np.zeros((len(full), heights.max(), widths.max(), 1), np.float32)
        for i, m in enumerate(full):
            saliency[i, :m.shape[0], :m.shape[1], 0] = m
        return {"saliency": saliency, "height": heights, "width": widths,
                "saliency_small": np.ascontiguousarray(small[..., None])}


# --------------------------------------------------------------------------- requests


async def read_body(request, max_bytes, max_commas=None, too_many=""):
    """The request body, or ClientError(413) as soon as it is known to exceed `max_bytes`.

    With `max_commas`, a body holding more "," bytes (JSON items) gets ClientError(400,
    `too_many`) once it has arrived, without keeping it: a JSON body of N values needs N - 1
    commas, so its parsed size is bounded before it is parsed.
    """
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise ClientError(400, f"invalid Content-Length header {declared!r}")
        if int(declared) > max_bytes:
            raise ClientError(413, f"request body of {int(declared)} bytes is larger than the "
                                   f"limit of {max_bytes} bytes (--max_request_mb)")
    chunks, size, commas = [], 0, 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > max_bytes:
                raise ClientError(413, f"request body is larger than the limit of {max_bytes} "
                                       "bytes (--max_request_mb)")
            if max_commas is not None and chunks is not None:
                commas += chunk.count(b",")
                if commas > max_commas:
                    chunks = None  # refused: the rest is read and dropped
            if chunks is not None:
                chunks.append(chunk)
    except ClientDisconnect as error:  # e.g. closed by the request timeout: nobody to answer
        raise ClientError(400, "the client disconnected before sending the whole body") from error
    if chunks is None:
        raise ClientError(400, too_many)
    return b"".join(chunks)


def max_instances(config, network_size):
    """Most images a predict request can hold within `config.max_request_pixels`, each counting
    at least the network input (`salgan_tf.request_budget`)."""
    return max(1, config.max_request_pixels // (network_size[0] * network_size[1]))


def _too_many_items(config, network_size):
    """`(max_commas, refusal)` of a predict body (`read_body`)."""
    count = max_instances(config, network_size)
    return 2 * count + EXTRA_JSON_COMMAS, (
        f"request body holds more than {2 * count + EXTRA_JSON_COMMAS} JSON items (commas): "
        f"more than the {count} images the request budget admits (each counts at least the "
        f"network input of {network_size[0]} x {network_size[1]} pixels; max_request_pixels); "
        "refused before parsing")


def parse_json(body):
    """Request body bytes -> the parsed JSON value, or ClientError 400 for malformed JSON of any
    shape (orjson refuses nesting deeper than 1024 levels instead of overflowing the stack)."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise ClientError(400, f"request body is not JSON ({error})") from error


def _error(status, message):
    return JSONResponse({"error": message}, status_code=status)


def _model_status(config):
    return {"model_version_status": [{
        "version": str(config.model_version), "state": "AVAILABLE",
        "status": {"error_code": "OK", "error_message": ""}}]}


def _tensor_info(dtype, shape):
    """TF Serving's JSON of a TensorInfo (dtype, shape; -1 for a dimension of any size)."""
    return {"dtype": dtype, "tensor_shape": {
        "dim": [{"size": str(size), "name": ""} for size in shape], "unknown_rank": False}}


def model_metadata(config, network_size):
    """TF Serving's `GET /v1/models/<name>/metadata` answer: the `serving_default` signature
    (salgan_tf.export.saved_model's), the one this server answers."""
    height, width = network_size
    signature = {
        "inputs": {INPUT_NAME: _tensor_info("DT_STRING", [-1])},
        "outputs": {"saliency": _tensor_info("DT_FLOAT", [-1, -1, -1, 1]),
                    "height": _tensor_info("DT_INT32", [-1]),
                    "width": _tensor_info("DT_INT32", [-1]),
                    "saliency_small": _tensor_info("DT_FLOAT", [-1, height, width, 1])},
        "method_name": "tensorflow/serving/predict"}
    return {"model_spec": {"name": config.model_name, "signature_name": "",
                           "version": str(config.model_version)},
            "metadata": {"signature_def": {"signature_def": {SIGNATURE_NAME: signature}}}}


def _json_kind(value):
    """What a parsed JSON value is, for error messages (never the value: it may be huge)."""
    if isinstance(value, dict):
        if set(value) == {"b64"}:
            return f'{{"b64": {_json_kind(value["b64"])}}}'
        return f"an object with keys {sorted(value)[:5]}"
    return {list: "a list", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number")


def _image_bytes(value, where):
    """One request image {"b64": "<base64 JPEG/PNG>"} -> its bytes, or ClientError 400."""
    if not (isinstance(value, dict) and set(value) == {"b64"} and isinstance(value["b64"], str)):
        raise ClientError(400, f'{where}: an image must be {{"b64": "<base64 JPEG or PNG>"}}, '
                               f"got {_json_kind(value)}")
    try:
        return base64.b64decode(value["b64"], validate=True)
    except ValueError as error:  # binascii.Error, or a non-ASCII character in the string
        raise ClientError(400, f"{where}: invalid base64 ({error})") from error


def parse_predict_request(body):
    """TF Serving REST predict body -> ("row" | "columnar", [(item name, image bytes), ...]).

    TF Serving's rules (https://www.tensorflow.org/tfx/serving/api_rest#predict_api) for the
    SavedModel's `serving_default`, whose one input is `images` (string [N]): row format
    `{"instances": [<image>, ...]}`, each <image> `{"b64": ...}` or named
    `{"images": {"b64": ...}}`; columnar `{"inputs": {"images": [<image>, ...]}}` or
    `{"inputs": [<image>, ...]}`. `signature_name`, if given, must be "serving_default".
    Anything else is a ClientError 400 naming the item.
    """
    parsed = parse_json(body)
    if not isinstance(parsed, dict):
        raise ClientError(400, "request body must be a JSON object")
    signature_name = parsed.get("signature_name", SIGNATURE_NAME)
    if signature_name != SIGNATURE_NAME:
        raise ClientError(400, f"unknown signature_name {signature_name!r}; this server has "
                               f"[{SIGNATURE_NAME!r}]")
    if ("instances" in parsed) == ("inputs" in parsed):
        raise ClientError(400, 'request body must have exactly one of "instances" (row format) '
                               'or "inputs" (columnar format)')
    if "instances" in parsed:
        layout, where, values = "row", "instances", parsed["instances"]
        if isinstance(values, list):  # named instances: {"images": <image>}
            values = [value[INPUT_NAME] if isinstance(value, dict) and set(value) == {INPUT_NAME}
                      else value for value in values]
    else:
        layout, where, values = "columnar", "inputs", parsed["inputs"]
        if isinstance(values, dict) and set(values) == {INPUT_NAME}:
            where, values = f"inputs.{INPUT_NAME}", values[INPUT_NAME]
    if not isinstance(values, list):
        raise ClientError(400, f"{where} must be a list of images (string [N])")
    if not values:  # the SavedModel's words
        raise ClientError(400, f"empty batch: {where} holds no image; send at least one")
    return layout, [(f"{where}[{i}]", _image_bytes(value, f"{where}[{i}]"))
                    for i, value in enumerate(values)]


def _predict_outputs(service, config, body):
    """TF Serving REST predict body (bytes) -> (layout, the signature's outputs); runs in a
    worker thread."""
    layout, items = parse_predict_request(body)
    del body  # the items hold the decoded base64; the JSON text is no longer needed
    check_request_pixels(items, config, service.predictor.image_size)
    rgbs = [decode_request_image(data, name=name, config=config) for name, data in items]
    del items
    return layout, service.serving_outputs(rgbs)


def _array_json(array):
    """JSON text of a numpy array in pieces, each at most one row of its last two axes.

    orjson writes numpy arrays directly (~40x faster than `tolist()` + `json`, float32 values in
    their shortest exact form), but a whole `[H, W, 1]` map at once took ~10x the text's size
    (2.9 GB for a 5000x5000 map's 313 MB); one row at a time costs a few hundred kB.
    """
    if array.ndim == 0:  # a row-format scalar (height, width)
        yield orjson.dumps(array.item())
    elif array.ndim <= 2:
        yield orjson.dumps(array, option=orjson.OPT_SERIALIZE_NUMPY)
        return
    else:
        yield b"["
        for index, part in enumerate(array):
            if index:
                yield b","
            yield from _array_json(part)
        yield b"]"


def _object_json(values):
    """JSON text of `{name: numpy array}` in pieces."""
    for index, (name, value) in enumerate(values.items()):
        yield (b"{" if index == 0 else b",") + orjson.dumps(name) + b":"
        yield from _array_json(np.asarray(value))
    yield b"}"


def serving_response_pieces(outputs, layout):
    """Signature outputs {name: numpy [N, ...]} -> TF Serving's response body, JSON bytes in
    pieces of about `RESPONSE_PIECE_BYTES` (the reply is streamed, never held whole).

    Same layout as TF Serving: row format `{"predictions": [{name: value of example i}, ...]}`,
    columnar `{"outputs": {name: value}}`.
    """
    def pieces():
        if layout == "columnar":
            yield b'{"outputs":'
            yield from _object_json(outputs)
            yield b"}"
            return
        yield b'{"predictions":['
        for i in range(len(next(iter(outputs.values())))):
            yield b"," if i else b""
            yield from _object_json({name: value[i] for name, value in outputs.items()})
        yield b"]}"

    buffered, size = [], 0
    for piece in pieces():
        buffered.append(piece)
        size += len(piece)
        if size >= RESPONSE_PIECE_BYTES:
            yield b"".join(buffered)
            buffered, size = [], 0
    yield b"".join(buffered)


class _SlotResponse(StreamingResponse):
    """A streamed response that frees its request slot once sent (or the client is gone)."""

    def __init__(self, pieces, release, **kwargs):
        super().__init__(pieces, **kwargs)
        self._release = release

    async def __call__(self, scope, receive, send):
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._release()


class _RequestSlots:
    """`config.max_concurrent_requests` slots for requests in flight; none free: 503 at once."""

    def __init__(self, config):
        self._config = config
        self._free = threading.BoundedSemaphore(config.max_concurrent_requests)

    async def refusal(self, request):
        """None once a slot is taken for `request` (give it back with `release`), else the
        503 answer."""
        if self._free.acquire(blocking=False):
            return None
        await _discard_body(request, self._config.max_request_bytes)
        return JSONResponse(
            {"error": f"server busy: {self._config.max_concurrent_requests} requests are being "
                      "served (max_concurrent_requests); retry shortly"},
            status_code=503, headers={"Retry-After": "1"})

    def release(self):
        self._free.release()


async def _discard_body(request, max_bytes):
    """Reads and drops a refused request's body (at most `max_bytes`), so the client, still
    sending it, gets the answer rather than a connection reset."""
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > max_bytes:
                return
    except ClientDisconnect:
        return


def _saliency_png(service, config, data, filename):
    """Raw image bytes -> (PNG bytes of the map, (H, W), {aspect: crop box dict}); runs in a
    worker thread."""
    rgb = decode_request_image(data, name=filename, config=config)
    _, (saliency,) = service.maps([rgb])
    boxes = {aspect: crop.best_box(saliency, aspect).to_dict() for aspect in CROP_ASPECTS}
    return images.encode_map_png(saliency, scale_to_max=False), saliency.shape, boxes


def _page(predictor, config):
    """The page (templates/serve.html) with what it shows and checks before uploading: the
    model, its input size and the server's limits."""
    info = {"kind": predictor.kind,
            # The last two path components ("salgan/1") tell models apart without showing the
            # page the server's directory layout.
            "path": "/".join(os.path.normpath(str(predictor.path)).split(os.sep)[-2:]),
            "image_size": list(predictor.image_size), "resize_mode": predictor.resize_mode,
            "crop_aspects": list(CROP_ASPECTS),
            "max_request_bytes": config.max_request_bytes, "max_pixels": config.max_pixels}
    return pages.render("serve.html", server_info=pages.json_script(info))


def create_app(predictor, config=ServeConfig()):
    """Builds the Starlette app serving `predictor`.

    Args:
      predictor: a `salgan_tf.inference.Predictor` (from `inference.load_predictor`) or any
        object with its `image_size`, `resize_mode`, `kind`, `path`, `to_network_input`,
        `predict_small` and `to_original_size`.
      config: `ServeConfig` (model name, version, request limits).

    Returns:
      `starlette.applications.Starlette`, an ASGI app (run it with uvicorn).
    """
    config.validate()
    service = SaliencyService(predictor)
    page_html = _page(predictor, config)
    name, version = config.model_name, config.model_version
    slots = _RequestSlots(config)

    def wrong_version(request):
        asked = request.path_params.get("version", version)
        if asked == version:
            return None
        return _error(404, f"Servable not found for request: Specific({name}, {asked})")

    async def predict(request):
        if (refused := wrong_version(request) or await slots.refusal(request)) is not None:
            return refused
        try:
            body = await read_body(request, config.max_request_bytes,
                                   *_too_many_items(config, predictor.image_size))
            layout, outputs = await run_in_threadpool(_predict_outputs, service, config, body)
        except BaseException as error:  # also a cancelled request: its slot is free again
            slots.release()
            if isinstance(error, ClientError):
                return _error(error.status, error.message)
            raise
        return _SlotResponse(serving_response_pieces(outputs, layout), slots.release,
                             media_type="application/json")

    async def saliency_png(request):
        if (refused := await slots.refusal(request)) is not None:
            return refused
        filename = request.query_params.get("filename") or "upload"
        try:
            data = await read_body(request, config.max_request_bytes)
            png, (height, width), boxes = await run_in_threadpool(_saliency_png, service, config,
                                                                  data, filename)
        except ClientError as error:
            return _error(error.status, error.message)
        finally:
            slots.release()
        return Response(png, media_type="image/png",
                        headers={"X-Saliency-Height": str(height),
                                 "X-Saliency-Width": str(width),
                                 "X-Crop-Boxes": orjson.dumps(boxes).decode()})

    async def status(request):
        if (refused := wrong_version(request)) is not None:
            return refused
        return JSONResponse(_model_status(config))

    async def metadata(request):
        if (refused := wrong_version(request)) is not None:
            return refused
        return JSONResponse(model_metadata(config, predictor.image_size))

    async def page(request):
        return HTMLResponse(page_html)

    async def http_error(request, error):
        # TF Serving answers unknown models/routes with a JSON error too.
        return _error(error.status_code, f"{request.method} {request.url.path}: {error.detail}")

    async def server_error(request, error):
        # A bug, not the client's fault; still JSON (the traceback goes to the server log).
        logging.getLogger(__name__).error("%s %s failed", request.method, request.url.path,
                                          exc_info=error)
        return _error(500, f"{request.method} {request.url.path}: internal server error "
                           f"({type(error).__name__})")

    routes = [
        Route("/", page, methods=["GET"]),
        Route(f"/v1/models/{name}", status, methods=["GET"]),
        Route(f"/v1/models/{name}/versions/{{version:int}}", status, methods=["GET"]),
        Route(f"/v1/models/{name}/metadata", metadata, methods=["GET"]),
        Route(f"/v1/models/{name}/versions/{{version:int}}/metadata", metadata, methods=["GET"]),
        Route(f"/v1/models/{name}:predict", predict, methods=["POST"]),
        Route(f"/v1/models/{name}/versions/{{version:int}}:predict", predict, methods=["POST"]),
        Route("/api/saliency.png", saliency_png, methods=["POST"]),
        Mount("/static", app=StaticFiles(directory=STATIC_DIR), name="static"),
    ]
    app = Starlette(routes=routes, exception_handlers={HTTPException: http_error,
                                                       Exception: server_error})
    return same_origin_only(app, config.allowed_hosts)


# --------------------------------------------------------------------------- server


def request_timeout_protocol(seconds):
    """A uvicorn HTTP/1.1 (h11) protocol class that times out slow requests.

    uvicorn waits forever for the rest of a half-sent request (its keep-alive timeout only runs
    between requests), so one client could hold connections open for good. With this class a
    request whose headers and body have not arrived in full `seconds` after the connection opened
    (or the previous response was sent) gets a 408 JSON answer and the connection is closed.
    """
    from uvicorn.protocols.http.h11_impl import H11Protocol  # noqa: PLC0415 (server only)

    body = orjson.dumps({"error": f"request not received in full within {seconds:g} s"})
    answer = (b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
              b"connection: close\r\ncontent-length: " + str(len(body)).encode() + b"\r\n\r\n"
              + body)

    class RequestTimeoutProtocol(H11Protocol):
        _request_timer = None

        def connection_made(self, transport):
            super().connection_made(transport)
            self._start_request_timer()

        def on_response_complete(self):
            super().on_response_complete()
            self._start_request_timer()

        def connection_lost(self, exc):
            if self._request_timer is not None:
                self._request_timer.cancel()
            super().connection_lost(exc)

        def send_400_response(self, msg):
            # uvicorn calls this while handling h11's RemoteProtocolError (a malformed request
            # line or header such as `Content-Length: 12abc`); its own answer is plain text.
            error = sys.exc_info()[1]
            detail = f"invalid HTTP request ({error})" if error is not None else msg
            body = orjson.dumps({"error": detail})
            self.transport.write(
                b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\n"
                b"connection: close\r\ncontent-length: " + str(len(body)).encode() + b"\r\n\r\n"
                + body)
            self.transport.close()

        def _start_request_timer(self):
            if self._request_timer is not None:
                self._request_timer.cancel()
            self._request_timer = self.loop.call_later(seconds, self._request_timed_out)

        def _request_timed_out(self):
            if self.transport.is_closing():
                return
            state = self.conn.their_state
            if state not in (h11.IDLE, h11.SEND_BODY):
                return  # the request arrived in full: the app is answering it
            if state is h11.SEND_BODY or self.conn.trailing_data[0]:  # half-sent
                self.transport.write(answer)
            self.transport.close()

    return RequestTimeoutProtocol


def server_config(app, config, *, host, port, log_level="info"):
    """The `uvicorn.Config` that serves `app` with `config`'s request timeout."""
    import uvicorn  # noqa: PLC0415 (server only)

    return uvicorn.Config(app, host=host, port=port, log_level=log_level,
                          http=request_timeout_protocol(config.request_timeout))
