"""MIT1003 reader: stimuli + shipped continuous fixation maps (+ fixation points where present).

Three layouts are recognised anywhere under the input folder (names are the release's):
  * official MIT1003: `ALLSTIMULI/<name>.jpeg`, `ALLFIXATIONMAPS/<name>_fixMap.jpg` and the binary
    fixation-point images `ALLFIXATIONMAPS/<name>_fixPts.jpg`;
  * cvzoya/saliency ICCV subset: `100_ICCV_STIMULI/<name>.jpg` with
    `ICCVdata/ALLFIXATIONMAPSICCV/<name>.jpg` (maps only, no points);
  * MIT benchmark demo: `ALLSTIMULI/<name>.jpg`, `FIXATIONMAPS/<name>.jpg`,
    `FIXATIONLOCS/<name>.mat` (variable `fixations`, H x W binary).
The shipped maps (15 observers, Gaussian of ~1 degree, max 255) are the ground truth as is.
Fixation points, where present, come from the binary location map: one point per fixated pixel,
observer unknown (-1). Example names are the stimulus file stems.
"""
import os

import numpy as np
from PIL import Image

from salgan_tf.data.readers import common

NAME = "mit1003"
SPLITS = ("all",)


def _pairs(input_dir):
    """(stimulus_dir, map_dir, map_suffix, points) for each recognised layout, sorted."""
    found = []
    for folder, subdirs, _ in os.walk(input_dir):
        subdirs.sort()
        base = os.path.basename(folder)
        parent = os.path.dirname(folder)
        if base == "100_ICCV_STIMULI":
            found.append((folder, os.path.join(parent, "ICCVdata", "ALLFIXATIONMAPSICCV"), "",
                          None))
        elif base == "ALLSTIMULI":
            if os.path.isdir(os.path.join(parent, "ALLFIXATIONMAPS")):
                found.append((folder, os.path.join(parent, "ALLFIXATIONMAPS"), "_fixMap",
                              "fixPts"))
            else:
                found.append((folder, os.path.join(parent, "FIXATIONMAPS"), "",
                              os.path.join(parent, "FIXATIONLOCS")))
    return found


def _find(folder, stem, suffix):
    for extension in (".jpg", ".jpeg", ".png"):
        path = os.path.join(folder, stem + suffix + extension)
        if os.path.exists(path):
            return path
    return os.path.join(folder, stem + suffix + ".jpg")  # missing: the converter names it


def fixation_points(path):
    """0-based (rows, cols) of the fixated pixels in a binary location map (.mat or image)."""
    if path.endswith(".mat"):
        mat = common.load_mat(path)
        arrays = [v for k, v in mat.items() if not k.startswith("__") and np.ndim(v) == 2]
        binary = np.asarray(mat["fixations"] if "fixations" in mat else
                            (arrays[0] if len(arrays) == 1 else None))
        if binary is None or binary.ndim != 2:
            raise common.BadInputError(f"{path}: no 2-D variable 'fixations'")
        binary = binary > 0
    else:
        common.require(path, "fixation point image")
        with Image.open(path) as image:
            binary = np.asarray(image.convert("L")) > 127  # JPEG: threshold halfway
    rows, cols = np.nonzero(binary)
    return rows.astype(np.int64), cols.astype(np.int64)


def read(input_dir, split="all"):
    """Yields one `RawExample` per stimulus of every layout found under `input_dir`."""
    if split not in SPLITS:
        raise ValueError(f"MIT1003 has splits {SPLITS}, got {split!r}")
    pairs = _pairs(input_dir)
    if not pairs:
        raise common.BadInputError(f"{input_dir}: no MIT1003 layout found (ALLSTIMULI/ or "
                                   "100_ICCV_STIMULI/)")
    for stimulus_dir, map_dir, suffix, points in pairs:
        for image_path in common.list_images(stimulus_dir):
            stem = os.path.splitext(os.path.basename(image_path))[0]
            rows = cols = ()
            if points is not None:
                points_path = (_find(map_dir, stem, "_fixPts") if points == "fixPts"
                               else os.path.join(points, stem + ".mat"))
                if os.path.exists(points_path):
                    try:
                        rows, cols = fixation_points(points_path)
                    except common.BadInputError as error:
                        yield common.make_example(stem, image_path, error=str(error))
                        continue
            yield common.make_example(stem, image_path, rows, cols,
                                      map_path=_find(map_dir, stem, suffix))
