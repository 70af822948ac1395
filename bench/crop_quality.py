"""Saliency-aware crops vs the centre crop on OSIE test: the fraction of human fixations kept.

  python bench/crop_quality.py                       # centre crop, centre-bias map, GT bound
  python bench/crop_quality.py --model=runs/osie_cpu --model=runs/demo   # + model rows

For OSIE images 1001-1100 (800x600, 15 observers each, `data/eye/fixations.mat`) and each aspect
(1:1, 16:9, 9:16), the crop is the largest box of that aspect (`salgan_tf.crop.box_size`: 600x600,
450x800, 600x338), placed by
- `centre crop`: `salgan_tf.crop.center_box`;
- `<map> crop`: `salgan_tf.crop.best_box` on a saliency map at the image's size: the centre-bias
  baseline (`salgan_tf.baselines.center_bias_map`, no ground truth), each `--model` (through
  `salgan_tf.load`, as a user calls it), and the image's own fixation density (sigma 24 px, the
  dataset's own blur): not a model but the upper bound, chosen with the very fixations it is
  scored on.
Score: the fraction of the image's fixations (all observers) inside the box, averaged over the
images (each image weighs the same). Prints a Markdown table.
"""
import argparse
import pathlib
import sys
import time

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import metrics_osie_data as osie  # noqa: E402

from salgan_tf import baselines  # noqa: E402
from salgan_tf import crop  # noqa: E402

ASPECTS = ("1:1", "16:9", "9:16")
FIRST, LAST = 1001, 1100  # OSIE test: the images no training or choice in this project uses


def kept_fraction(points, box):
    """Fraction of `[N, 2]` 0-based (row, col) fixations inside `box`."""
    rows, cols = points[:, 0], points[:, 1]
    inside = ((rows >= box.top) & (rows < box.top + box.height)
              & (cols >= box.left) & (cols < box.left + box.width))
    return float(inside.mean())


def map_sources(models):
    """`{row name: fn(image path, (H, W), fixations) -> [H, W] map}`."""
    sources = {"centre-bias map": lambda path, size, points: baselines.center_bias_map(*size)}
    for model_path in models:
        import salgan_tf

        model = salgan_tf.load(model_path)
        sources[f"model `{model_path}`"] = (
            lambda path, size, points, model=model: model.predict(str(path)))
    sources["fixation density (upper bound)"] = (
        lambda path, size, points: osie.gt_map_from_fixations(points, size))
    return sources


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", action="append", default=[],
                        help="a model path salgan_tf.load accepts (repeatable)")
    parser.add_argument("--shared_data", default=None, help="default: $SALGAN_DATA or ../shared/data")
    args = parser.parse_args()
    root = osie.osie_root(args.shared_data)
    fixations = osie.read_osie_fixations(root, FIRST, LAST)
    start = time.time()
    scores = {"centre crop": {aspect: [] for aspect in ASPECTS}}
    sources = map_sources(args.model)
    scores.update({name: {aspect: [] for aspect in ASPECTS} for name in sources})
    for name, points in sorted(fixations.items()):
        size = osie.OSIE_SIZE
        for aspect in ASPECTS:
            scores["centre crop"][aspect].append(kept_fraction(points, crop.center_box(size,
                                                                                       aspect)))
        for source, make_map in sources.items():
            saliency = make_map(root / "stimuli" / name, size, points)
            assert saliency.shape == size, (name, source, saliency.shape)
            for aspect in ASPECTS:
                scores[source][aspect].append(kept_fraction(points,
                                                            crop.best_box(saliency, aspect)))
    print(f"OSIE {FIRST}-{LAST}: {len(fixations)} images, "
          f"{sum(len(p) for p in fixations.values())} fixations; box sizes (HxW) "
          + ", ".join(f"{aspect} {crop.box_size(osie.OSIE_SIZE, aspect)}" for aspect in ASPECTS)
          + f"; {time.time() - start:.0f} s\n")
    print("| crop placed by | " + " | ".join(ASPECTS) + " |")
    print("|---|" + "---|" * len(ASPECTS))
    for source, by_aspect in scores.items():
        print(f"| {source} | " + " | ".join(f"{np.mean(by_aspect[a]):.4f}" for a in ASPECTS)
              + " |")


if __name__ == "__main__":
    main()
