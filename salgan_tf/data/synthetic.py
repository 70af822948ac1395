"""Deterministic tiny synthetic saliency data for tests and the README demo.

Each image is a dim, slightly noisy background with 1-3 bright coloured objects (discs or
rectangles); "observers" fixate near the objects' centres (plus a few stray fixations), and the
ground-truth map is the Gaussian-blurred fixation map (`salgan_tf.data.density`), so the map
follows the visible objects and a generator can learn it. Same seed -> same bytes.
"""
import os

import numpy as np

from salgan_tf.data import density
from salgan_tf.data import records
from salgan_tf.data import shards

NUM_OBSERVERS = 5


def _draw_objects(rng, height, width):
    yy, xx = np.mgrid[0:height, 0:width]
    base = rng.uniform(20, 70, size=3)
    gradient = (yy / max(height - 1, 1))[..., None] * rng.uniform(-15, 15, size=3)
    image = base + gradient + rng.normal(0, 6, size=(height, width, 3))
    centres = []
    for _ in range(int(rng.integers(1, 4))):
        radius = rng.uniform(0.08, 0.18) * min(height, width)
        cy = rng.uniform(radius, height - radius)
        cx = rng.uniform(radius, width - radius)
        colour = rng.uniform(170, 255, size=3)
        if rng.random() < 0.5:
            mask = (yy - cy) ** 2 + (xx - cx) ** 2 <= radius ** 2
        else:
            mask = (np.abs(yy - cy) <= radius) & (np.abs(xx - cx) <= radius * 0.8)
        image[mask] = colour + rng.normal(0, 4, size=(int(mask.sum()), 3))
        centres.append((cy, cx, radius))
    return np.clip(np.round(image), 0, 255).astype(np.uint8), centres


def _fixations(rng, centres, height, width):
    rows, cols, observers = [], [], []
    for observer in range(NUM_OBSERVERS):
        for cy, cx, radius in centres:
            for _ in range(int(rng.integers(2, 5))):
                rows.append(rng.normal(cy, radius / 2))
                cols.append(rng.normal(cx, radius / 2))
                observers.append(observer)
        if rng.random() < 0.4:  # a stray look at the background
            rows.append(rng.uniform(0, height))
            cols.append(rng.uniform(0, width))
            observers.append(observer)
    rows = np.clip(np.floor(rows), 0, height - 1).astype(np.int64)
    cols = np.clip(np.floor(cols), 0, width - 1).astype(np.int64)
    return rows, cols, np.asarray(observers, np.int64)


def synthetic_examples(n, height, width, seed=0):
    """`n` synthetic examples as dicts (deterministic in `seed`).

    Returns:
      list of dicts: `name` (str, "synthetic_0000"...), `image` (`uint8 [H, W, 3]` RGB),
      `map` (`float32 [H, W]` in [0, 1], max 1), `fixation_rows`, `fixation_cols`,
      `fixation_observers` (int64 `[N]`, 0-based, in the image grid), `sigma` (px).
    """
    if n < 0 or height < 8 or width < 8:
        raise ValueError(f"need n >= 0 and an image of at least 8x8, got n={n}, "
                         f"{height}x{width}")
    rng = np.random.default_rng(seed)
    sigma = density.sigma_for("synthetic", (height, width))
    examples = []
    for index in range(n):
        image, centres = _draw_objects(rng, height, width)
        rows, cols, observers = _fixations(rng, centres, height, width)
        examples.append({
            "name": f"synthetic_{index:04d}",
            "image": image,
            "map": density.density_map(rows, cols, (height, width), sigma).astype(np.float32),
            "fixation_rows": rows, "fixation_cols": cols, "fixation_observers": observers,
            "sigma": sigma,
        })
    return examples


def write_synthetic_tfrecords(output_dir, n, height, width, seed=0, num_shards=1,
                              image_format="png", map_bit_depth=8):
    """Writes `n` synthetic examples in the real schema; returns the shard paths (sorted).

    Shards are named `synthetic-0000i-of-0000k.tfrecord`, written atomically, with a
    `manifest.json`. PNG images by default so tests can compare pixels exactly.
    """
    if num_shards < 1:
        raise ValueError(f"num_shards must be >= 1, got {num_shards}")
    os.makedirs(output_dir, exist_ok=True)
    examples = synthetic_examples(n, height, width, seed)
    counts, paths = {}, []
    for shard in range(num_shards):
        name = shards.shard_name("synthetic", shard, num_shards)
        path = os.path.join(output_dir, name)
        serialized = (records.build_record(
            name=ex["name"], rgb=ex["image"], saliency=ex["map"],
            fixation_rows=ex["fixation_rows"], fixation_cols=ex["fixation_cols"],
            fixation_observers=ex["fixation_observers"], image_format=image_format,
            map_bit_depth=map_bit_depth, dataset="synthetic")[0]
            for ex in examples[shard::num_shards])
        counts[name] = shards.write_shard(path, serialized)
        paths.append(path)
    shards.write_manifest(output_dir, counts, dataset="synthetic", seed=seed,
                          image_size=[height, width])
    return sorted(paths)
