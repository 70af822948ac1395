"""What the TFDS builders under `datasets/` share: the feature dict and the example generator.

The builders reuse the converter's readers (`salgan_tf.data.readers`) and ground-truth maps
(`salgan_tf.data.prepare`), so a TFDS example holds the same content as a converted TFRecord
(docs/data.md), in TFDS feature form:

| feature | type |
| --- | --- |
| `image` | `Image(shape=(None, None, 3), uint8, jpeg)`, original size |
| `saliency` | `Image(shape=(None, None, 1), uint8, png)`: the GT density map, max 255 |
| `name` | `Text` |
| `fixations` | `Sequence({row, col, observer: int64})`, 0-based, original grid (observer -1: |
|  | unknown) |

Bad inputs are skipped with a logged warning naming the file (TFDS has no skip count; the
converter's manifest has one).
"""
import logging

import numpy as np
import tensorflow_datasets as tfds

from salgan_tf.data import images
from salgan_tf.data import prepare


def features():
    """The `tfds.features.FeaturesDict` of every salgan_tf TFDS builder."""
    return tfds.features.FeaturesDict({
        "image": tfds.features.Image(shape=(None, None, 3), dtype=np.uint8,
                                     encoding_format="jpeg"),
        "saliency": tfds.features.Image(shape=(None, None, 1), dtype=np.uint8,
                                        encoding_format="png"),
        "name": tfds.features.Text(),
        "fixations": tfds.features.Sequence({
            "row": np.int64, "col": np.int64, "observer": np.int64}),
    })


def generate_examples(raw_examples, dataset):
    """Yields `(name, example)` for `_generate_examples` from a reader's `RawExample`s."""
    for raw in raw_examples:
        try:
            if raw.error:
                raise images.BadInputError(raw.error)
            rgb = images.load_rgb(raw.image_path)
            size = rgb.shape[:2]
            if raw.image_size is not None and tuple(raw.image_size) != tuple(size):
                raise images.BadInputError(f"{raw.image_path}: image is {size} but the "
                                           f"dataset's metadata says {raw.image_size}")
            prepare.check_fixations(raw.fixation_rows, raw.fixation_cols, size, raw.image_path)
            saliency = prepare.ground_truth_map(raw, size, dataset)
        except images.BadInputError as error:
            logging.warning("skipping %s: %s", raw.name, error)
            continue
        yield raw.name, {
            "image": rgb,
            "saliency": images.quantize_map(saliency, 8)[..., None],
            "name": raw.name,
            "fixations": {"row": raw.fixation_rows, "col": raw.fixation_cols,
                          "observer": raw.fixation_observers},
        }
