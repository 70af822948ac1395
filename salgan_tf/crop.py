"""Saliency-aware crops: the box of a given aspect ratio that keeps the most saliency mass.

NumPy only. Sizes are `(height, width)`, boxes are 0-based pixel rows/columns of the map (the map
is at the image's original size, so a box on the map is the same box on the image).

Rules (stated once here, followed by `best_box` and `center_box`):
- **Aspect**: `"16:9"` (width:height, as people name crops) or a positive number width / height.
- **Size**: the largest box of that aspect that fits in the image (`scale=1`): the full height
  when the target is wider than the image, the full width otherwise; the other side is rounded
  to the nearest pixel (halves to even, as Python's `round`), at least 1. `scale` in (0, 1]
  shrinks both sides of that box (rounded the same way), for a tighter crop around what matters.
- **Search**: exact: every position of the box is scored by its saliency mass (the sum of the
  map inside it) from one summed-area table (integral image), in O(H * W).
- **Ties**: positions whose mass is within `TIE_TOLERANCE` x the largest mass of the best are
  equal (floating-point sums of a symmetric map differ in the last bits); among them the box whose
  centre is nearest the image centre wins, then the smallest top, then the smallest left. A
  constant map therefore gives the centre crop, as does any map symmetric about the centre.
"""
from __future__ import annotations

import dataclasses

import numpy as np

# Relative tolerance for equal masses (see the module docstring's tie rule).
TIE_TOLERANCE = 1e-9


@dataclasses.dataclass(frozen=True)
class Box:
    """A crop box in pixels: rows `top : top + height`, columns `left : left + width`."""

    top: int
    left: int
    height: int
    width: int

    def cut(self, image):
        """The pixels of `image` (`[H, W, ...]` array) inside the box."""
        return np.asarray(image)[self.top:self.top + self.height, self.left:self.left + self.width]

    def to_dict(self):
        """`{"top", "left", "height", "width"}` as plain ints (JSON)."""
        return dataclasses.asdict(self)


def parse_aspect(aspect):
    """`"16:9"`, `"1.5"` or a number -> width / height as a positive float; ValueError otherwise."""
    try:
        if isinstance(aspect, str) and ":" in aspect:
            width, height = (float(part) for part in aspect.split(":"))
            ratio = width / height if height > 0 and width > 0 else float("nan")
        else:
            ratio = float(aspect)
    except (ValueError, ZeroDivisionError):
        ratio = float("nan")
    if not np.isfinite(ratio) or ratio <= 0:
        raise ValueError(f"aspect {aspect!r}: expected WIDTH:HEIGHT with positive numbers "
                         "(e.g. 16:9, 1:1, 9:16) or a positive width/height ratio")
    return ratio


def box_size(image_size, aspect, *, scale=1.0):
    """`(height, width)` of the crop box: the largest of `aspect` fitting `image_size`, times
    `scale` (module docstring's size rule)."""
    height, width = (int(s) for s in image_size)
    if height <= 0 or width <= 0:
        raise ValueError(f"image size must be positive, got {height}x{width}")
    if not 0 < scale <= 1:
        raise ValueError(f"scale must be in (0, 1], got {scale}")
    ratio = parse_aspect(aspect)
    if width / height > ratio:  # the image is wider than the target: keep the full height
        box_height, box_width = height, min(width, max(1, round(height * ratio)))
    else:
        box_height, box_width = min(height, max(1, round(width / ratio))), width
    return max(1, round(box_height * scale)), max(1, round(box_width * scale))


def _check_map(saliency):
    saliency = np.asarray(saliency, np.float64)
    if saliency.ndim == 3 and saliency.shape[-1] == 1:
        saliency = saliency[..., 0]
    if saliency.ndim != 2 or saliency.size == 0:
        raise ValueError(f"saliency map must be a non-empty [H, W] array, got {saliency.shape}")
    if not np.all(np.isfinite(saliency)) or saliency.min() < 0:
        raise ValueError("saliency map must be finite and non-negative")
    return saliency


def window_masses(saliency, size):
    """`[H - h + 1, W - w + 1]` float64: the map's sum inside the `size` box at each top-left."""
    saliency = _check_map(saliency)
    box_height, box_width = size
    table = np.zeros((saliency.shape[0] + 1, saliency.shape[1] + 1))
    table[1:, 1:] = saliency.cumsum(axis=0).cumsum(axis=1)  # table[i, j] = sum of map[:i, :j]
    rows, cols = saliency.shape[0] - box_height + 1, saliency.shape[1] - box_width + 1
    return (table[box_height:, box_width:] - table[:rows, box_width:]
            - table[box_height:, :cols] + table[:rows, :cols])


def best_box(saliency, aspect, *, scale=1.0):
    """The box of `aspect` (and `scale`) holding the most saliency mass (module docstring rules).

    Args:
      saliency: `[H, W]` (or `[H, W, 1]`) non-negative map at the image's size.
      aspect: `"W:H"` string or width / height number.
      scale: box sides as a fraction of the largest box of that aspect that fits.

    Returns:
      `Box`.
    """
    saliency = _check_map(saliency)
    size = box_size(saliency.shape, aspect, scale=scale)
    masses = window_masses(saliency, size)
    tolerance = TIE_TOLERANCE * max(float(masses.max()), np.finfo(np.float64).tiny)
    tops, lefts = np.nonzero(masses >= masses.max() - tolerance)
    # Distance (squared, in doubled pixel units to stay integer) of each box centre to the image
    # centre; np.lexsort sorts by the last key first.
    rows = 2 * tops + size[0] - saliency.shape[0]
    cols = 2 * lefts + size[1] - saliency.shape[1]
    first = np.lexsort((lefts, tops, rows**2 + cols**2))[0]
    return Box(int(tops[first]), int(lefts[first]), *size)


def center_box(image_size, aspect, *, scale=1.0):
    """The box of the same size as `best_box` gives, centred (rounding up and left): the baseline
    a saliency-aware crop must beat."""
    size = box_size(image_size, aspect, scale=scale)
    return Box((int(image_size[0]) - size[0]) // 2, (int(image_size[1]) - size[1]) // 2, *size)
