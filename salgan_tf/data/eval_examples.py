"""Evaluation examples read from TFRecords: name, ground-truth map, fixations (and the image).

Everything at the ORIGINAL image size (docs/conventions.md), as `salgan_tf.evaluate_lib` scores
maps and `salgan_tf.validation` prepares its set.
"""
from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class EvalExample:
    """One image to score. Everything at the ORIGINAL image size (docs/conventions.md).

    Attributes:
      name: image id, e.g. "1001.jpg" (matches `--maps` PNG names by stem).
      gt_map: float [H, W] continuous ground-truth density (any positive scale).
      fixations: int [N, 2] 0-based (row, col), every fixation (duplicates kept).
      image: uint8 [H, W, 3] RGB, needed only by model predictors.
    """
    name: str
    gt_map: np.ndarray
    fixations: np.ndarray
    image: np.ndarray | None = None

    @property
    def shape(self):
        return tuple(self.gt_map.shape[:2])


def read_tfrecord_examples(file_pattern, *, with_images=True, limit=None):
    """Yields `EvalExample`s from TFRecords of the salgan_tf schema (docs/data.md).

    Reads with the data layer's `salgan_tf.data.pipeline.evaluation_dataset`: everything at the
    ORIGINAL size (the fixation grid) — a pre-resized stored image/map is resized back there;
    fixations are stored in the original grid. Files are read one by one, in sorted order, so an
    error names its file. `with_images=False` drops the RGB (scoring saved maps or a baseline).

    Raises:
      FileNotFoundError: a glob matches nothing (`salgan_tf.data.shards.glob_records`).
      salgan_tf.data.shards.ManifestError: the files do not match their manifest.json (checked
        once, before the first example is yielded).
      ValueError: a corrupt record, naming its file.
    """
    import tensorflow as tf

    from salgan_tf.data import pipeline
    from salgan_tf.data import shards

    paths = shards.glob_records(file_pattern, label="--data")
    shards.check_records(paths)
    count = 0
    for path in paths:
        try:
            for record in pipeline.original_size_dataset([path]).as_numpy_iterator():
                if limit is not None and count >= limit:
                    return
                yield example_from_record(record, with_images=with_images)
                count += 1
        except (tf.errors.DataLossError, tf.errors.InvalidArgumentError) as error:
            raise ValueError(f"{path}: corrupt or unreadable TFRecord ({error.message})") from error


def example_from_record(record, *, with_images=True):
    """`evaluation_dataset` element (NumPy dict) -> `EvalExample`."""
    name = record["name"]
    name = name.decode("utf-8") if isinstance(name, bytes) else str(name)
    gt_map = np.asarray(record["map"], dtype=np.float64)
    if gt_map.ndim == 3:
        gt_map = gt_map[..., 0]
    fixations = np.stack([record["fixation_rows"], record["fixation_cols"]], axis=1)
    return EvalExample(name=name, gt_map=gt_map, fixations=fixations.astype(np.int64),
                       image=np.asarray(record["image"], np.uint8) if with_images else None)
