"""SALICON 2017 (LSUN'17) reader: `images/`, `maps/*.png`, `fixations/*.mat` with `gaze` structs.

Layout (documented release; no real file in ../shared/data, tests use a synthetic fixture):
`<root>/images/<split>/<name>.jpg`, `<root>/maps/<split>/<name>.png` (the shipped density maps,
used as ground truth as is) and `<root>/fixations/<split>/<name>.mat` with variables `image`,
`resolution` ([H, W]) and `gaze`, an N x 1 struct array (one per observer) with fields
`location` (raw mouse samples), `timestamp` and `fixations` (M x 2, **[x, y]**, 1-based): the
opposite order to the 2015 JSON. Fixations come from `gaze(i).fixations`; observer id = i.
Splits: `train`, `val` (the test split has no maps or fixations).
"""
import os

import numpy as np

from salgan_tf.data.readers import common

NAME = "salicon2017"
SPLITS = ("train", "val")


def read_fixations(mat_path):
    """`(rows, cols, observers, (H, W))` from one SALICON 2017 fixation .mat file."""
    mat = common.load_mat(mat_path)
    for key in ("gaze", "resolution"):
        if key not in mat:
            raise common.BadInputError(f"{mat_path}: no variable '{key}'")
    resolution = np.asarray(mat["resolution"]).ravel()
    if resolution.size != 2:
        raise common.BadInputError(f"{mat_path}: resolution must be [H W], got {resolution}")
    height, width = int(resolution[0]), int(resolution[1])
    gaze = mat["gaze"].ravel()
    if gaze.dtype.names is None or "fixations" not in gaze.dtype.names:
        raise common.BadInputError(f"{mat_path}: gaze has no field 'fixations'")
    rows, cols, observers = [], [], []
    for observer, entry in enumerate(gaze):
        points = np.asarray(entry["fixations"], np.float64)
        if points.size == 0:
            continue
        points = points.reshape(-1, 2)
        cols.append(common.one_based_to_index(points[:, 0], width))  # x first
        rows.append(common.one_based_to_index(points[:, 1], height))
        observers.append(np.full(len(points), observer))
    if not rows:
        return (np.zeros(0, np.int64),) * 3 + ((height, width),)
    return np.concatenate(rows), np.concatenate(cols), np.concatenate(observers), (height, width)


def read(input_dir, split="train"):
    """Yields one `RawExample` per image of `images/<split>/`."""
    if split not in SPLITS:
        raise ValueError(f"SALICON 2017 has splits {SPLITS} with ground truth, got {split!r}")
    image_dir = common.require(os.path.join(input_dir, "images", split), "image folder")
    for image_path in common.list_images(image_dir):
        stem = os.path.splitext(os.path.basename(image_path))[0]
        mat_path = os.path.join(input_dir, "fixations", split, stem + ".mat")
        map_path = os.path.join(input_dir, "maps", split, stem + ".png")
        try:
            rows, cols, observers, size = read_fixations(mat_path)
        except common.BadInputError as error:
            # a broken fixation file must not stop the iteration: hand the error to the converter
            yield common.make_example(stem, image_path, error=str(error))
            continue
        yield common.make_example(stem, image_path, rows, cols, observers, map_path=map_path,
                                  image_size=size)

