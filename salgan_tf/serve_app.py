"""The local demo server's app: TF Serving's REST API shape plus a drop-an-image page.

For development and demos only; serve production traffic with TF Serving and the SavedModel from
`python -m export.saved_model` (export/README.md). Routes (`<name>` is `ServeConfig.model_name`):

  GET  /                                      the page (salgan_tf/static/: no CDN, works offline)
  GET  /v1/models/<name>                      TF Serving model status
  GET  /v1/models/<name>/metadata             the serving_default signature, TF Serving's JSON
  POST /v1/models/<name>[/versions/<v>]:predict
                                              TF Serving REST predict, as export.saved_model's
                                              `serving_default`: {"instances": [{"b64": JPEG/PNG}]}
                                              -> {"predictions": [{"saliency": [H][W][1],
                                                  "height": H, "width": W, "saliency_small": ...}]}
                                              (columnar {"inputs": ...} -> {"outputs": ...})
  POST /api/saliency.png?filename=NAME        the page's call: raw image bytes -> the map at the
                                              image's size as an 8-bit grayscale PNG
  GET  /api/info                              model facts and limits, for the page

Validation (every failure is a 4xx JSON `{"error": "..."}` naming the file or request item, and
the server keeps serving): bodies over `max_request_bytes` get 413 before they are read in full;
empty bytes, non-images and formats other than JPEG/PNG get 400; an image over `max_pixels` gets
400 from its header alone, before any pixel is decoded. Decoding and prediction run in a worker
thread (the event loop keeps answering), one prediction at a time (a TFLite interpreter is not
thread-safe).

The app takes any predictor with `salgan_tf.inference.Predictor`'s interface (dependency
injection: tests pass a `Predictor` around a fake network).
"""
from __future__ import annotations

import dataclasses
import io
import ipaddress
import json
import os
import threading
import warnings

import numpy as np
import orjson
import tensorflow as tf
from PIL import Image, UnidentifiedImageError
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from export import rest_json
from salgan_tf import inference

STATIC_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")
DEFAULT_MAX_REQUEST_BYTES = 32 * 2**20
# Same formats as the SavedModel's serving_default, so a client that works here works on TF
# Serving too.
ACCEPTED_FORMATS = ("JPEG", "PNG")
SIGNATURE_NAME = rest_json.DEFAULT_SIGNATURE
INPUT_NAME = "images"


@dataclasses.dataclass(frozen=True)
class ServeConfig:
    """What the server exposes and what it refuses.

    Attributes:
      model_name: the `<name>` in `/v1/models/<name>:predict` (TF Serving's `--model_name`).
      model_version: the version reported by the status route and accepted in `/versions/<v>`.
      max_request_bytes: larger request bodies get 413 (JSON base64 adds a third to the image).
      max_pixels: largest accepted image (H*W), checked from the header before decoding.
    """

    model_name: str = "salgan"
    model_version: int = 1
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES
    max_pixels: int = inference.DEFAULT_MAX_PIXELS

    def validate(self):
        """Raises ValueError naming the first bad field."""
        if not self.model_name or "/" in self.model_name or ":" in self.model_name:
            raise ValueError(f"model_name must be a non-empty name without '/' or ':', got "
                             f"{self.model_name!r}")
        for name in ("model_version", "max_request_bytes", "max_pixels"):
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


def _open_checked(data, *, name, max_pixels):
    """PIL image opened lazily (header only) after the format and pixel-count checks."""
    if not data:
        raise ClientError(400, f"{name}: the file is empty (0 bytes)")
    try:
        with warnings.catch_warnings():
            # Pillow warns above ~89 MP and raises above ~179 MP; our own limit is checked below.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as error:
        raise ClientError(400, f"{name}: image is larger than the limit of {max_pixels} pixels "
                               f"({error})") from error
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise ClientError(400, f"{name}: not a JPEG or PNG image ({len(data)} bytes starting "
                               f"{data[:8]!r})") from error
    if image.format not in ACCEPTED_FORMATS:
        raise ClientError(400, f"{name}: is a {image.format} image; only JPEG and PNG are "
                               "accepted (as by the SavedModel's serving signature)")
    width, height = image.size
    if width * height == 0:
        raise ClientError(400, f"{name}: image is empty ({height}x{width} HxW)")
    if width * height > max_pixels:
        raise ClientError(400, f"{name}: image of {height}x{width} (HxW) = {height * width} "
                               f"pixels is larger than the limit of {max_pixels} pixels")
    return image


# EXIF orientation tag -> the transpose that shows the image upright (as ImageOps.exif_transpose).
_EXIF_ORIENTATION = 0x0112
_UPRIGHT = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
            4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE,
            6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
            8: Image.Transpose.ROTATE_90}


def decode_image(data, *, name="image", max_pixels=inference.DEFAULT_MAX_PIXELS,
                 apply_exif_orientation=False):
    """JPEG/PNG bytes -> uint8 `[H, W, 3]` RGB, refusing bad input before decoding pixels.

    Pillow reads only the header (format, size); the pixels are decoded by TF's
    `decode_jpeg/png(channels=3)`, exactly as the SavedModel's serving signature does (gray
    replicated, alpha dropped, 16-bit scaled to 8 bits, TF's JPEG IDCT), so both servers give
    the same map for the same bytes.

    Args:
      data: the encoded image.
      name: the file or request item named in errors.
      max_pixels: largest accepted H*W, read from the header before the pixels are decoded.
      apply_exif_orientation: turn a JPEG upright as its EXIF orientation says (what a browser
        shows); the TF Serving API leaves it off, as `tf.io.decode_jpeg` does.

    Raises:
      ClientError: 400 naming `name` and the problem (empty, not an image, wrong format, too
        many pixels, truncated/corrupt).
    """
    image = _open_checked(data, name=name, max_pixels=max_pixels)
    decode = tf.io.decode_jpeg if image.format == "JPEG" else tf.io.decode_png
    try:
        rgb = decode(data, channels=3).numpy()
    except tf.errors.InvalidArgumentError as error:
        raise ClientError(400, f"{name}: {image.format} image is truncated or corrupt, or a "
                               f"variant TF cannot decode ({error.message})") from error
    orientation = image.getexif().get(_EXIF_ORIENTATION, 1) if apply_exif_orientation else 1
    if orientation in _UPRIGHT:
        rgb = np.asarray(Image.fromarray(rgb).transpose(_UPRIGHT[orientation]))
    return rgb


def encode_map_png(saliency):
    """float `[H, W]` map in [0, 1] -> 8-bit grayscale PNG bytes (value * 255, rounded)."""
    levels = np.round(np.clip(np.asarray(saliency, np.float32), 0.0, 1.0) * 255.0)
    buffer = io.BytesIO()
    Image.fromarray(levels.astype(np.uint8), mode="L").save(buffer, format="PNG")
    return buffer.getvalue()


# --------------------------------------------------------------------------- model


class SaliencyService:
    """The predictor behind a lock, producing the SavedModel signature's outputs."""

    def __init__(self, predictor):
        self.predictor = predictor
        self._lock = threading.Lock()

    def maps(self, rgbs):
        """uint8 `[H_i, W_i, 3]` images -> (`[N, h, w]` network-size maps, list of `[H_i, W_i]`)."""
        with self._lock:
            network_inputs = np.stack([self.predictor.to_network_input(rgb) for rgb in rgbs])
            small = self.predictor.predict_small(network_inputs)
            full = [self.predictor.to_original_size(m, rgb.shape[:2])
                    for m, rgb in zip(small, rgbs)]
        return np.asarray(small, np.float32), full

    def serving_outputs(self, rgbs):
        """The outputs of export.saved_model's `serving_default` for decoded images.

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


class _ServingDefaultInputs:
    """The input side of the SavedModel's `serving_default` (images: string [N]), in the form
    `export.rest_json.parse_request` reads, so both servers parse request bodies alike."""

    def __init__(self):
        self.structured_input_signature = (
            (), {INPUT_NAME: tf.TensorSpec([None], tf.string, name=INPUT_NAME)})


async def read_body(request, max_bytes):
    """The request body, or ClientError(413) as soon as it is known to exceed `max_bytes`."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise ClientError(400, f"invalid Content-Length header {declared!r}")
        if int(declared) > max_bytes:
            raise ClientError(413, f"request body of {int(declared)} bytes is larger than the "
                                   f"limit of {max_bytes} bytes (--max_request_mb)")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise ClientError(413, f"request body is larger than the limit of {max_bytes} bytes "
                                   "(--max_request_mb)")
        chunks.append(chunk)
    return b"".join(chunks)


def _error(status, message):
    return JSONResponse({"error": message}, status_code=status)


def _model_status(config):
    return {"model_version_status": [{
        "version": str(config.model_version), "state": "AVAILABLE",
        "status": {"error_code": "OK", "error_message": ""}}]}


def _tensor_info(name, dtype, dims):
    return {"dtype": dtype, "name": name, "tensor_shape": {
        "dim": [{"size": str(d), "name": ""} for d in dims], "unknown_rank": False}}


def _metadata(config, predictor):
    """TF Serving's GET .../metadata body for the serving_default signature.

    Shapes and dtypes as export.saved_model writes them (`saved_model_cli show` lists the
    outputs sorted by name, which also numbers the graph tensors).
    """
    height, width = predictor.image_size
    outputs = {"height": ("DT_INT32", [-1]), "saliency": ("DT_FLOAT", [-1, -1, -1, 1]),
               "saliency_small": ("DT_FLOAT", [-1, height, width, 1]),
               "width": ("DT_INT32", [-1])}
    signature = {
        "inputs": {INPUT_NAME: _tensor_info("serving_default_images:0", "DT_STRING", [-1])},
        "outputs": {output: _tensor_info(f"StatefulPartitionedCall_1:{i}", dtype, dims)
                    for i, (output, (dtype, dims)) in enumerate(sorted(outputs.items()))},
        "method_name": "tensorflow/serving/predict",
    }
    return {"model_spec": {"name": config.model_name, "signature_name": "",
                           "version": str(config.model_version)},
            "metadata": {"signature_def": {"signature_def": {SIGNATURE_NAME: signature}}}}


def _short_path(path):
    """The last two components of a model path ("salgan/1"): enough to tell models apart, without
    showing the page the server's directory layout."""
    parts = os.path.normpath(str(path)).split(os.sep)
    return "/".join(parts[-2:])


def _predict_json(service, config, signature_inputs, body):
    """TF Serving REST predict body (bytes) -> response JSON bytes; runs in a worker thread."""
    try:
        parsed = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ClientError(400, f"request body is not JSON ({error})") from error
    if not isinstance(parsed, dict):
        raise ClientError(400, "request body must be a JSON object")
    signature_name = parsed.get("signature_name", SIGNATURE_NAME)
    if signature_name != SIGNATURE_NAME:
        raise ClientError(400, f"unknown signature_name {signature_name!r}; this server has "
                               f"[{SIGNATURE_NAME!r}]")
    try:
        inputs, layout = rest_json.parse_request(parsed, signature_inputs)
    except rest_json.RequestError as error:
        raise ClientError(400, str(error)) from error
    items = list(inputs[INPUT_NAME].reshape(-1))
    if inputs[INPUT_NAME].ndim != 1 or not items:
        raise ClientError(400, f"{INPUT_NAME} must be a non-empty list of images (string [N]), "
                               f"got shape {list(inputs[INPUT_NAME].shape)}")
    item_name = "instances[{}]" if layout == "row" else "inputs.images[{}]"
    rgbs = [decode_image(data, name=item_name.format(i), max_pixels=config.max_pixels)
            for i, data in enumerate(items)]
    return serving_response_json(service.serving_outputs(rgbs), layout)


def serving_response_json(outputs, layout):
    """Signature outputs {name: numpy [N, ...]} -> TF Serving's response body as JSON bytes.

    Same layout as TF Serving (and `export.rest_json.format_response`): row format
    `{"predictions": [{name: value of example i}, ...]}`, columnar `{"outputs": {name: value}}`.
    orjson writes the numpy arrays directly: ~40x faster than `tolist()` + `json`, and float32
    values in their shortest exact form (a 480x640 map: 60 ms and 3.9 MB instead of 2.3 s and
    6.6 MB).
    """
    if layout == "columnar":
        body = {"outputs": outputs}
    else:
        count = len(next(iter(outputs.values())))
        body = {"predictions": [{name: value[i] for name, value in outputs.items()}
                                for i in range(count)]}
    return orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY)


def _saliency_png(service, config, data, filename):
    """Raw image bytes -> (PNG bytes of the map, (H, W)); runs in a worker thread."""
    rgb = decode_image(data, name=filename, max_pixels=config.max_pixels,
                       apply_exif_orientation=True)
    _, (saliency,) = service.maps([rgb])
    return encode_map_png(saliency), saliency.shape


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
    signature_inputs = _ServingDefaultInputs()
    name, version = config.model_name, config.model_version

    def wrong_version(request):
        asked = request.path_params.get("version", version)
        if asked == version:
            return None
        return _error(404, f"Servable not found for request: Specific({name}, {asked})")

    async def predict(request):
        if (refused := wrong_version(request)) is not None:
            return refused
        try:
            body = await read_body(request, config.max_request_bytes)
            content = await run_in_threadpool(_predict_json, service, config, signature_inputs,
                                              body)
        except ClientError as error:
            return _error(error.status, error.message)
        return Response(content, media_type="application/json")

    async def saliency_png(request):
        filename = request.query_params.get("filename") or "upload"
        try:
            data = await read_body(request, config.max_request_bytes)
            png, (height, width) = await run_in_threadpool(_saliency_png, service, config, data,
                                                           filename)
        except ClientError as error:
            return _error(error.status, error.message)
        return Response(png, media_type="image/png",
                        headers={"X-Saliency-Height": str(height),
                                 "X-Saliency-Width": str(width)})

    async def status(request):
        if (refused := wrong_version(request)) is not None:
            return refused
        return JSONResponse(_model_status(config))

    async def metadata(request):
        return JSONResponse(_metadata(config, predictor))

    async def info(request):
        return JSONResponse({
            "model_name": name, "model_version": version, "kind": predictor.kind,
            "path": _short_path(predictor.path),
            "image_size": list(predictor.image_size), "resize_mode": predictor.resize_mode,
            "max_request_bytes": config.max_request_bytes, "max_pixels": config.max_pixels,
            "accepted_formats": list(ACCEPTED_FORMATS)})

    async def page(request):
        return FileResponse(os.path.join(STATIC_DIR, "index.html"), media_type="text/html")

    async def http_error(request, error):
        # TF Serving answers unknown models/routes with a JSON error too.
        return _error(error.status_code, f"{request.method} {request.url.path}: {error.detail}")

    routes = [
        Route("/", page, methods=["GET"]),
        Route(f"/v1/models/{name}", status, methods=["GET"]),
        Route(f"/v1/models/{name}/versions/{{version:int}}", status, methods=["GET"]),
        Route(f"/v1/models/{name}/metadata", metadata, methods=["GET"]),
        Route(f"/v1/models/{name}:predict", predict, methods=["POST"]),
        Route(f"/v1/models/{name}/versions/{{version:int}}:predict", predict, methods=["POST"]),
        Route("/api/saliency.png", saliency_png, methods=["POST"]),
        Route("/api/info", info, methods=["GET"]),
        Mount("/static", app=StaticFiles(directory=STATIC_DIR), name="static"),
    ]
    return Starlette(routes=routes, exception_handlers={HTTPException: http_error})
