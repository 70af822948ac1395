"""The TFRecord conversion tool's library: readers -> checked, encoded records -> atomic shards.

`convert()` lists a dataset with its reader (`salgan_tf.data.readers`), decodes and checks each
image/map/fixation set in a pool of worker processes (one per CPU core), writes contiguous blocks
of examples to shards atomically (`salgan_tf.data.shards`), and finishes with `manifest.json`
(counts, SHA-256 per shard, skipped examples with their reasons). Bad input (corrupt or truncated
image, zero-size, unsupported mode, a map whose size differs from its image, fixations outside
the image, a missing file) is skipped and counted, or stops the run with `strict=True`; in both
cases no half-written shard is left under a real name.
"""
import math
import multiprocessing
import os
import sys
import time

import tensorflow as tf

from salgan_tf.data import prepare
from salgan_tf.data import readers
from salgan_tf.data import schema
from salgan_tf.data import shards

EXAMPLES_PER_SHARD = 256  # default shard size: several shards to interleave, ~10 MB each at 256x192


class ConversionError(RuntimeError):
    """A conversion stopped (strict mode, or nothing convertible)."""


def _progress(total, enabled):
    if not enabled:
        return None
    try:
        import tqdm  # installed with tensorflow-datasets
        return tqdm.tqdm(total=total, unit="img", file=sys.stderr, dynamic_ncols=True)
    except ImportError:
        return None


def parse_resize(text):
    """'256x192' (W x H, like the paper) -> (192, 256) = (H, W); None or '' -> None."""
    if not text:
        return None
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise ValueError(f"--resize={text}: expected WxH such as 256x192") from None
    if width <= 0 or height <= 0:
        raise ValueError(f"--resize={text}: sizes must be positive")
    return height, width


def shard_blocks(num_examples, num_shards):
    """Contiguous `[start, stop)` blocks splitting `num_examples` into `num_shards` shards."""
    bounds = [round(i * num_examples / num_shards) for i in range(num_shards + 1)]
    return list(zip(bounds[:-1], bounds[1:]))


def convert(dataset, input_dir, output_dir, *, split=None, num_shards=None, resize=None,
            strict=False, workers=None, image_format="jpeg", jpeg_quality=95, map_bit_depth=8,
            limit=None, progress=True, log=print):
    """Converts one split of a dataset to sharded TFRecords + `manifest.json`.

    Args:
      dataset: reader name (`salgan_tf.data.readers.READERS`).
      input_dir: the dataset's folder, laid out as its release (see the reader's docstring).
      output_dir: created if needed; shards are `<dataset>-<split>-0000i-of-0000N.tfrecord`.
      split: dataset split (reader default if None).
      num_shards: default one per 256 examples.
      resize: optional `(height, width)` to pre-resize images and maps (stretch); fixations stay
        in the original grid.
      strict: stop at the first bad example (removing this run's shards) instead of skipping.
      workers: worker processes (default: CPU cores); 1 = in this process.
      image_format, jpeg_quality, map_bit_depth: storage options.
      limit: convert only the first `limit` examples (smoke tests).
      progress: show a progress bar on stderr.
      log: function for one-line messages (skipped examples, summary).

    Returns:
      the manifest dict (also written to `output_dir/manifest.json`).

    Raises:
      ConversionError: in strict mode on bad input, or when no example could be converted.
    """
    start_time = time.time()
    reader = readers.get_reader(dataset)
    if split is None:
        splits = (reader.available_splits(input_dir) if hasattr(reader, "available_splits")
                  else reader.SPLITS)
        if len(splits) != 1 and not hasattr(reader, "SPLITS"):
            raise ConversionError(f"{input_dir}: choose a --split of {dataset} from {splits}")
        split = splits[0]
    raw_examples = list(reader.read(input_dir, split))
    if limit is not None:
        raw_examples = raw_examples[:limit]
    if not raw_examples:
        raise ConversionError(f"{input_dir}: the {dataset} reader found no examples "
                              f"(split {split!r})")
    num_shards = num_shards or max(1, math.ceil(len(raw_examples) / EXAMPLES_PER_SHARD))
    num_shards = min(num_shards, len(raw_examples))
    workers = workers or os.cpu_count() or 1
    options = prepare.EncodeOptions(dataset=dataset, resize=tuple(resize) if resize else None,
                            image_format=image_format, jpeg_quality=jpeg_quality,
                            map_bit_depth=map_bit_depth)
    tf.io.gfile.makedirs(output_dir)
    for path in shards.remove_stale_temporaries(output_dir):
        log(f"removed leftover temporary file {path}")

    prefix = f"{dataset}-{split}"
    jobs = ((raw, options) for raw in raw_examples)
    pool = None
    if workers > 1:
        # spawn, not fork: forking a process that has TensorFlow loaded can deadlock.
        pool = multiprocessing.get_context("spawn").Pool(workers)
        results = pool.imap(prepare.prepare_star, jobs, chunksize=2)
    else:
        results = map(prepare.prepare_star, jobs)
    bar = _progress(len(raw_examples), progress)
    counts, written, skipped = {}, [], []
    totals = {"fixations": 0, "unique_pixels": 0}

    def examples_of_shard(stop_after):
        for _ in range(stop_after):
            result = next(results)
            if bar is not None:
                bar.update(1)
            if result.error:
                skipped.append({"name": result.name, "error": result.error})
                if strict:
                    raise ConversionError(f"--strict: stopped at bad input: {result.error}")
                log(f"skipping {result.name}: {result.error}")
                continue
            totals["fixations"] += result.num_fixations
            totals["unique_pixels"] += result.unique_pixels
            yield schema.serialize_example(**result.fields)

    try:
        for index, (begin, end) in enumerate(shard_blocks(len(raw_examples), num_shards)):
            name = shards.shard_name(prefix, index, num_shards)
            path = os.path.join(output_dir, name)
            counts[name] = shards.write_shard(path, examples_of_shard(end - begin))
            written.append(path)
    except BaseException:
        for path in written:  # a stopped run leaves no shard of its own behind
            if tf.io.gfile.exists(path):
                tf.io.gfile.remove(path)
        raise
    finally:
        if bar is not None:
            bar.close()
        if pool is not None:
            pool.terminate()
            pool.join()
    num_examples = sum(counts.values())
    if num_examples == 0:
        for path in written:
            tf.io.gfile.remove(path)
        raise ConversionError(f"{input_dir}: all {len(raw_examples)} examples were bad input; "
                              f"first: {skipped[0]['error']}")
    # shards of an earlier run with another shard count would be read with these: remove them
    for old in tf.io.gfile.glob(os.path.join(output_dir, f"{prefix}-*-of-*.tfrecord")):
        if os.path.basename(old) not in counts:
            tf.io.gfile.remove(old)
            log(f"removed shard of an earlier run: {old}")
    elapsed = time.time() - start_time
    manifest = shards.write_manifest(
        output_dir, counts, dataset=dataset, split=split, input_dir=os.path.abspath(input_dir),
        resize=list(options.resize) if options.resize else None, image_format=image_format,
        map_bit_depth=map_bit_depth, num_skipped=len(skipped), skipped=skipped,
        num_fixations=totals["fixations"], num_unique_fixated_pixels=totals["unique_pixels"],
        seconds=round(elapsed, 2))
    log(f"{dataset}/{split}: wrote {num_examples} examples in {num_shards} shard(s) to "
        f"{output_dir}, skipped {len(skipped)} bad input(s), {totals['fixations']} fixations, "
        f"{elapsed:.1f} s ({num_examples / max(elapsed, 1e-9):.1f} img/s)")
    return manifest
