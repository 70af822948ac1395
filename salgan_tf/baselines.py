"""Baseline saliency maps: the centre bias every evaluation table shows next to the model.

Observers look at the image centre (Tatler 2007; Judd et al. 2009), so a centred Gaussian alone
scores well on AUC-Judd/NSS; a model is only interesting where it beats it. It is also the
default baseline of information gain (IG) in `salgan_tf.metrics.information_gain`.
"""
from __future__ import annotations

import functools

import numpy as np

# Issue spec: "Gaussian, sigma = H/4 at the image centre".
DEFAULT_SIGMA_FRACTION = 0.25


def center_bias_map(height, width, *, sigma_fraction=DEFAULT_SIGMA_FRACTION):
    """An isotropic Gaussian centred on the image, sigma = `sigma_fraction` * height pixels.

    The centre is the middle of the pixel grid, ((H - 1) / 2, (W - 1) / 2) in 0-based (row, col)
    pixel-centre coordinates, so the map is symmetric under flips. The same sigma (in pixels) is
    used along both axes (a round blob, not stretched with the aspect ratio).

    Args:
      height: map height H in pixels (the ORIGINAL image's, metrics compare at that size).
      width: map width W in pixels.
      sigma_fraction: sigma as a fraction of H (0.25 -> sigma = H/4).

    Returns:
      float32 [H, W] in (0, 1], maximum 1 at the centre (exactly 1 when H and W are odd).
    """
    if height <= 0 or width <= 0:
        raise ValueError(f"center_bias_map needs a positive size, got {height}x{width}")
    if sigma_fraction <= 0:
        raise ValueError(f"sigma_fraction must be > 0, got {sigma_fraction}")
    return _cached_center_bias(int(height), int(width), float(sigma_fraction)).copy()


@functools.lru_cache(maxsize=16)
def _cached_center_bias(height, width, sigma_fraction):
    sigma = sigma_fraction * height
    rows = (np.arange(height) - (height - 1) / 2.0) / sigma
    cols = (np.arange(width) - (width - 1) / 2.0) / sigma
    # Separable: exp(-(r^2 + c^2) / 2) = exp(-r^2 / 2) * exp(-c^2 / 2).
    gaussian = np.exp(-0.5 * rows**2)[:, None] * np.exp(-0.5 * cols**2)[None, :]
    gaussian /= gaussian.max()
    return gaussian.astype(np.float32)
