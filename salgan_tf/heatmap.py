"""Heat-map overlays of saliency maps on images (predict's --overlay and the evaluation report).

NumPy only: uint8 RGB `[H, W, 3]` images, float maps `[H, W]` in [0, 1].
"""
import numpy as np

OVERLAY_ALPHA = 0.5  # weight of the heat map where saliency is 1


def jet_colormap(values):
    """float `[H, W]` in [0, 1] -> uint8 `[H, W, 3]` RGB, the classic "jet" (blue-cyan-yellow-red)."""
    v = np.clip(values, 0.0, 1.0)[..., None]
    # Piecewise-linear jet: each channel is a trapezoid centred at 0.25 (B), 0.5 (G), 0.75 (R).
    centres = np.array([0.75, 0.5, 0.25])
    rgb = np.clip(1.5 - 4.0 * np.abs(v - centres), 0.0, 1.0)
    return np.round(rgb * 255.0).astype(np.uint8)


def overlay(rgb, saliency, *, alpha=OVERLAY_ALPHA):
    """Heat-map overlay: the image blended with jet(saliency), more heat where saliency is high.

    ValueError unless `rgb` is `[H, W, 3]` and `saliency` `[H, W]` of the same H and W.
    """
    rgb, saliency = np.asarray(rgb), np.asarray(saliency)
    if rgb.ndim != 3 or rgb.shape[-1] != 3 or saliency.shape != rgb.shape[:2]:
        raise ValueError(f"overlay: expected an [H, W, 3] RGB image and its [H, W] map, got "
                         f"shapes {rgb.shape} and {saliency.shape}")
    weight = (alpha * np.clip(saliency, 0.0, 1.0))[..., None]
    blended = (1.0 - weight) * rgb.astype(np.float32) + weight * jet_colormap(saliency)
    return np.round(blended).astype(np.uint8)
