"""The TFRecord conversion tool's library: readers -> checked, encoded records -> shards.

`convert()` lists a dataset with its reader (`salgan_tf.data.readers`), decodes and checks each
image/map/fixation set in a pool of worker processes (one per CPU core), writes contiguous blocks
of examples to shards (`salgan_tf.data.shards`), and finishes with `manifest.json` (counts, size
and SHA-256 per shard, skipped examples with their reasons, the command that rewrites the folder).
Bad input (corrupt or truncated image, zero-size, unsupported mode, a map whose size differs from
its image, fixations outside the image, a missing file) is skipped and counted, or stops the run
with `strict=True`.

The output is all or nothing: shards and manifest are written into a staging folder beside the
output folder, which replaces it only once complete (`salgan_tf.atomic.replaced_directory`). A run
that fails or is killed leaves the previous output exactly as it was (a killed run's staging
folder is deleted by the next run).
"""
import math
import multiprocessing
import os
import sys
import time

import tensorflow as tf
from absl import logging

from salgan_tf import atomic
from salgan_tf import cli
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


def _check_output_dir(output_dir):
    """Refuses an `--output` that is a file, or a folder holding more than records + manifest.

    The whole folder is replaced by the new conversion, so it must not hold anything else.
    """
    if os.path.lexists(output_dir) and not os.path.isdir(output_dir):
        raise ConversionError(f"--output={output_dir} is a file, not a folder")
    if not os.path.isdir(output_dir):
        return
    others = sorted(name for name in os.listdir(output_dir)
                    if name != shards.MANIFEST_NAME and not name.endswith(".tfrecord")
                    and ".tmp-" not in name)  # temporaries of a killed (older) run
    if others:
        raise ConversionError(f"--output={output_dir} holds files other than records and "
                              f"{shards.MANIFEST_NAME} (e.g. {others[0]}), which the conversion "
                              "would replace; choose an empty or new folder")


def rerun_command(dataset, input_dir, output_dir, *, split, num_shards, resize, image_format,
                  jpeg_quality, map_bit_depth, limit):
    """The `python -m salgan_tf.convert` command that writes this conversion again."""
    args = [f"--dataset={dataset}", f"--input={os.path.abspath(input_dir)}",
            f"--output={os.path.abspath(output_dir)}", f"--split={split}",
            f"--num_shards={num_shards}"]
    if resize:
        args.append(f"--resize={resize[1]}x{resize[0]}")
    if image_format != "jpeg":
        args.append(f"--image_format={image_format}")
    if jpeg_quality != 95:
        args.append(f"--jpeg_quality={jpeg_quality}")
    if map_bit_depth != 8:
        args.append(f"--map_bits={map_bit_depth}")
    if limit is not None:
        args.append(f"--limit={limit}")
    return "python -m salgan_tf.convert " + " ".join(args)


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
      output_dir: replaced as a whole when the conversion is complete (it may hold only records
        and a manifest); shards are `<dataset>-<split>-0000i-of-0000N.tfrecord`.
      split: dataset split (reader default if None).
      num_shards: default one per 256 examples.
      resize: optional `(height, width)` to pre-resize images and maps (stretch); fixations stay
        in the original grid.
      strict: stop at the first bad example instead of skipping it.
      workers: worker processes (default: CPU cores); 1 = in this process.
      image_format, jpeg_quality, map_bit_depth: storage options.
      limit: convert only the first `limit` examples (smoke tests).
      progress: show a progress bar on stderr.
      log: function for one-line messages (skipped examples, summary).

    Returns:
      the manifest dict (also written to `output_dir/manifest.json`).

    Raises:
      ConversionError: in strict mode on bad input, when no example could be converted, or when
        `output_dir` is a file, holds other files, or cannot be written. In every case the
        previous content of `output_dir` is left as it was.
    """
    start_time = time.time()
    output_dir = os.path.abspath(output_dir)
    _check_output_dir(output_dir)
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
    prefix = f"{dataset}-{split}"
    command = rerun_command(dataset, input_dir, output_dir, split=split, num_shards=num_shards,
                            resize=options.resize, image_format=image_format,
                            jpeg_quality=jpeg_quality, map_bit_depth=map_bit_depth, limit=limit)
    try:
        for message in atomic.recover_directory(output_dir):
            log(message)
        with atomic.replaced_directory(output_dir) as staging:
            manifest = _write_shards_and_manifest(
                staging, raw_examples, options, prefix=prefix, num_shards=num_shards,
                workers=workers, strict=strict, progress=progress, log=log,
                manifest_fields=dict(dataset=dataset, split=split,
                                     input_dir=os.path.abspath(input_dir), command=command))
    except (OSError, tf.errors.OpError) as error:  # e.g. disk full: TFRecordWriter raises OpError
        raise ConversionError(f"--output={output_dir}: cannot write there "
                              f"({atomic.failure_reason(error)})") from None
    elapsed = time.time() - start_time
    num_examples = manifest["num_examples"]
    log(f"{dataset}/{split}: wrote {num_examples} examples in {num_shards} shard(s) to "
        f"{output_dir}, skipped {manifest['num_skipped']} bad input(s), "
        f"{manifest['num_fixations']} fixations, {elapsed:.1f} s "
        f"({num_examples / max(elapsed, 1e-9):.1f} img/s)")
    return manifest


def _write_shards_and_manifest(output_dir, raw_examples, options, *, prefix, num_shards, workers,
                               strict, progress, log, manifest_fields):
    """Prepares the examples (in worker processes) into shards + manifest in `output_dir`."""
    start_time = time.time()
    jobs = ((raw, options) for raw in raw_examples)
    pool = None
    if workers > 1:
        # spawn, not fork: forking a process that has TensorFlow loaded can deadlock. Each worker
        # loads TensorFlow (its decoder) at the parent's log verbosity: quiet by default, as the
        # CLI itself (TensorFlow's start-up lines ignore TF_CPP_MIN_LOG_LEVEL: salgan_tf.cli).
        pool = multiprocessing.get_context("spawn").Pool(
            workers, initializer=cli.quiet_start, initargs=(logging.get_verbosity(),))
        results = pool.imap(prepare.prepare_star, jobs, chunksize=2)
    else:
        results = map(prepare.prepare_star, jobs)
    bar = _progress(len(raw_examples), progress)
    counts, skipped = {}, []
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
            counts[name] = shards.write_shard(os.path.join(output_dir, name),
                                              examples_of_shard(end - begin))
    finally:
        if bar is not None:
            bar.close()
        if pool is not None:
            pool.terminate()
            pool.join()
    if sum(counts.values()) == 0:
        raise ConversionError(f"{manifest_fields['input_dir']}: all {len(raw_examples)} examples "
                              f"were bad input; first: {skipped[0]['error']}")
    return shards.write_manifest(
        output_dir, counts, **manifest_fields,
        resize=list(options.resize) if options.resize else None,
        image_format=options.image_format, map_bit_depth=options.map_bit_depth,
        num_skipped=len(skipped), skipped=skipped, num_fixations=totals["fixations"],
        num_unique_fixated_pixels=totals["unique_pixels"],
        seconds=round(time.time() - start_time, 2))
