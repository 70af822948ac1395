"""Scene SUN500 reader: 500 SUN2012 images of 130 sizes, eye fixations of up to 12 subjects.

Layout (../shared/data/scene_sun500/README.md): `<root>/data/stimuli/001.jpg ... 500.jpg`,
`<root>/data/tidy/fixations.mat` (cell 500x12, image x subject; each K x 4 [row, col, onset,
duration], continuous 1-based original-image coordinates, 0x0 if the subject has no data) and
`<root>/data/tidy/imgInfo.mat` (`imgInfo.size`, 500 x [H, W]). Observer id = subject column.
Maps are made from fixations with sigma = 3% of the longer side (docs/data.md).
"""
import os

import numpy as np

from salgan_tf.data.readers import common

NAME = "sun500"
SPLITS = ("all",)


def _root(input_dir):
    for root in (input_dir, os.path.join(input_dir, "..")):
        if os.path.isdir(os.path.join(root, "data", "tidy")):
            return root
    return input_dir


def read(input_dir, split="all"):
    """Yields one `RawExample` per image, 001 ... 500."""
    if split not in SPLITS:
        raise ValueError(f"SUN500 has splits {SPLITS}, got {split!r}")
    root = _root(input_dir)
    mat_path = os.path.join(root, "data", "tidy", "fixations.mat")
    info_path = os.path.join(root, "data", "tidy", "imgInfo.mat")
    cells = common.load_mat(mat_path).get("fixations")
    if cells is None:
        raise common.BadInputError(f"{mat_path}: no variable 'fixations'")
    info = common.load_mat(info_path).get("imgInfo")
    if info is None:
        raise common.BadInputError(f"{info_path}: no variable 'imgInfo'")
    sizes = np.asarray(info[0, 0]["size"], np.int64)
    if sizes.shape != (cells.shape[0], 2):
        raise common.BadInputError(f"{info_path}: imgInfo.size is {sizes.shape}, expected "
                                   f"({cells.shape[0]}, 2) to match {mat_path}")
    for i in range(cells.shape[0]):
        height, width = (int(v) for v in sizes[i])
        rows, cols, observers = [], [], []
        for subject in range(cells.shape[1]):
            points = np.asarray(cells[i, subject], np.float64)
            if points.size == 0:
                continue
            if points.ndim != 2 or points.shape[1] < 2:
                raise common.BadInputError(f"{mat_path}: fixations{{{i + 1},{subject + 1}}} has "
                                           f"shape {points.shape}, expected K x 4")
            rows.append(common.one_based_to_index(points[:, 0], height))
            cols.append(common.one_based_to_index(points[:, 1], width))
            observers.append(np.full(len(points), subject))
        name = f"{i + 1:03d}"
        yield common.make_example(
            name, os.path.join(root, "data", "stimuli", name + ".jpg"),
            np.concatenate(rows) if rows else [], np.concatenate(cols) if cols else [],
            np.concatenate(observers) if observers else [], image_size=(height, width))
