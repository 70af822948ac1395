"""Shuffled AUC's negatives: other images' fixations, rescaled to the image being scored.

Also `stable_hash`, the per-image seed every sampled metric (and the choice of other images) uses.
"""
from __future__ import annotations

from typing import Mapping

import numpy as np


class ShuffledNegatives:
    """Other images' fixations, rescaled to the image being scored, for sAUC.

    `sampled(name, shape)`: MIT `otherMap` — the union of the fixations of M other images drawn
    at random (seeded by the image's name), as an [K, 2] array (de-duplicated by the metric).
    `exact(name, shape)`: every fixation on every other image (pysaliency's "shuffled").
    Fixations of a (h, w) image are mapped to (H, W) by row * H / h, col * W / w, floored —
    pysaliency's `FullShuffledNonfixationProvider` rule; identity when sizes agree (OSIE).
    """

    def __init__(self, fixations_by_name: Mapping[str, tuple], *, other_images=10, seed=0):
        """`fixations_by_name`: name -> ((H, W), int [N, 2] (row, col))."""
        self._names = list(fixations_by_name)
        self._shapes = [tuple(fixations_by_name[n][0]) for n in self._names]
        points = [np.asarray(fixations_by_name[n][1], dtype=np.int64).reshape(-1, 2)
                  for n in self._names]
        self._index = {name: i for i, name in enumerate(self._names)}
        self._other_images = other_images
        self._seed = seed
        # All fixations in one array with their image index; rescaled copies cached per size.
        self._all_points = np.concatenate(points) if points else np.zeros((0, 2), np.int64)
        self._owner = np.repeat(np.arange(len(points)), [len(p) for p in points])
        self._source_shape = np.array([self._shapes[i] for i in self._owner],
                                      dtype=np.float64).reshape(-1, 2)
        self._rescaled_cache = {}

    def _rescaled_all(self, shape):
        shape = tuple(shape)
        if shape not in self._rescaled_cache:
            scaled = np.floor(self._all_points * (np.array(shape) / self._source_shape))
            same = (self._source_shape == np.array(shape)).all(axis=1)
            scaled[same] = self._all_points[same]  # exact identity where sizes agree
            self._rescaled_cache[shape] = np.clip(scaled, 0, np.array(shape) - 1).astype(np.int64)
        return self._rescaled_cache[shape]

    def _others(self, name):
        me = self._index.get(name)
        return [i for i in range(len(self._names)) if i != me]

    def sampled(self, name, shape):
        others = self._others(name)
        rng = np.random.default_rng([self._seed, stable_hash(name)])
        count = min(self._other_images, len(others))
        chosen = [others[i] for i in rng.choice(len(others), size=count, replace=False)] \
            if count else []
        return self._rescaled_all(shape)[np.isin(self._owner, chosen)]

    def exact(self, name, shape):
        return self._rescaled_all(shape)[self._owner != self._index.get(name, -1)]


def stable_hash(text):
    """A run-to-run stable 32-bit hash (Python's hash() is salted per process)."""
    value = 2166136261
    for byte in text.encode("utf-8"):
        value = ((value ^ byte) * 16777619) & 0xFFFFFFFF
    return value
