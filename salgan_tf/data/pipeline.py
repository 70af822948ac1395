"""The tf.data input pipeline: TFRecord shards (salgan_tf.data.schema) -> training batches.

    interleave(TFRecordDataset) -> map(parse + decode + resize) -> [cache] -> shuffle -> [repeat]
      -> map(flip) -> batch -> map(vgg_preprocess, small map via maps.downsample_maps) -> prefetch

Decoding is kept apart from augmentation (`decode_example` vs `flip_example`); every function
works eagerly and inside `tf.data.Dataset.map`. Batches (docs/conventions.md):

  "image":     float32 [B, H, W, 3], VGG caffe-preprocessed (BGR minus ImageNet mean)
  "map":       float32 [B, H, W, 1] in [0, 1]
  "map_small": float32 [B, H/f, W/f, 1], f x f average pooling of "map" (the content-loss map;
               f = `downsample`, 4 in the paper)
  "name":      string [B]

Between decode and batch, images and maps stay uint8 (maps: 8 bits are plenty for the BCE
targets; a 16-bit map keeps its top 8 bits), so the shuffle buffer, the cache and the batch copy
move 4x fewer bytes than float32; a record pre-resized to the training size skips the resize.

`evaluation_dataset` yields un-batched examples at the ORIGINAL size with fixations, for the
fixation-based metrics (AUC, NSS, sAUC, IG).
"""
import tensorflow as tf

from salgan_tf import preprocessing
from salgan_tf.data import maps
from salgan_tf.data import schema
from salgan_tf.data import shards

AUTOTUNE = tf.data.AUTOTUNE


def _checked_files(file_pattern):
    """The files of a `shards.RecordSet` (checked already), or of globs, checked here."""
    if isinstance(file_pattern, shards.RecordSet):
        return list(file_pattern.files)
    files = shards.glob_records(file_pattern)
    shards.check_records(files)  # refuses files that do not match their manifest.json
    return files


def decode_record_image(encoded):
    """A record's stored JPEG/PNG bytes -> `uint8 [H, W, 3]` (grayscale/RGBA become RGB), in the
    graph: no header checks or limits (the converter checked the source with
    `salgan_tf.data.images.decode_image`, the one host-side decoder)."""
    image = tf.io.decode_image(encoded, channels=3, dtype=tf.uint8, expand_animations=False)
    return tf.ensure_shape(image, [None, None, 3])


def decode_map(encoded):
    """Encoded 8- or 16-bit grayscale PNG -> `float32 [H, W, 1]` in [0, 1] of full scale."""
    saliency = tf.io.decode_png(encoded, channels=1, dtype=tf.uint16)  # 8-bit scales x257
    return tf.ensure_shape(tf.cast(saliency, tf.float32) / 65535.0, [None, None, 1])


def decode_example(serialized):
    """Parses and decodes one record at its stored size.

    Returns a dict: `image` uint8 `[h, w, 3]`, `map` float32 `[h, w, 1]`, `name`,
    `original_size` int32 `[2]` (H, W), `fixation_rows/cols/observers` int64 `[N]` (original grid).
    """
    return _decode_parsed(schema.parse_example(serialized))


def _decode_parsed(parsed):
    """`decode_example` after `schema.parse_example`."""
    return {
        "image": decode_record_image(parsed["image"]),
        "map": decode_map(parsed["map"]),
        "name": parsed["name"],
        "original_size": tf.cast(tf.stack([parsed["original_height"],
                                           parsed["original_width"]]), tf.int32),
        "fixation_rows": parsed["fixation_rows"],
        "fixation_cols": parsed["fixation_cols"],
        "fixation_observers": parsed["fixation_observers"],
    }


def _resize_if_needed(image, size, mode, pad_value=0.0):
    """Resized float32 copy, or the input cast to float32 when it already has `size`."""
    size_tensor = tf.constant(size, tf.int32)
    same = tf.reduce_all(tf.shape(image)[:2] == size_tensor)
    resized = tf.cond(
        same, lambda: tf.cast(image, tf.float32),
        lambda: preprocessing.resize_image(image, size, mode, pad_value=pad_value))
    return tf.ensure_shape(resized, [size[0], size[1], image.shape[-1]])


def _resize_integer(image, size, mode, pad_value=0.0):
    """Like `_resize_if_needed` but keeps the integer dtype (rounding), and skips the no-op."""
    same = tf.reduce_all(tf.shape(image)[:2] == tf.constant(size, tf.int32))
    top = image.dtype.max

    def resize():
        resized = preprocessing.resize_image(image, size, mode, pad_value=pad_value)
        return tf.cast(tf.clip_by_value(tf.round(resized), 0.0, top), image.dtype)

    result = tf.cond(same, lambda: image, resize)
    return tf.ensure_shape(result, [size[0], size[1], image.shape[-1]])


def _resize_pair(image, saliency, size, mode):
    """uint8 image and map resized together; ONE `tf.cond` skips both for pre-resized records.

    (One conditional per element instead of two is measurably cheaper inside tf.data.)
    """
    same = tf.reduce_all(tf.shape(image)[:2] == tf.constant(size, tf.int32))

    def to_uint8(values):
        return tf.cast(tf.clip_by_value(tf.round(values), 0.0, 255.0), tf.uint8)

    def resize():
        return (to_uint8(preprocessing.resize_image(image, size, mode,
                                                    pad_value=preprocessing.IMAGENET_RGB_MEAN)),
                to_uint8(preprocessing.resize_map(saliency, size, mode)))

    image, saliency = tf.cond(same, lambda: (image, saliency), resize)
    return (tf.ensure_shape(image, [size[0], size[1], 3]),
            tf.ensure_shape(saliency, [size[0], size[1], 1]))


def resize_example(example, image_size, resize_mode="stretch"):
    """Resizes `image` (kept uint8, rounded) and `map` (float32, clipped to [0, 1]) to `image_size`.

    Letterbox pads images with the ImageNet mean (0 after caffe preprocessing) and maps with 0.
    """
    example = dict(example)
    example["image"] = _resize_integer(example["image"], image_size, resize_mode,
                                       pad_value=preprocessing.IMAGENET_RGB_MEAN)
    example["map"] = tf.clip_by_value(_resize_if_needed(example["map"], image_size, resize_mode),
                                      0.0, 1.0)
    return example


def flip_example(example):
    """Horizontal flip of `image` and `map` together, and of fixation columns when present.

    Fixation columns are in the original grid: col -> original_width - 1 - col (rows unchanged).
    Flipping after resizing equals resizing the flipped original for stretch; for letterbox, up
    to the one-pixel asymmetry of an odd padding width.
    """
    example = dict(example)
    example["image"] = tf.reverse(example["image"], axis=[-2])
    example["map"] = tf.reverse(example["map"], axis=[-2])
    if "fixation_cols" in example:
        width = tf.cast(example["original_size"][1], tf.int64)
        example["fixation_cols"] = width - 1 - example["fixation_cols"]
    return example


def _random_flip(index, example, seed):
    if seed is None:
        coin = tf.random.uniform([])
    else:  # stateless: the flip of element i depends only on (seed, i), whatever the threading
        coin = tf.random.stateless_uniform([], seed=tf.stack([tf.constant(seed, tf.int64),
                                                              index]))
    return tf.cond(coin < 0.5, lambda: flip_example(example), lambda: dict(example))


def make_dataset(file_pattern, *, image_size=(192, 256), batch_size=32, training=False,
                 flip=False, resize_mode="stretch", shuffle_buffer=256, seed=None,
                 deterministic=False, repeat=False, drop_remainder=False, cache=False,
                 downsample=4):
    """Batched training/validation dataset from TFRecord shards.

    Args:
      file_pattern: comma-separated globs (str) or a list of globs/paths of TFRecord shards
        (`shards.glob_records`), checked against their manifests here; or a `shards.RecordSet`
        (checked once by its maker, as `train` does for every epoch's dataset).
      image_size: `(height, width)` of the model input, both divisible by `downsample`.
      batch_size: examples per batch.
      training: shuffle the shard order and the examples.
      flip: random horizontal flip (p = 0.5) of image and map together.
      resize_mode: `"stretch"` (paper) or `"letterbox"`.
      shuffle_buffer: examples in the shuffle buffer (uint8 images: ~150 KiB each at 192x256).
      seed: seed for the shard order, the shuffle and the flips.
      deterministic: same order and flips on every run (for a given seed; 0 if `seed` is None).
      repeat: repeat forever (each epoch reshuffled; flips differ across epochs).
      drop_remainder: drop the last incomplete batch.
      cache: cache decoded, resized examples in memory (small datasets only).
      downsample: pooling factor of `map_small` (Sec. 3.3: 4; Table 2 compares 1, 2, 4, 8).

    Returns:
      `tf.data.Dataset` of dicts `image`, `map`, `map_small`, `name` (module docstring).
    """
    height, width = (int(s) for s in image_size)
    if downsample < 1 or height % downsample or width % downsample:
        raise ValueError(f"image_size {image_size} must be divisible by downsample={downsample}")
    if resize_mode not in preprocessing.RESIZE_MODES:
        raise ValueError(f"resize_mode must be one of {preprocessing.RESIZE_MODES}, got "
                         f"{resize_mode!r}")
    if deterministic and seed is None:
        seed = 0
    files = _checked_files(file_pattern)

    ds = tf.data.Dataset.from_tensor_slices(files)
    if training and len(files) > 1:
        ds = ds.shuffle(len(files), seed=seed, reshuffle_each_iteration=True)
    ds = ds.interleave(tf.data.TFRecordDataset, cycle_length=min(len(files), 8),
                       block_length=1, num_parallel_calls=AUTOTUNE, deterministic=deterministic)

    def decode(serialized):
        # Image and map uint8 until the batch is complete: 4x less memory to shuffle, cache and
        # copy than float32. 8 bits suffice for the BCE targets (a 16-bit map keeps its top 8
        # bits here; `evaluation_dataset` decodes at full precision).
        parsed = schema.parse_example(serialized)
        image = decode_record_image(parsed["image"])
        saliency = tf.io.decode_png(parsed["map"], channels=1, dtype=tf.uint8)
        image, saliency = _resize_pair(image, saliency, (height, width), resize_mode)
        return {"image": image, "map": saliency, "name": parsed["name"]}

    ds = ds.map(decode, num_parallel_calls=AUTOTUNE, deterministic=deterministic)
    if cache:
        ds = ds.cache()
    if training:
        ds = ds.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    if repeat:
        ds = ds.repeat()
    if flip:
        ds = ds.enumerate().map(lambda i, ex: _random_flip(i, ex, seed),
                                num_parallel_calls=AUTOTUNE, deterministic=deterministic)
    ds = ds.batch(batch_size, drop_remainder=drop_remainder, num_parallel_calls=AUTOTUNE,
                  deterministic=deterministic)

    def finish(batch):
        saliency = tf.cast(batch["map"], tf.float32) / 255.0
        return {"image": preprocessing.vgg_preprocess(batch["image"]),
                "map": saliency,
                "map_small": maps.downsample_maps(saliency, downsample),
                "name": batch["name"]}

    ds = ds.map(finish, num_parallel_calls=AUTOTUNE, deterministic=deterministic)
    options = tf.data.Options()
    options.deterministic = deterministic
    ds = ds.with_options(options)
    return ds.prefetch(AUTOTUNE)


def _at_original_size(example):
    """A decoded example with its image and map resized back to `original_size` if pre-resized."""
    example = dict(example)
    size = example["original_size"]
    same = tf.reduce_all(tf.shape(example["image"])[:2] == size)
    image, saliency = example["image"], example["map"]
    example["image"] = tf.cond(
        same, lambda: image,
        lambda: tf.cast(tf.clip_by_value(tf.round(preprocessing.resize_image(image, size)),
                                         0, 255), tf.uint8))
    example["map"] = tf.cond(
        same, lambda: saliency,
        lambda: tf.clip_by_value(preprocessing.resize_map(saliency, size), 0.0, 1.0))
    return example


def evaluation_dataset(file_pattern):
    """Un-batched examples at the ORIGINAL image size, with fixations, in file order.

    Yields dicts: `name` (string), `image` (uint8 `[H, W, 3]` RGB, resized back with bilinear
    interpolation if the converter pre-resized it), `map` (float32 `[H, W, 1]` in [0, 1]),
    `fixation_rows`, `fixation_cols`, `fixation_observers` (int64 `[N]`, 0-based, original grid),
    `original_size` (int32 `[2]`). Models see `image` through `resize_image` + `vgg_preprocess`
    and their output goes back through `resize_map_to_original`.
    """
    return original_size_dataset(_checked_files(file_pattern))


def original_size_dataset(paths):
    """`evaluation_dataset` of TFRecord files the caller checked (`shards.check_records`)."""
    ds = tf.data.TFRecordDataset(list(paths))
    return ds.map(lambda serialized: _at_original_size(decode_example(serialized)),
                  num_parallel_calls=AUTOTUNE, deterministic=True)


def validation_dataset(paths, *, image_size, resize_mode="stretch", downsample=4):
    """Un-batched validation examples in file order: ONE read of the records gives both what
    the metrics score at the ORIGINAL size and what the network and the content loss see.

    Args:
      paths: TFRecord files the caller checked (`shards.check_records`, once per run: the
        validator reads them again only if rebuilt).
      image_size: `(height, width)` of the network input.
      resize_mode: "stretch" or "letterbox".
      downsample: the content loss's pooling factor.

    Yields dicts: `evaluation_dataset`'s fields except `image`, and
      `network_input`: float32 `[h, w, 3]` RGB 0-255, the original image resized (float, not
        rounded) as `inference.Predictor.to_network_input` resizes it for `evaluate --model`;
      `map_small`: float32 `[h/d, w/d, 1]`, the map as `make_dataset` batches it (8-bit, at the
        network size) average-pooled by `downsample`: the content loss's target.
    """
    height, width = (int(s) for s in image_size)

    def decode(serialized):
        parsed = schema.parse_example(serialized)
        example = _at_original_size(_decode_parsed(parsed))
        rgb = tf.cast(example.pop("image"), tf.float32)
        example["network_input"] = preprocessing.resize_image(
            rgb, (height, width), resize_mode, pad_value=preprocessing.IMAGENET_RGB_MEAN)
        stored_map = tf.io.decode_png(parsed["map"], channels=1, dtype=tf.uint8)
        training_map = _resize_integer(stored_map, (height, width), resize_mode)
        example["map_small"] = maps.downsample_maps(
            tf.cast(training_map, tf.float32)[None] / 255.0, downsample)[0]
        return example

    ds = tf.data.TFRecordDataset(list(paths))
    return ds.map(decode, num_parallel_calls=AUTOTUNE, deterministic=True)
