"""The Python API: `salgan_tf.load(path)` -> `Model` with `predict`, `overlay` and `crop`.

  import salgan_tf
  model = salgan_tf.load("runs/demo")           # any kind `salgan-predict --model` accepts
  saliency = model.predict("photo.jpg")         # float32 [H, W] in [0, 1], the image's size
  heat = model.overlay("photo.jpg")             # uint8 [H, W, 3]: the image under a heat map
  box = model.crop("photo.jpg", "16:9")         # salgan_tf.crop.Box keeping the most saliency

Images are a path (read by `salgan_tf.data.images.decode_image`, as predict reads files: EXIF
orientation applied), a PIL image, or an array `[H, W, 3]` RGB / `[H, W]` gray with values 0-255.
`predict` also takes a list and returns a list. Maps come back at each image's original size.
"""
from __future__ import annotations

import os
from typing import Sequence, Union

import numpy as np

from salgan_tf import crop as crop_lib
from salgan_tf import heatmap

Image = Union[str, os.PathLike, np.ndarray, "PIL.Image.Image"]  # noqa: F821


def read_image(image: Image, *, max_pixels: int | None = None) -> np.ndarray:
    """A path, PIL image or array -> uint8-range `[H, W, 3]` RGB (paths: the project's decoder)."""
    from salgan_tf.data import images

    if isinstance(image, (str, os.PathLike)):
        options = {} if max_pixels is None else {"max_pixels": max_pixels}
        return images.decode_image(os.fspath(image), **options)
    if hasattr(image, "convert") and hasattr(image, "mode"):  # a PIL image, as it is shown
        return np.asarray(image.convert("RGB"))
    array = np.asarray(image)
    if array.ndim == 2 or (array.ndim == 3 and array.shape[-1] == 1):
        array = np.repeat(array.reshape(*array.shape[:2], 1), 3, axis=-1)
    return array


class Model:
    """A loaded SalGAN model (`salgan_tf.load`): maps, overlays and crops at the image's size.

    Attributes:
      predictor: the `salgan_tf.inference.Predictor` behind it (`kind`, `image_size`,
        `resize_mode`, `postprocess`).
    """

    def __init__(self, predictor):
        self.predictor = predictor

    def __repr__(self):
        return f"salgan_tf.Model({self.predictor!r})"

    def _rgb(self, image):
        return read_image(image, max_pixels=self.predictor.max_pixels)

    def predict(self, image: Image | Sequence[Image]) -> np.ndarray | list[np.ndarray]:
        """Saliency map(s): one image -> float32 `[H, W]` in [0, 1]; a list -> a list of maps."""
        if isinstance(image, (list, tuple)):
            return self.predictor.predict_batch([self._rgb(item) for item in image])
        return self.predictor.predict(self._rgb(image))

    def overlay(self, image: Image, saliency: np.ndarray | None = None, *,
                alpha: float = heatmap.OVERLAY_ALPHA) -> np.ndarray:
        """uint8 `[H, W, 3]`: the image blended with a jet heat map of its saliency (predicted
        unless `saliency` is given), as `salgan-predict --overlay` writes it."""
        rgb = self._rgb(image)
        if saliency is None:
            saliency = self.predictor.predict(rgb)
        return heatmap.overlay(np.asarray(rgb, np.uint8), saliency, alpha=alpha)

    def crop(self, image: Image, aspect: str | float = "16:9", *, scale: float = 1.0,
             saliency: np.ndarray | None = None) -> crop_lib.Box:
        """The box of `aspect` ("W:H" or width/height) keeping the most saliency mass, as
        `salgan-predict --crop` cuts it (`salgan_tf.crop.best_box`: size and tie rules there).

        `scale` < 1 shrinks the box from the largest that fits; `box.cut(image)` gives the
        pixels of an array (`salgan_tf.read_image(path)` reads a file as the model does).
        """
        if saliency is None:
            saliency = self.predictor.predict(self._rgb(image))
        return crop_lib.best_box(saliency, aspect, scale=scale)


def load(path: str | os.PathLike, *, resize_mode: str | None = None,
         postprocess: str | None = None, batch_size: int | None = None) -> Model:
    """Loads a model of any kind `salgan-predict --model` accepts.

    Args:
      path: a training run dir (or its `checkpoints/`, a `ckpt-N`), a generator `.weights.h5`,
        a SavedModel dir, a `.tflite` or a `.onnx` file (`salgan_tf.inference.load_predictor`).
      resize_mode: "stretch" / "letterbox"; default: the model's.
      postprocess: "none" / "paper"; default: what the model's export recorded.
      batch_size: images per network call in `predict(list)`; default 8.

    Returns:
      `Model`.

    TensorFlow's C++ start-up log is hidden (TF_CPP_MIN_LOG_LEVEL=3 unless set before; a value
    you set, e.g. 0, is kept and applies to its start-up lines too).
    """
    from salgan_tf import cli

    cli.quiet_import()  # TensorFlow loads here, not at `import salgan_tf`, without its C++ log
    from salgan_tf import inference

    options = {} if batch_size is None else {"batch_size": batch_size}
    return Model(inference.load_predictor(path, resize_mode=resize_mode,
                                          postprocess=postprocess, **options))
