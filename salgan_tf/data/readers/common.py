"""What every reader yields, and the coordinate conversions the datasets need.

A reader turns one dataset's release layout into `RawExample`s: file paths plus fixations already
converted to the project convention (0-based integer `(row, col)` in the ORIGINAL image grid,
docs/conventions.md). Images and maps are not decoded here; the converter does that and checks
them (`salgan_tf.data.images`).
"""
import dataclasses
import os
from typing import Optional, Tuple

import numpy as np
import scipy.io

from salgan_tf.data import images
from salgan_tf.data.images import IMAGE_EXTENSIONS, BadInputError


@dataclasses.dataclass(frozen=True)
class RawExample:
    """One image of a dataset, as found on disk.

    Attributes:
      name: image id, unique within the split (file stem, or `category/stem` for CAT2000).
      image_path: the image file.
      fixation_rows, fixation_cols: int64 `[N]`, 0-based, original grid (may be empty).
      fixation_observers: int64 `[N]` observer index per fixation, -1 where unknown.
      map_path: a shipped ground-truth density map, or None to blur the fixations.
      sigma: Gaussian sigma (px, original grid) for maps made from fixations; None = dataset rule.
      image_size: `(H, W)` from the dataset's metadata when it has one (checked against the file).
      error: set when the reader could not read this example's metadata (a message naming the
        file); the converter reports it as bad input and goes on.
    """
    name: str
    image_path: str
    fixation_rows: np.ndarray
    fixation_cols: np.ndarray
    fixation_observers: np.ndarray
    map_path: Optional[str] = None
    sigma: Optional[float] = None
    image_size: Optional[Tuple[int, int]] = None
    error: Optional[str] = None

    @property
    def num_fixations(self):
        return int(len(self.fixation_rows))


def make_example(name, image_path, rows=(), cols=(), observers=None, **kwargs):
    """`RawExample` with the fixation lists as int64 arrays (observers default to -1)."""
    rows = np.asarray(rows, np.int64).ravel()
    cols = np.asarray(cols, np.int64).ravel()
    observers = (np.full(rows.shape, -1, np.int64) if observers is None
                 else np.asarray(observers, np.int64).ravel())
    return RawExample(name=name, image_path=os.fspath(image_path), fixation_rows=rows,
                      fixation_cols=cols, fixation_observers=observers, **kwargs)


def one_based_to_index(values, length):
    """MATLAB-style 1-based (possibly continuous) coordinates -> 0-based pixel indices.

    `index = round_half_up(value) - 1`, as the OSIE code's `max(1, min(round(x), w))`. Values
    within half a pixel outside the image (rounding to 0 or length + 1) are clipped onto the
    border pixel; anything further out is left out of range so the converter reports it as bad
    input ("fixations outside the image") rather than silently moving it.
    """
    index = np.floor(np.asarray(values, np.float64) + 0.5).astype(np.int64) - 1
    index[index == -1] = 0
    index[index == length] = length - 1
    return index


def image_size_of(path):
    """`(H, W)` of an image file as the converter decodes it (EXIF orientation applied), from
    its header (no decoding); BadInputError if unreadable."""
    return images.image_size(path, max_pixels=None)


def load_mat(path, **kwargs):
    """`scipy.io.loadmat` with errors that name the file."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise BadInputError(f"{path}: missing file")
    try:
        return scipy.io.loadmat(path, **kwargs)
    except (scipy.io.matlab.MatReadError, ValueError, TypeError, OSError,
            NotImplementedError) as error:
        raise BadInputError(f"{path}: cannot read MATLAB file ({error})") from error


def require(path, what):
    """Returns `path` if it exists, else raises BadInputError saying which file is missing."""
    if not os.path.exists(path):
        raise BadInputError(f"{path}: missing {what}")
    return os.fspath(path)


def find_dir(root, *candidates):
    """The first existing `root/candidate` folder (or root itself if it matches none)."""
    for candidate in candidates:
        path = os.path.join(root, candidate)
        if os.path.isdir(path):
            return path
    return None


def list_images(folder):
    """Sorted image files directly inside `folder`."""
    return sorted(os.path.join(folder, name) for name in os.listdir(folder)
                  if name.lower().endswith(IMAGE_EXTENSIONS))
