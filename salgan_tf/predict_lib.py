"""Batch prediction to PNG files: the library behind `python -m salgan_tf.predict`.

For each input image `<root>/<sub>/<name>.<ext>` it writes
  `<output>/<sub>/<name>.png`             the saliency map, 8-bit grayscale (0-255 = [0, 1]), at
                                          the image's ORIGINAL size (the aspect ratio is kept)
  `<output>/overlays/<sub>/<name>.jpg`    with `overlay=True`: the image under a jet heat map
  `<output>/crops/<sub>/<name>.<ext>`     with `crop_aspect="16:9"` (any W:H): the image cut to the
                                          box of that aspect holding the most saliency
                                          (`salgan_tf.crop.best_box`), as PNG for a PNG input, JPEG
                                          otherwise; `<output>/crops/boxes.json` maps each crop
                                          file (relative to `crops/`) to its box in the image
The maps folder is what `python -m salgan_tf.evaluate --maps=` reads (`<stem>.png`).

Every output path (maps, overlays, crops, boxes.json: `plan_outputs`, the one check) is computed
before anything is predicted, and the run is refused (ValueError, one line) when one file would be
written twice (`x.jpg` and `x.png` in one folder both map to `x.png`; the crop of `x.png` is the map
of `crops/x.png`; the message lists the clashes), when any output would overwrite an input image
(by its path, a symlink or a hard link), when `output` is a file or cannot be created, or
(`find_images` with the output folder) when the output folder is inside the input folder. Long
path lists in these errors are cut ("and N more"). A bad file (undecodable, empty, too
large) is reported and skipped; the rest are still written.

Images are read by `salgan_tf.data.images.decode_image`, the decoder the converter and the demo
server use: gray, palette, RGBA and 16-bit images become 8-bit RGB, and EXIF orientation is
applied (a sideways-stored phone photo gets an upright map, as the page shows it). Maps are
written by `images.encode_map_png` (value * 255, rounded).
"""
from __future__ import annotations

import collections
import dataclasses
import json
import os
import sys
from typing import Callable, Sequence

from PIL import Image

from salgan_tf import atomic
from salgan_tf import crop
from salgan_tf.data import images
from salgan_tf.data.images import IMAGE_EXTENSIONS
from salgan_tf.heatmap import jet_colormap, overlay  # noqa: F401 (public here too)

OVERLAY_SUBDIR = "overlays"
CROP_SUBDIR = "crops"
CROP_BOXES_FILE = "boxes.json"  # in CROP_SUBDIR


@dataclasses.dataclass
class PredictReport:
    """What a run did: written map files and `(input path, error message)` per failed image."""

    written: list = dataclasses.field(default_factory=list)
    failed: list = dataclasses.field(default_factory=list)
    crop_boxes: dict = dataclasses.field(default_factory=dict)  # crop file -> `crop.Box`

    def summary(self):
        lines = [f"{len(self.written)} map(s) written, {len(self.failed)} image(s) failed"]
        lines += [f"  FAILED {path}: {message}" for path, message in self.failed]
        return "\n".join(lines)


def find_images(input_path, output_dir=None):
    """`(root, [image files])` for one image file or a folder (recursive, sorted).

    With `output_dir`, a folder input that holds it is refused (ValueError, before anything is
    written): the maps would land among the inputs and the next run would read them as images.
    """
    input_path = os.path.abspath(os.fspath(input_path))
    if os.path.isfile(input_path):
        return os.path.dirname(input_path), [input_path]
    if not os.path.isdir(input_path):
        raise FileNotFoundError(f"{input_path}: no such image file or folder")
    if output_dir is not None and _is_within(output_dir, input_path):
        raise ValueError(f"--output={output_dir} is inside --input={input_path}: the maps would "
                         "be read as input images by the next run; choose an --output folder "
                         "outside the input folder")
    found = []
    for directory, subdirs, names in os.walk(input_path):
        subdirs.sort()
        found += [os.path.join(directory, name) for name in sorted(names)
                  if name.lower().endswith(IMAGE_EXTENSIONS)]
    if not found:
        raise FileNotFoundError(f"{input_path}: no images ({', '.join(IMAGE_EXTENSIONS)}) found")
    return input_path, found


def _is_within(path, folder):
    """True if `path` (existing or not, symlinks resolved) is `folder` or under it."""
    path, folder = os.path.realpath(path), os.path.realpath(folder)
    return os.path.commonpath([path, folder]) == folder


def _listed(items, shown=3):
    """`a, b, c and N more`: a path list kept short enough for a one-line error."""
    items = list(items)
    text = ", ".join(items[:shown])
    return text + (f" and {len(items) - shown} more" if len(items) > shown else "")


@dataclasses.dataclass(frozen=True)
class OutputPlan:
    """Every file a run writes, known before anything is written (`plan_outputs`).

    Attributes:
      per_image: `{input path: {kind: output path}}`, the kinds of `image_outputs`.
      per_run: `{kind: output path}` of the files written once per run (`run_outputs`).
    """

    per_image: dict
    per_run: dict

    def files(self):
        """`(output path, kind, input path or None)` of every file the run writes."""
        for source, outputs in self.per_image.items():
            yield from ((path, kind, source) for kind, path in outputs.items())
        yield from ((path, kind, None) for kind, path in self.per_run.items())


def image_outputs(image_path, root, output_dir, *, with_overlay=False, with_crop=False):
    """`{kind: path}` of the files written for `image_path`, mirroring its place under `root`.

    "map" always (`<output>/<sub>/<name>.png`), "overlay" (`overlays/<sub>/<name>.jpg`) and "crop"
    (`crops/<sub>/<name>.png` for a PNG input, `.jpg` for any other) when asked. A new kind of
    output (a log-density `.npy`, a float map) is one more entry here: `plan_outputs` then checks
    it against the inputs and every other output.
    """
    relative, extension = os.path.splitext(os.path.relpath(image_path, root))
    outputs = {"map": os.path.join(output_dir, relative + ".png")}
    if with_overlay:
        outputs["overlay"] = os.path.join(output_dir, OVERLAY_SUBDIR, relative + ".jpg")
    if with_crop:
        outputs["crop"] = os.path.join(output_dir, CROP_SUBDIR, relative + (
            ".png" if extension.lower() == ".png" else ".jpg"))
    return outputs


def run_outputs(output_dir, *, with_crop=False):
    """`{kind: path}` of the files written once per run: "boxes" (`crops/boxes.json`) with crops."""
    return {"boxes": os.path.join(output_dir, CROP_SUBDIR, CROP_BOXES_FILE)} if with_crop else {}


def plan_outputs(image_paths, root, output_dir, *, with_overlay=False, with_crop=False):
    """Every output path of a run, checked before anything is written: `OutputPlan`.

    Raises:
      ValueError (one line, long lists cut "and N more"): when one file would be written twice
        (two inputs with one stem, `x.jpg` and `x.png`, give one map `x.png`; the crop of `x.png`
        is `crops/x.png`, the map of `crops/x.png`), listing the clashes; or when an output would
        overwrite an input image (the same path, through a symlink, or a hard link to it: a
        `--crop` run with `--output` the parent of a `crops/` input folder).
    """
    plan = OutputPlan(
        per_image={path: image_outputs(path, root, output_dir, with_overlay=with_overlay,
                                       with_crop=with_crop) for path in image_paths},
        per_run=run_outputs(output_dir, with_crop=with_crop))
    _check_no_clashes(plan)
    _check_no_input_overwritten(plan, image_paths)
    return plan


def _check_no_clashes(plan):
    """ValueError listing every file that two outputs of the plan would be (symlinks resolved)."""
    writers = collections.defaultdict(list)
    for path, kind, source in plan.files():
        writers[os.path.normcase(os.path.realpath(path))].append((path, kind, source))
    clashes = sorted((entries for entries in writers.values() if len(entries) > 1),
                     key=lambda entries: entries[0][0])
    if not clashes:
        return
    only_maps = all(kind == "map" for entries in clashes for _, kind, _ in entries)
    listed = _listed(f"{entries[0][0]} <- " + ", ".join(
        source if only_maps else f"{source or 'the run'} ({kind})" for _, kind, source in entries)
        for entries in clashes)
    raise ValueError(f"{len(clashes)} {'map' if only_maps else 'output'} path(s) would be written "
                     f"by more than one input{'' if only_maps else ' or output'} ({listed}); "
                     "rename the inputs or predict them into separate output folders")


def _check_no_input_overwritten(plan, image_paths):
    """ValueError listing every output that is an input image: the same real path, or an existing
    file that is the input by another name (a hard link)."""
    inputs = {os.path.normcase(os.path.realpath(path)) for path in image_paths}
    input_files = set()
    for path in image_paths:
        try:
            status = os.stat(path)
        except OSError:  # a missing input is reported when it is read
            continue
        input_files.add((status.st_dev, status.st_ino))
    overwritten = []
    for path, _, _ in plan.files():
        if os.path.normcase(os.path.realpath(path)) in inputs:
            overwritten.append(path)
        elif os.path.isfile(path):
            status = os.stat(path)
            if (status.st_dev, status.st_ino) in input_files:
                overwritten.append(path)
    if overwritten:
        raise ValueError(f"the outputs would overwrite {len(overwritten)} input image(s) "
                         f"({_listed(sorted(overwritten))}); choose an --output folder apart "
                         "from the inputs")


def _write_crop(path, rgb, saliency, aspect, report):
    """Cuts `rgb` to `crop.best_box(saliency, aspect)`, writes it and records the box."""
    box = crop.best_box(saliency, aspect)
    _write(path, box.cut(rgb))
    report.crop_boxes[path] = box


def _write_crop_boxes(path, report):
    """`boxes.json` at `path`: each crop file, relative to its folder, -> its box."""
    crops_dir = os.path.dirname(path)
    os.makedirs(crops_dir, exist_ok=True)
    boxes = {os.path.relpath(crop_file, crops_dir).replace(os.sep, "/"): box.to_dict()
             for crop_file, box in sorted(report.crop_boxes.items())}
    with atomic.open_replaced(path) as handle:
        json.dump(boxes, handle, indent=1)


def check_output_dir(output_dir):
    """Creates `output_dir` if needed; ValueError (one line, naming it) when it is a file, cannot
    be created or is not writable."""
    output_dir = os.fspath(output_dir)
    if os.path.exists(output_dir) and not os.path.isdir(output_dir):
        raise ValueError(f"{output_dir}: exists and is not a folder; --output must be a folder")
    try:
        os.makedirs(output_dir, exist_ok=True)
    except OSError as error:
        raise ValueError(f"{output_dir}: cannot create the output folder "
                         f"({error.strerror})") from error
    if not os.access(output_dir, os.W_OK | os.X_OK):
        raise ValueError(f"{output_dir}: the output folder is not writable")


def _write_map(path, saliency):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as handle:
        handle.write(images.encode_map_png(saliency, scale_to_max=False))


def _write(path, array):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(array).save(path)


def predict_files(predictor, image_paths: Sequence[str], output_dir, *, root=None,
                  with_overlay=False, crop_aspect=None,
                  progress: Callable[[int, int], None] | None = None):
    """Predicts every image and writes maps (and overlays); bad images are reported, not fatal.

    Args:
      predictor: `salgan_tf.inference.Predictor`.
      image_paths: image files.
      output_dir: where maps go (created).
      root: folder the output layout mirrors (default: the common folder of the images).
      with_overlay: also write `overlays/<name>.jpg`.
      crop_aspect: also write `crops/<name>.<ext>` and `crops/boxes.json` for this aspect
        ("16:9", `salgan_tf.crop.parse_aspect`); None: no crops.
      progress: optional callable(done, total), called after every image.

    Returns:
      `PredictReport`.

    Raises:
      ValueError: before anything is read or written, when two outputs would be one file or an
        output an input image (`plan_outputs`), or `output_dir` is unusable (`check_output_dir`).
      OSError: when writing a map fails (disk full, ...); the maps written so far stay.
    """
    image_paths = list(image_paths)
    if root is None:
        root = os.path.commonpath([os.path.dirname(os.path.abspath(p)) for p in image_paths]) \
            if image_paths else "."
    if crop_aspect is not None:
        crop.parse_aspect(crop_aspect)  # a bad aspect fails before anything is written
    plan = plan_outputs(image_paths, root, output_dir, with_overlay=with_overlay,
                        with_crop=crop_aspect is not None)
    check_output_dir(output_dir)
    report = PredictReport()
    done = 0
    for start in range(0, len(image_paths), predictor.batch_size):
        batch = []
        for path in image_paths[start:start + predictor.batch_size]:
            try:
                batch.append((path, images.decode_image(path, max_pixels=predictor.max_pixels)))
            except ValueError as error:
                report.failed.append((path, str(error)))
                done += 1
        for (path, rgb), saliency in zip(batch, _predict_each(predictor, batch, report)):
            done += 1
            if saliency is not None:
                outputs = plan.per_image[path]
                _write_map(outputs["map"], saliency)
                if with_overlay:
                    _write(outputs["overlay"], overlay(rgb, saliency))
                if crop_aspect is not None:
                    _write_crop(outputs["crop"], rgb, saliency, crop_aspect, report)
                report.written.append(outputs["map"])
            if progress is not None:
                progress(done, len(image_paths))
    if crop_aspect is not None:
        _write_crop_boxes(plan.per_run["boxes"], report)
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
