"""OSIE reader: 700 images, 800x600, eye fixations of 15 subjects in `data/eye/fixations.mat`.

Layout (../shared/data/osie/README.md): `<root>/data/stimuli/1001.jpg ... 1700.jpg` and
`<root>/data/eye/fixations.mat`, a 700x1 cell of structs `img`, `subjects{15}` with `fix_x`
(column) and `fix_y` (row), 1-based continuous. Converted as the source's own code does:
`index = clip(round(x), 1, W) - 1`. Observer id = subject index (0-14). No density maps ship:
they are made from fixations with sigma = 24 px (the source's `fspecial(..., 24)`).

Splits: OSIE has no official split. This project holds out images 1001-1100 as `test` (never
trained on; the evaluation set of configs/osie_cpu.flags and bench/quality.py) and uses 1101-1700
as `train`; `all` is every image.
"""
import os

import numpy as np

from salgan_tf.data.readers import common

NAME = "osie"
SPLITS = ("all", "train", "test")
TEST_IDS = range(1001, 1101)  # held out: OSIE 1001-1100
SIGMA_PX = 24.0


def _root(input_dir):
    for root in (input_dir, os.path.join(input_dir, "..")):
        if os.path.isdir(os.path.join(root, "data", "eye")):
            return root
    return input_dir


def _in_split(image_name, split):
    if split == "all":
        return True
    stem = os.path.splitext(image_name)[0]
    held_out = stem.isdigit() and int(stem) in TEST_IDS
    return held_out if split == "test" else not held_out


def read(input_dir, split="all"):
    """Yields one `RawExample` per image in the order of fixations.mat."""
    if split not in SPLITS:
        raise ValueError(f"OSIE has splits {SPLITS}, got {split!r}")
    root = _root(input_dir)
    mat_path = os.path.join(root, "data", "eye", "fixations.mat")
    fixations = common.load_mat(mat_path)
    if "fixations" not in fixations:
        raise common.BadInputError(f"{mat_path}: no variable 'fixations'")
    cells = fixations["fixations"].ravel()
    for i, cell in enumerate(cells):
        entry = cell[0, 0]
        image_name = str(np.asarray(entry["img"]).ravel()[0])
        if not _in_split(image_name, split):
            continue
        image_path = os.path.join(root, "data", "stimuli", image_name)
        try:  # all 800x600 in the release; read from the header so the TFDS dummy data can be tiny
            height, width = common.image_size_of(image_path)
        except common.BadInputError as error:
            yield common.make_example(os.path.splitext(image_name)[0], image_path,
                                      error=str(error))
            continue
        rows, cols, observers = [], [], []
        for j, subject in enumerate(entry["subjects"].ravel()):
            subject = subject[0, 0]
            xs = np.asarray(subject["fix_x"], np.float64).ravel()
            ys = np.asarray(subject["fix_y"], np.float64).ravel()
            if len(xs) != len(ys):
                raise common.BadInputError(
                    f"{mat_path}: fixations{{{i + 1}}} subject {j + 1} has {len(xs)} fix_x but "
                    f"{len(ys)} fix_y")
            # the source code clips to the image, so this conversion clips too
            cols.append(np.clip(np.floor(xs + 0.5), 1, width) - 1)
            rows.append(np.clip(np.floor(ys + 0.5), 1, height) - 1)
            observers.append(np.full(len(xs), j))
        yield common.make_example(
            os.path.splitext(image_name)[0], image_path,
            np.concatenate(rows) if rows else [], np.concatenate(cols) if cols else [],
            np.concatenate(observers) if observers else [], sigma=SIGMA_PX)
