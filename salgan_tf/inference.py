"""One predictor for every model kind: a training run, a SavedModel, a TFLite or an ONNX file.

  predictor = load_predictor("runs/salicon")            # run dir, checkpoints/ or ckpt-N
  predictor = load_predictor("models/salgan")           # SavedModel base dir (newest version)
  predictor = load_predictor("models/salgan/1")         # ... or one version
  predictor = load_predictor("salgan_int8.tflite")      # salgan_tf.export.tflite output (LiteRT)
  predictor = load_predictor("salgan.onnx")             # salgan_tf.export.onnx output (onnxruntime)
  saliency = predictor.predict(rgb)                      # uint8 [H, W, 3] -> float32 [H, W]

Every kind shares the same pre/post-processing (salgan_tf.preprocessing, as in training): the
RGB image is resized to the network size (`stretch` or `letterbox`, the run's mode), the network
runs on the RGB 0-255 batch (the VGG caffe preprocessing is inside each model kind), and the map is
resized back to the ORIGINAL image size by the inverse of the same mode (or, with
`postprocess="paper"`, by the authors' cubic resize + 5x5 blur: the option an export records and
every kind applies the same way). Only the network differs.
"""
from __future__ import annotations

import dataclasses
import os

import numpy as np
import tensorflow as tf

from salgan_tf import image_input
from salgan_tf import postprocess as postprocess_lib
from salgan_tf import preprocessing
from salgan_tf import shipped
from salgan_tf.data.images import DEFAULT_MAX_PIXELS  # the limit of every model kind
from salgan_tf.export import model_settings
from salgan_tf.image_input import InputError  # noqa: F401 (raised by `as_rgb`, public here too)

DEFAULT_BATCH_SIZE = 8
KINDS = ("checkpoint", "saved_model", "tflite", "onnx")


def as_rgb(image, *, max_pixels=DEFAULT_MAX_PIXELS, name="image"):
    """Checks one image and returns it as float32 `[H, W, 3]` RGB with values 0-255.

    Takes what `salgan_tf.image_input.to_rgb` takes, by its rules (the one input check): a path,
    a PIL image, or an array / tensor `[H, W]` / `[H, W, 1]` gray, `[H, W, 3]` RGB or
    `[H, W, 4]` RGBA of an integer or float dtype with finite values in 0-255 (floats all in
    [0, 1] are refused as scaled to [0, 1]).

    Raises:
      InputError: naming `name` and the problem (rank, channels, empty, too many pixels, values).
    """
    return image_input.to_rgb(image, max_pixels=max_pixels, name=name).astype(np.float32,
                                                                              copy=False)


class Predictor:
    """Predicts saliency maps at each image's original size with one network.

    Attributes:
      kind: one of `KINDS`.
      path: what was loaded.
      image_size: `(height, width)` of the network input.
      resize_mode: "stretch" or "letterbox".
      batch_size: images per network call in `predict_batch`.
      max_pixels: larger images are refused (`InputError`).
      postprocess: how the network map returns to the original size: "none" (the inverse of the
        input resize, antialiased bilinear) or "paper" (the authors' cubic resize + 5x5 blur,
        salgan_tf.postprocess).
      runtime: what runs the network, kept alive here: the Keras generator, the loaded
        SavedModel, the LiteRT interpreter or the onnxruntime session (None for a bare function).
    """

    def __init__(self, network, *, kind, path, image_size, resize_mode, batch_size,
                 max_pixels=DEFAULT_MAX_PIXELS, postprocess="none", runtime=None):
        """`network`: fn(float32 [N, h, w, 3] RGB 0-255 at `image_size`) -> numpy [N, h, w]."""
        if resize_mode not in preprocessing.RESIZE_MODES:
            raise ValueError(f"{path}: resize_mode must be one of {preprocessing.RESIZE_MODES}, "
                             f"got {resize_mode!r}")
        if postprocess not in postprocess_lib.CHOICES:
            raise ValueError(f"{path}: postprocess must be one of {postprocess_lib.CHOICES}, "
                             f"got {postprocess!r}")
        if batch_size <= 0:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        if max_pixels <= 0:
            raise ValueError(f"max_pixels must be positive, got {max_pixels}")
        self._network = network
        self.kind = kind
        self.path = path
        self.image_size = tuple(int(s) for s in image_size)
        self.resize_mode = resize_mode
        self.batch_size = int(batch_size)
        self.max_pixels = int(max_pixels)
        self.postprocess = postprocess
        self.runtime = runtime

    def __repr__(self):
        return (f"Predictor(kind={self.kind!r}, path={self.path!r}, image_size={self.image_size}, "
                f"resize_mode={self.resize_mode!r}, postprocess={self.postprocess!r})")

    def to_network_input(self, rgb):
        """float32 `[h, w, 3]` RGB at the network size, exactly as the network sees it."""
        return preprocessing.resize_image(
            rgb, self.image_size, mode=self.resize_mode,
            pad_value=preprocessing.IMAGENET_RGB_MEAN).numpy()

    def to_original_size(self, small_map, original_size):
        """Network-size map `[h, w]` -> float32 `[H, W]` in [0, 1] at `original_size`."""
        if self.postprocess == "paper":
            return postprocess_lib.paper_to_original_size(small_map, original_size,
                                                          self.resize_mode)
        saliency = preprocessing.resize_map_to_original(
            np.asarray(small_map, np.float32)[..., None], original_size, mode=self.resize_mode)
        return np.clip(saliency.numpy()[..., 0], 0.0, 1.0)

    def predict_small(self, network_inputs):
        """float32 `[N, h, w, 3]` RGB 0-255 at the network size -> `[N, h, w]` maps in [0, 1]."""
        batch = np.asarray(network_inputs, np.float32)
        if batch.ndim != 4 or tuple(batch.shape[1:]) != (*self.image_size, 3):
            raise InputError(f"{self.path}: network input must be [N, {self.image_size[0]}, "
                             f"{self.image_size[1]}, 3], got {batch.shape}")
        maps = [self._network(batch[i:i + self.batch_size])
                for i in range(0, len(batch), self.batch_size)]
        return np.concatenate(maps, axis=0) if maps else np.zeros((0, *self.image_size),
                                                                  np.float32)

    def predict(self, image):
        """One image (`as_rgb`: RGB `[H, W, 3]` 0-255, ...) -> float32 `[H, W]` map in [0, 1]."""
        return self.predict_batch([image])[0]

    def predict_batch(self, images):
        """A list of images of any sizes -> list of float32 `[H_i, W_i]` maps in [0, 1].

        Raises:
          InputError: for the first bad image, naming its index.
        """
        rgbs = [as_rgb(image, max_pixels=self.max_pixels, name=f"image {i}")
                for i, image in enumerate(images)]
        if not rgbs:
            return []
        small = self.predict_small(np.stack([self.to_network_input(rgb) for rgb in rgbs]))
        return [self.to_original_size(m, rgb.shape[:2]) for m, rgb in zip(small, rgbs)]


# --------------------------------------------------------------------------- loaders


def detect_kind(path):
    """One of `KINDS` for `path`, or FileNotFoundError saying why not."""
    path = os.fspath(path)
    for suffix, kind, name in ((".tflite", "tflite", "TFLite"), (".onnx", "onnx", "ONNX")):
        if path.endswith(suffix):
            if not os.path.isfile(path):
                raise FileNotFoundError(f"{path}: {name} file not found")
            return kind
    if path.endswith(".weights.h5"):  # generator weights: checkpoints.load_generator reads it
        if not os.path.isfile(path):
            raise FileNotFoundError(f"{path}: generator weights file not found")
        return "checkpoint"
    if os.path.isdir(path):
        if os.path.isfile(os.path.join(path, "saved_model.pb")) or _latest_version(path):
            return "saved_model"
        return "checkpoint"
    if tf.io.gfile.exists(path + ".index"):
        return "checkpoint"
    raise FileNotFoundError(f"{path}: not a training run dir, checkpoint prefix, SavedModel "
                            f"directory, .tflite or .onnx file{shipped.not_found_hint()}")


def _latest_version(base):
    """The highest-numbered version subdirectory holding a saved_model.pb, or None."""
    versions = [int(name) for name in os.listdir(base) if name.isdigit()
                and os.path.isfile(os.path.join(base, name, "saved_model.pb"))]
    return os.path.join(base, str(max(versions))) if versions else None


def _load_checkpoint(path, options):
    from salgan_tf import checkpoints

    generator, config = checkpoints.load_generator(path)

    @tf.function(reduce_retracing=True)
    def run(images):
        return generator(preprocessing.vgg_preprocess(images), training=False)[..., 0]

    return Predictor(lambda batch: run(tf.constant(batch)).numpy(), kind="checkpoint", path=path,
                     image_size=config.image_size, runtime=generator,
                     **options.settings(resize_mode=config.resize_mode,
                                        postprocess=shipped.recorded_postprocess(path)))


def _load_saved_model(path, options):
    version_dir = path
    if not os.path.isfile(os.path.join(path, "saved_model.pb")):
        version_dir = _latest_version(path)
    loaded = tf.saved_model.load(version_dir)
    if not hasattr(loaded, "network"):
        raise ValueError(f"{version_dir}: SavedModel has no `network`; was it written by "
                         "`python -m salgan_tf.export.saved_model`?")
    recorded, inputs, outputs = model_settings.read_saved_model(loaded, version_dir)
    settings = model_settings.check(recorded, version_dir, inputs=inputs, outputs=outputs)

    def network(batch):
        return loaded.network(tf.constant(batch)).numpy()[..., 0]

    # `runtime` keeps the variables alive and exposes the signatures.
    return Predictor(network, kind="saved_model", path=version_dir,
                     image_size=settings.image_size, runtime=loaded,
                     **options.from_model(settings))


def _load_tflite(path, options):
    from ai_edge_litert import interpreter as litert  # LiteRT, TFLite's runtime (TF's is deprecated)

    try:
        interpreter = litert.Interpreter(model_path=path, num_threads=options.num_threads)
        interpreter.allocate_tensors()
    except (ValueError, RuntimeError) as error:
        raise ValueError(f"{path}: not a TFLite model LiteRT can run ({error})") from error
    # The settings inside the file (or its format-0 sidecar), checked against its tensors.
    recorded, source = model_settings.read_tflite(path)
    settings = model_settings.check(
        recorded, source, inputs=model_settings.tflite_tensors(interpreter.get_input_details()),
        outputs=model_settings.tflite_tensors(interpreter.get_output_details()))
    (input_detail,), (output_detail,) = (interpreter.get_input_details(),
                                         interpreter.get_output_details())

    def network(batch):
        maps = []
        for image in batch:
            interpreter.set_tensor(input_detail["index"], _quantize(image[None], input_detail))
            interpreter.invoke()
            maps.append(_dequantize(interpreter.get_tensor(output_detail["index"]),
                                    output_detail)[0, ..., 0])
        return np.stack(maps)

    return Predictor(network, kind="tflite", path=path, image_size=settings.image_size,
                     runtime=interpreter, **options.from_model(settings))


def _load_onnx(path, options):
    try:
        import onnxruntime
    except ImportError as error:
        raise ImportError(f"{path}: running an ONNX model needs onnxruntime "
                          "(pip install 'salgan_tf[onnx]')") from error
    session_options = onnxruntime.SessionOptions()
    session_options.intra_op_num_threads = options.num_threads
    try:
        session = onnxruntime.InferenceSession(path, session_options,
                                               providers=["CPUExecutionProvider"])
    except Exception as error:  # onnxruntime raises its own types (InvalidProtobuf, Fail, ...)
        raise ValueError(f"{path}: not an ONNX model onnxruntime can run "
                         f"({type(error).__name__}: {error})") from error
    settings = model_settings.check(
        model_settings.read_onnx(session, path), path,
        inputs=model_settings.onnx_tensors(session.get_inputs()),
        outputs=model_settings.onnx_tensors(session.get_outputs()))
    (input_detail,) = session.get_inputs()

    def network(batch):
        return session.run(None, {input_detail.name: batch})[0][..., 0]

    return Predictor(network, kind="onnx", path=path, image_size=settings.image_size,
                     runtime=session, **options.from_model(settings))


def _quantize(values, detail):
    if detail["dtype"] == np.float32:
        return values.astype(np.float32)
    scale, zero_point = detail["quantization"]
    info = np.iinfo(detail["dtype"])
    return np.clip(np.round(values / scale + zero_point), info.min, info.max).astype(detail["dtype"])


def _dequantize(values, detail):
    if detail["dtype"] == np.float32:
        return values
    scale, zero_point = detail["quantization"]
    return (values.astype(np.float32) - zero_point) * scale


@dataclasses.dataclass(frozen=True)
class _LoadOptions:
    """The caller's choices of `load_predictor`; None = the model's own."""

    resize_mode: str | None
    postprocess: str | None
    batch_size: int
    max_pixels: int
    num_threads: int

    def settings(self, *, resize_mode, postprocess):
        """`Predictor` keyword arguments: the caller's choice, else the model's `resize_mode`
        and `postprocess`."""
        return {"resize_mode": self.resize_mode or resize_mode,
                "postprocess": self.postprocess or postprocess,
                "batch_size": self.batch_size, "max_pixels": self.max_pixels}

    def from_model(self, settings):
        """`settings(...)` with an export's checked `model_settings.ModelSettings`."""
        return self.settings(resize_mode=settings.resize_mode, postprocess=settings.postprocess)


_LOADERS = {"checkpoint": _load_checkpoint, "saved_model": _load_saved_model,
            "tflite": _load_tflite, "onnx": _load_onnx}


def load_predictor(path, *, resize_mode=None, postprocess=None, batch_size=DEFAULT_BATCH_SIZE,
                   max_pixels=DEFAULT_MAX_PIXELS, num_threads=None):
    """Loads any SalGAN model kind behind one `Predictor`.

    Args:
      path: a training run directory, its `checkpoints/` folder or a `ckpt-N` prefix; a generator
        `.weights.h5` (see `checkpoints.load_generator` for its image size); a SavedModel
        written by `salgan_tf.export.saved_model` (version dir, or the base dir: newest version); a
        `.tflite` file written by `salgan_tf.export.tflite` (run by LiteRT); or a `.onnx` file
        written by `salgan_tf.export.onnx` (run by onnxruntime); or a packaged model folder or
        the name of a model shipped with the package (`salgan_tf.shipped.names()`).
      resize_mode: override the model's resize mode ("stretch" / "letterbox"); by default the
        training run's (config.json, or the settings an export records: salgan_tf.export.
        model_settings, checked at load).
      postprocess: override the model's post-processing ("none" / "paper"); by default the one
        its export recorded (same place; "none" for a training run and for exports older than
        the option).
      batch_size: images per network call (TFLite runs one image at a time).
      max_pixels: larger images are refused.
      num_threads: LiteRT / onnxruntime threads (default: all cores).

    Returns:
      `Predictor` with `.predict(rgb [H, W, 3]) -> float32 [H, W]` at the original size,
      `.predict_batch(list)`, `.image_size`, `.resize_mode`, `.postprocess`, `.kind`.
    """
    path = shipped.resolve(path)  # a local path wins over a shipped model's name
    kind = detect_kind(path)
    if resize_mode is not None and resize_mode not in preprocessing.RESIZE_MODES:
        raise ValueError(f"resize_mode must be one of {preprocessing.RESIZE_MODES}, "
                         f"got {resize_mode!r}")
    if postprocess is not None and postprocess not in postprocess_lib.CHOICES:
        raise ValueError(f"postprocess must be one of {postprocess_lib.CHOICES}, "
                         f"got {postprocess!r}")
    options = _LoadOptions(resize_mode=resize_mode, postprocess=postprocess,
                           batch_size=batch_size, max_pixels=max_pixels,
                           num_threads=num_threads or os.cpu_count())
    return _LOADERS[kind](path, options)
