"""The one TFRecord example schema of salgan_tf: writer and parser side by side.

Every dataset (SALICON, OSIE, SUN500, MIT1003, CAT2000, synthetic) is converted to this schema by
`python -m salgan_tf.convert`; the training pipeline, the evaluate CLI and the TFDS builders read
it. docs/data.md documents it field by field. Summary (`tf.train.Example` features):

| key | type | meaning |
| --- | --- | --- |
| `image` | bytes | encoded image (JPEG or PNG), RGB, possibly pre-resized by the converter |
| `image_format` | bytes | `"jpeg"` or `"png"` |
| `name` | bytes | image id / file stem, unique within a dataset split (UTF-8) |
| `dataset` | bytes | source dataset name (`"osie"`, ...; `""` if unknown) |
| `height`, `width` | int64 | size of the STORED image (and of the stored map) |
| `original_height`, `original_width` | int64 | size of the ORIGINAL image (fixation grid) |
| `map` | bytes | GT density map, grayscale PNG (8 or 16 bit), `height x width`, max = full scale |
| `map_bit_depth` | int64 | 8 or 16 |
| `fixation_rows`, `fixation_cols` | int64 list | 0-based pixel indices in the ORIGINAL grid |
| `fixation_observers` | int64 list | observer id of each fixation, -1 where unknown |

`parse_example` returns these keys with the encoded bytes left encoded (decoding belongs to the
pipeline, see `salgan_tf.data.pipeline.decode_example`); fixation lists come back as dense 1-D
int64 tensors (possibly empty).
"""
import numpy as np
import tensorflow as tf

SCHEMA_VERSION = 1

IMAGE_FORMATS = ("jpeg", "png")
MAP_BIT_DEPTHS = (8, 16)

FEATURE_SPEC = {
    "image": tf.io.FixedLenFeature([], tf.string),
    "image_format": tf.io.FixedLenFeature([], tf.string),
    "name": tf.io.FixedLenFeature([], tf.string),
    "dataset": tf.io.FixedLenFeature([], tf.string, default_value=""),
    "height": tf.io.FixedLenFeature([], tf.int64),
    "width": tf.io.FixedLenFeature([], tf.int64),
    "original_height": tf.io.FixedLenFeature([], tf.int64),
    "original_width": tf.io.FixedLenFeature([], tf.int64),
    "map": tf.io.FixedLenFeature([], tf.string),
    "map_bit_depth": tf.io.FixedLenFeature([], tf.int64),
    "fixation_rows": tf.io.VarLenFeature(tf.int64),
    "fixation_cols": tf.io.VarLenFeature(tf.int64),
    "fixation_observers": tf.io.VarLenFeature(tf.int64),
}

FIXATION_KEYS = ("fixation_rows", "fixation_cols", "fixation_observers")


def _bytes(value):
    if isinstance(value, str):
        value = value.encode("utf-8")
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=[bytes(value)]))


def _int64(value):
    return tf.train.Feature(int64_list=tf.train.Int64List(value=[int(value)]))


def _int64_list(values):
    return tf.train.Feature(int64_list=tf.train.Int64List(value=[int(v) for v in values]))


def serialize_example(*, image, image_format, name, height, width, original_height,
                      original_width, map_png, map_bit_depth, fixation_rows=(),
                      fixation_cols=(), fixation_observers=None, dataset=""):
    """Serializes one example to `tf.train.Example` bytes (the inverse of `parse_example`).

    Args:
      image: encoded image bytes (JPEG or PNG) of size `height x width`.
      image_format: `"jpeg"` or `"png"`.
      name: image id (str or bytes).
      height, width: size of the stored image and map.
      original_height, original_width: size of the original image (the fixation grid).
      map_png: grayscale PNG bytes of the ground-truth density map, `height x width`.
      map_bit_depth: 8 or 16, the PNG's bit depth.
      fixation_rows, fixation_cols: 0-based pixel indices in the original grid, equal lengths.
      fixation_observers: observer id per fixation (-1 = unknown); `None` means all unknown.
      dataset: source dataset name.

    Raises:
      ValueError: on an unknown format/bit depth, non-positive sizes, fixation lists of unequal
        length or fixations outside the original image.
    """
    if image_format not in IMAGE_FORMATS:
        raise ValueError(f"{name}: image_format must be one of {IMAGE_FORMATS}, got "
                         f"{image_format!r}")
    if map_bit_depth not in MAP_BIT_DEPTHS:
        raise ValueError(f"{name}: map_bit_depth must be 8 or 16, got {map_bit_depth!r}")
    for label, value in (("height", height), ("width", width),
                         ("original_height", original_height),
                         ("original_width", original_width)):
        if int(value) <= 0:
            raise ValueError(f"{name}: {label} must be positive, got {value}")
    rows = np.asarray(fixation_rows, dtype=np.int64).ravel()
    cols = np.asarray(fixation_cols, dtype=np.int64).ravel()
    observers = (np.full(rows.shape, -1, np.int64) if fixation_observers is None
                 else np.asarray(fixation_observers, dtype=np.int64).ravel())
    if not len(rows) == len(cols) == len(observers):
        raise ValueError(f"{name}: fixation lists differ in length (rows {len(rows)}, cols "
                         f"{len(cols)}, observers {len(observers)})")
    outside = (rows < 0) | (rows >= original_height) | (cols < 0) | (cols >= original_width)
    if outside.any():
        i = int(np.argmax(outside))
        raise ValueError(f"{name}: {int(outside.sum())} fixation(s) outside the "
                         f"{original_height}x{original_width} image, e.g. (row {rows[i]}, "
                         f"col {cols[i]})")
    features = {
        "image": _bytes(image),
        "image_format": _bytes(image_format),
        "name": _bytes(name),
        "dataset": _bytes(dataset),
        "height": _int64(height),
        "width": _int64(width),
        "original_height": _int64(original_height),
        "original_width": _int64(original_width),
        "map": _bytes(map_png),
        "map_bit_depth": _int64(map_bit_depth),
        "fixation_rows": _int64_list(rows),
        "fixation_cols": _int64_list(cols),
        "fixation_observers": _int64_list(observers),
    }
    return tf.train.Example(features=tf.train.Features(feature=features)).SerializeToString()


def parse_example(serialized):
    """Parses one serialized example (scalar string tensor or bytes) into a dict of tensors.

    Works eagerly and inside `tf.data.Dataset.map` / `tf.function`. Keys are those of
    `FEATURE_SPEC`; `image` and `map` stay encoded; fixation lists are dense int64 `[N]`.
    """
    parsed = tf.io.parse_single_example(serialized, FEATURE_SPEC)
    for key in FIXATION_KEYS:
        parsed[key] = tf.sparse.to_dense(parsed[key])
    return parsed
