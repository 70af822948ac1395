"""The Python API: `salgan_tf.load(path)` -> `Model` with `predict`, `overlay` and `crop`.

  import salgan_tf
  model = salgan_tf.load("runs/demo")           # any kind `salgan-predict --model` accepts
  saliency = model.predict("photo.jpg")         # float32 [H, W] in [0, 1], the image's size
  heat = model.overlay("photo.jpg")             # uint8 [H, W, 3]: the image under a heat map
  box = model.crop("photo.jpg", "16:9")         # salgan_tf.crop.Box keeping the most saliency

Images are a path (read by `salgan_tf.data.images.decode_image`, as predict reads files: EXIF
orientation applied), a PIL image (the same EXIF and 16-bit rules as a file), or an array / tensor
`[H, W, 3]` RGB / `[H, W]` gray / `[H, W, 4]` RGBA with finite values 0-255; NaN, values outside
0-255 and floats all in [0, 1] are refused (one check for every kind: `salgan_tf.image_input`).
`predict` also takes a list and returns a list. Maps come back at each image's original size.
"""
from __future__ import annotations

import os
from typing import Sequence, Union

import numpy as np

from salgan_tf import crop as crop_lib
from salgan_tf import heatmap
from salgan_tf import image_input
from salgan_tf.data.images import DEFAULT_MAX_PIXELS

Image = Union[str, os.PathLike, np.ndarray, "PIL.Image.Image"]  # noqa: F821


def read_image(image: Image, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """A path, PIL image, array or tensor -> `[H, W, 3]` RGB with values 0-255, as every model
    call checks it (`salgan_tf.image_input.to_rgb`: paths and PIL images uint8, arrays their
    dtype); ValueError naming the image and the problem."""
    return image_input.to_rgb(image, max_pixels=max_pixels)


def _map_of(image_rgb, saliency):
    """`saliency` as `[H, W]` when it is the map of `image_rgb` (`[H, W]` or `[H, W, 1]`), else
    ValueError: a map of another size would give a box or overlay of another image."""
    saliency = np.asarray(saliency)
    if saliency.ndim == 3 and saliency.shape[-1] == 1:
        saliency = saliency[..., 0]
    if saliency.shape != image_rgb.shape[:2]:
        raise ValueError(f"saliency: a map of shape {saliency.shape} for an image of "
                         f"{image_rgb.shape[0]}x{image_rgb.shape[1]} (HxW); give the image's own "
                         "map, as `predict` returns it")
    return saliency


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
        if isinstance(image, (list, tuple)):  # the predictor checks each (`image_input.to_rgb`)
            return self.predictor.predict_batch(list(image))
        return self.predictor.predict(image)

    def overlay(self, image: Image, saliency: np.ndarray | None = None, *,
                alpha: float = heatmap.OVERLAY_ALPHA) -> np.ndarray:
        """uint8 `[H, W, 3]`: the image blended with a jet heat map of its saliency (predicted
        unless `saliency` is given), as `salgan-predict --overlay` writes it."""
        rgb = self._rgb(image)
        saliency = self.predictor.predict(rgb) if saliency is None else _map_of(rgb, saliency)
        return heatmap.overlay(np.asarray(rgb, np.uint8), saliency, alpha=alpha)

    def crop(self, image: Image, aspect: str | float = "16:9", *, scale: float = 1.0,
             saliency: np.ndarray | None = None) -> crop_lib.Box:
        """The box of `aspect` ("W:H" or width/height) keeping the most saliency mass, as
        `salgan-predict --crop` cuts it (`salgan_tf.crop.best_box`: size and tie rules there).

        `scale` < 1 shrinks the box from the largest that fits; `box.cut(image)` gives the
        pixels of an array (`salgan_tf.read_image(path)` reads a file as the model does). A given
        `saliency` must be the image's size (ValueError otherwise).
        """
        rgb = self._rgb(image)
        saliency = self.predictor.predict(rgb) if saliency is None else _map_of(rgb, saliency)
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
