"""Data-layer throughput on this machine: converter images/s and pipeline images/s (printed).

    python bench/data_throughput.py                       # pipeline on synthetic JPEG records
    python bench/data_throughput.py --convert_input=../shared/data/osie --convert_limit=100

Pipeline: `make_dataset(training=True, flip=True)` over records pre-resized to 192x256 (the
converter's `--resize=256x192`): read + decode JPEG/PNG + (no-op) resize + flip + shuffle + batch +
caffe preprocessing + x4 maps, timed after a warm-up. Converter: `convert()` of the first
`--convert_limit` OSIE images with `--resize=256x192`, `--workers` processes, including the
workers' start-up. No assertions: it prints numbers.
"""
import argparse
import os
import tempfile
import time

import tensorflow as tf

from salgan_tf.data import converter
from salgan_tf.data import pipeline
from salgan_tf.data import synthetic


def time_pipeline(pattern, batch_size, batches, warmup):
    ds = pipeline.make_dataset(pattern, image_size=(192, 256), batch_size=batch_size,
                               training=True, flip=True, seed=0, repeat=True,
                               drop_remainder=True)
    iterator = iter(ds)
    for _ in range(warmup):
        next(iterator)
    start, cpu_start = time.perf_counter(), time.process_time()
    for _ in range(batches):
        batch = next(iterator)
    _ = batch["image"].numpy()
    elapsed = time.perf_counter() - start
    cpu_ms = 1000 * (time.process_time() - cpu_start) / (batches * batch_size)
    return batches * batch_size / elapsed, cpu_ms


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", default=None,
                        help="glob of 192x256 records (default: write 256 synthetic JPEG ones)")
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--batches", type=int, default=60)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--convert_input", default=None, help="OSIE folder to time the converter")
    parser.add_argument("--convert_limit", type=int, default=100)
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        pattern = args.records
        if pattern is None:
            synthetic.write_synthetic_tfrecords(os.path.join(scratch, "synthetic"), 256, 192, 256,
                                                seed=0, num_shards=4, image_format="jpeg")
            pattern = os.path.join(scratch, "synthetic", "*.tfrecord")
        rate, cpu_ms = time_pipeline(pattern, args.batch_size, args.batches, args.warmup)
        print(f"pipeline: {rate:.0f} img/s at 192x256 (HxW), {cpu_ms:.2f} ms CPU per image, "
              f"batch {args.batch_size}, {os.cpu_count()} CPU cores, 1-min load average "
              f"{os.getloadavg()[0]:.1f}, records {pattern}")
        if args.convert_input:
            start = time.perf_counter()
            manifest = converter.convert(
                "osie", args.convert_input, os.path.join(scratch, "osie"), resize=(192, 256),
                limit=args.convert_limit, workers=args.workers, progress=False,
                log=lambda message: None)
            elapsed = time.perf_counter() - start
            print(f"converter: {manifest['num_examples'] / elapsed:.1f} img/s "
                  f"({manifest['num_examples']} OSIE images 800x600 -> 192x256, "
                  f"{args.workers} workers, {elapsed:.1f} s incl. start-up)")
            rate, cpu_ms = time_pipeline(os.path.join(scratch, "osie", "*.tfrecord"),
                                         args.batch_size, args.batches, args.warmup)
            print(f"pipeline on the converted OSIE records: {rate:.0f} img/s, {cpu_ms:.2f} ms "
                  "CPU per image")
    print(f"tensorflow {tf.__version__}")


if __name__ == "__main__":
    main()
