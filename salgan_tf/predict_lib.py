"""Batch prediction to PNG files: the library behind `python -m salgan_tf.predict`.

For each input image `<root>/<sub>/<name>.<ext>` it writes
  `<output>/<sub>/<name>.png`             the saliency map, 8-bit grayscale (0-255 = [0, 1]), at
                                          the image's ORIGINAL size (the aspect ratio is kept)
  `<output>/overlays/<sub>/<name>.jpg`    with `overlay=True`: the image under a jet heat map
The maps folder is what `python -m salgan_tf.evaluate --maps=` reads (`<stem>.png`).

A bad file (undecodable, empty, too large) is reported and skipped; the rest are still written.
Grayscale, palette and RGBA images are converted to RGB (alpha dropped). Pixels are read as stored
(no EXIF rotation), as the eye-tracking datasets and the serving signature do.
"""
from __future__ import annotations

import dataclasses
import os
import sys
from typing import Callable, Sequence

import numpy as np
from PIL import Image

from salgan_tf import inference
from salgan_tf.heatmap import jet_colormap, overlay  # noqa: F401 (public here too)

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
OVERLAY_SUBDIR = "overlays"


@dataclasses.dataclass
class PredictReport:
    """What a run did: written map files and `(input path, error message)` per failed image."""

    written: list = dataclasses.field(default_factory=list)
    failed: list = dataclasses.field(default_factory=list)

    def summary(self):
        lines = [f"{len(self.written)} map(s) written, {len(self.failed)} image(s) failed"]
        lines += [f"  FAILED {path}: {message}" for path, message in self.failed]
        return "\n".join(lines)


def find_images(input_path):
    """`(root, [image files])` for one image file or a folder (recursive, sorted)."""
    input_path = os.path.abspath(os.fspath(input_path))
    if os.path.isfile(input_path):
        return os.path.dirname(input_path), [input_path]
    if not os.path.isdir(input_path):
        raise FileNotFoundError(f"{input_path}: no such image file or folder")
    found = []
    for directory, subdirs, names in os.walk(input_path):
        subdirs.sort()
        found += [os.path.join(directory, name) for name in sorted(names)
                  if name.lower().endswith(IMAGE_EXTENSIONS)]
    if not found:
        raise FileNotFoundError(f"{input_path}: no images ({', '.join(IMAGE_EXTENSIONS)}) found")
    return input_path, found


def read_image(path, *, max_pixels=inference.DEFAULT_MAX_PIXELS):
    """uint8 RGB `[H, W, 3]` of an image file; ValueError naming the file when it cannot be used.

    The size is checked from the header before the pixels are decoded, so a huge image costs no
    memory.
    """
    try:
        with Image.open(path) as image:
            width, height = image.size
            if width * height > max_pixels:
                raise ValueError(f"{path}: image of {height}x{width} (HxW) = {height * width} "
                                 f"pixels is larger than the limit of {max_pixels} pixels")
            if width == 0 or height == 0:
                raise ValueError(f"{path}: image is empty ({height}x{width})")
            image.load()
            if image.mode in ("I;16", "I;16B", "I;16L", "I"):
                # 16-bit grayscale: scale to 8 bits before RGB (PIL's convert would clip).
                array = np.asarray(image, dtype=np.float64)
                array = np.clip(array / 257.0, 0, 255).astype(np.uint8)
                return np.repeat(array[..., None], 3, axis=-1)
            return np.asarray(image.convert("RGB"))
    except Image.DecompressionBombError as error:
        raise ValueError(f"{path}: {error}") from error
    except (OSError, SyntaxError) as error:  # PIL raises these for unreadable / truncated files
        raise ValueError(f"{path}: cannot decode image ({error})") from error


def map_to_uint8(saliency):
    """float map in [0, 1] -> uint8 0-255 (rounded)."""
    return np.round(np.clip(saliency, 0.0, 1.0) * 255.0).astype(np.uint8)


def output_paths(image_path, root, output_dir):
    """`(map png, overlay jpg)` paths for `image_path`, mirroring its place under `root`."""
    relative = os.path.splitext(os.path.relpath(image_path, root))[0]
    return (os.path.join(output_dir, relative + ".png"),
            os.path.join(output_dir, OVERLAY_SUBDIR, relative + ".jpg"))


def _write(path, array):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(array).save(path)


def predict_files(predictor, image_paths: Sequence[str], output_dir, *, root=None,
                  with_overlay=False, progress: Callable[[int, int], None] | None = None):
    """Predicts every image and writes maps (and overlays); bad images are reported, not fatal.

    Args:
      predictor: `salgan_tf.inference.Predictor`.
      image_paths: image files.
      output_dir: where maps go (created).
      root: folder the output layout mirrors (default: the common folder of the images).
      with_overlay: also write `overlays/<name>.jpg`.
      progress: optional callable(done, total), called after every image.

    Returns:
      `PredictReport`.
    """
    image_paths = list(image_paths)
    if root is None:
        root = os.path.commonpath([os.path.dirname(os.path.abspath(p)) for p in image_paths]) \
            if image_paths else "."
    report = PredictReport()
    done = 0
    for start in range(0, len(image_paths), predictor.batch_size):
        batch = []
        for path in image_paths[start:start + predictor.batch_size]:
            try:
                batch.append((path, read_image(path, max_pixels=predictor.max_pixels)))
            except ValueError as error:
                report.failed.append((path, str(error)))
                done += 1
        for (path, rgb), saliency in zip(batch, _predict_each(predictor, batch, report)):
            done += 1
            if saliency is not None:
                map_path, overlay_path = output_paths(path, root, output_dir)
                _write(map_path, map_to_uint8(saliency))
                if with_overlay:
                    _write(overlay_path, overlay(rgb, saliency))
                report.written.append(map_path)
            if progress is not None:
                progress(done, len(image_paths))
    return report


def _predict_each(predictor, batch, report):
    """Maps for a batch; if the batch fails, retries one by one so one bad image fails alone."""
    try:
        return predictor.predict_batch([rgb for _, rgb in batch])
    except (ValueError, RuntimeError) as batch_error:
        if len(batch) == 1:
            report.failed.append((batch[0][0], str(batch_error)))
            return [None]
    maps = []
    for path, rgb in batch:
        try:
            maps.append(predictor.predict(rgb))
        except (ValueError, RuntimeError) as error:
            report.failed.append((path, str(error)))
            maps.append(None)
    return maps


def text_progress(stream=sys.stderr, width=30):
    """A minimal progress bar callable(done, total) (tqdm is used instead when installed)."""

    def show(done, total):
        filled = int(width * done / max(total, 1))
        stream.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total}")
        if done == total:
            stream.write("\n")
        stream.flush()

    return show
