"""CAT2000 reader (public training layout; tests use a synthetic fixture).

Layout of the released `trainSet` (20 categories x 100 images, 1920x1080):
`<root>/trainSet/Stimuli/<Category>/<NNN>.jpg`, the shipped continuous maps
`<root>/trainSet/FIXATIONMAPS/<Category>/<NNN>.jpg` (used as ground truth as is) and the binary
fixation locations `<root>/trainSet/FIXATIONLOCS/<Category>/<NNN>.mat` (one H x W 2-D variable,
`fixLocs` in the release; any single 2-D variable is accepted). `<root>` may also be the
`trainSet` folder itself. Names are `<Category>_<NNN>`; fixation points are the nonzero pixels,
observer unknown (-1). Only the train split has ground truth.
"""
import os

import numpy as np

from salgan_tf.data.readers import common

NAME = "cat2000"
SPLITS = ("train",)


def fixation_points(mat_path):
    """0-based (rows, cols) of the nonzero pixels of a FIXATIONLOCS .mat file."""
    mat = common.load_mat(mat_path)
    arrays = {k: v for k, v in mat.items() if not k.startswith("__") and np.ndim(v) == 2}
    if "fixLocs" in arrays:
        binary = arrays["fixLocs"]
    elif len(arrays) == 1:
        binary = next(iter(arrays.values()))
    else:
        raise common.BadInputError(f"{mat_path}: expected one 2-D variable (fixLocs), found "
                                   f"{sorted(arrays)}")
    rows, cols = np.nonzero(np.asarray(binary) > 0)
    return rows.astype(np.int64), cols.astype(np.int64)


def read(input_dir, split="train"):
    """Yields one `RawExample` per stimulus, categories and files in sorted order."""
    if split not in SPLITS:
        raise ValueError(f"CAT2000 has splits {SPLITS} with ground truth, got {split!r}")
    root = input_dir if os.path.isdir(os.path.join(input_dir, "Stimuli")) else os.path.join(
        input_dir, "trainSet")
    stimuli = common.require(os.path.join(root, "Stimuli"), "CAT2000 Stimuli folder")
    for category in sorted(os.listdir(stimuli)):
        folder = os.path.join(stimuli, category)
        if not os.path.isdir(folder):
            continue
        for image_path in common.list_images(folder):
            stem = os.path.splitext(os.path.basename(image_path))[0]
            name = f"{category}_{stem}"
            mat_path = os.path.join(root, "FIXATIONLOCS", category, stem + ".mat")
            try:
                rows, cols = fixation_points(mat_path)
            except common.BadInputError as error:
                yield common.make_example(name, image_path, error=str(error))
                continue
            yield common.make_example(
                name, image_path, rows, cols,
                map_path=os.path.join(root, "FIXATIONMAPS", category, stem + ".jpg"))
