"""Reads converted TFRecords back and compares them with the source dataset (manual check).

    python bench/data_check_conversion.py --dataset=osie --input=../shared/data/osie \
        --records='/tmp/records/osie/*.tfrecord'

For every example: the stored image decodes to the source image (byte-identical file when it was
stored at the original size), the fixation lists equal the reader's, the stored map equals the
map recomputed from the fixations (max abs difference printed), and the manifest checks out.
Prints totals: examples, fixations, unique fixated pixels, worst map difference.
"""
import argparse
import glob
import os
import sys

import numpy as np
import tensorflow as tf

from salgan_tf.data import density
from salgan_tf.data import images
from salgan_tf.data import pipeline
from salgan_tf.data import prepare
from salgan_tf.data import readers
from salgan_tf.data import schema
from salgan_tf.data import shards


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", required=True, choices=sorted(readers.READERS))
    parser.add_argument("--input", required=True)
    parser.add_argument("--records", required=True, help="glob of the converted shards")
    parser.add_argument("--split", default=None)
    args = parser.parse_args()

    reader = readers.get_reader(args.dataset)
    raw = {e.name: e for e in (reader.read(args.input, args.split) if args.split
                               else reader.read(args.input))}
    paths = sorted(glob.glob(args.records))
    manifest = shards.verify_manifest(os.path.dirname(paths[0]))
    problems, seen, fixations, unique, worst_map = [], 0, 0, 0, 0.0
    identical_bytes = 0
    for serialized in tf.data.TFRecordDataset(paths):
        parsed = schema.parse_example(serialized)
        name = parsed["name"].numpy().decode()
        source = raw[name]
        seen += 1
        stored = pipeline.decode_record_image(parsed["image"]).numpy()
        original_size = (int(parsed["original_height"]), int(parsed["original_width"]))
        if stored.shape[:2] == original_size:
            with open(source.image_path, "rb") as handle:
                source_bytes = handle.read()
            if source_bytes == parsed["image"].numpy():
                identical_bytes += 1
            else:  # re-encoded (CMYK, grayscale, ...): compare decoded pixels, JPEG tolerance
                want = pipeline.decode_record_image(source_bytes).numpy().astype(int)
                diff = np.abs(stored.astype(int) - want).max()
                if diff > 8:
                    problems.append(f"{name}: image differs by up to {diff}")
        for key, want in (("fixation_rows", source.fixation_rows),
                          ("fixation_cols", source.fixation_cols),
                          ("fixation_observers", source.fixation_observers)):
            if not np.array_equal(parsed[key].numpy(), want):
                problems.append(f"{name}: {key} differ")
        fixations += len(source.fixation_rows)
        unique += len(density.unique_pixels(source.fixation_rows, source.fixation_cols,
                                                    original_size)[0])
        stored_map = pipeline.decode_map(parsed["map"]).numpy()[..., 0]
        expected = images.resize_gray(prepare.ground_truth_map(source, original_size,
                                                               args.dataset), stored.shape[:2])
        expected = expected / max(expected.max(), 1e-12)
        worst_map = max(worst_map, float(np.abs(stored_map - expected).max()))
    print(f"{args.dataset}: {seen} examples read back (manifest {manifest['num_examples']}, "
          f"reader {len(raw)}), {fixations} fixations, {unique} unique fixated pixels, "
          f"{identical_bytes} images byte-identical to their source file, "
          f"max |stored map - recomputed| = {worst_map:.5f}")
    for problem in problems[:20]:
        print("PROBLEM", problem)
    return 1 if problems or seen != len(raw) else 0


if __name__ == "__main__":
    sys.exit(main())
