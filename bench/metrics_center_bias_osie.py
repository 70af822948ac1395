"""Centre-bias baseline on OSIE 1001-1100, end to end through TFRecords and the evaluate CLI code.

  source /work/venv/bin/activate
  python bench/metrics_center_bias_osie.py --records_dir=/tmp/osie_eval --output_dir=/tmp/osie_cb

1. Writes OSIE 1001..1100 as records of the salgan_tf schema with the data layer's own record
   builder (`salgan_tf.data.records.build_record`: original 800x600 JPEG, GT = binary fixation map
   blurred with sigma 24 px as an 8-bit PNG, fixations 0-based in the original grid), reading
   `fixations.mat` and the stimuli directly (skipped when the records already exist).
   The same through `python -m salgan_tf.convert --dataset=osie --limit=100`: docs/metrics.md.
2. Runs the same library call as
   `python -m salgan_tf.evaluate --data=<records_dir>/osie-*.tfrecord --baseline --output_dir=...`
   and prints the table (mean of each metric over the 100 images) and the time taken.
"""
import argparse
import pathlib
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import metrics_osie_data as osie  # noqa: E402

from salgan_tf import evaluate_lib  # noqa: E402
from salgan_tf import map_sources  # noqa: E402
from salgan_tf.data import eval_examples  # noqa: E402


def write_records(records_dir, first, last, shared_data=None):
    from salgan_tf.data import images
    from salgan_tf.data import records
    from salgan_tf.data import shards

    root = osie.osie_root(shared_data)
    fixations = osie.read_osie_fixations(root, first, last)
    serialized = []
    for name in sorted(fixations):
        rgb = images.load_rgb(root / "stimuli" / name)
        points = fixations[name]
        gt = osie.gt_map_from_fixations(points, rgb.shape[:2])
        record, _ = records.build_record(
            name=name, rgb=rgb, saliency=gt, fixation_rows=points[:, 0],
            fixation_cols=points[:, 1], dataset="osie", image_format="jpeg", map_bit_depth=8)
        serialized.append(record)
    records_dir.mkdir(parents=True, exist_ok=True)
    name = f"osie-{first}-{last}.tfrecord"
    shards.write_shard(str(records_dir / name), serialized)
    shards.write_manifest(str(records_dir), {name: len(serialized)})  # readers check it
    return len(serialized)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records_dir", default="/tmp/osie_eval_records")
    parser.add_argument("--output_dir", default="/tmp/osie_center_bias")
    parser.add_argument("--first", type=int, default=1001)
    parser.add_argument("--last", type=int, default=1100)
    parser.add_argument("--shared_data", default=None)
    args = parser.parse_args()

    records_dir = pathlib.Path(args.records_dir)
    pattern = str(records_dir / f"osie-{args.first}-{args.last}.tfrecord")
    if not pathlib.Path(pattern).exists():
        start = time.perf_counter()
        count = write_records(records_dir, args.first, args.last, args.shared_data)
        print(f"wrote {count} records to {pattern} in {time.perf_counter() - start:.1f} s")
    config = evaluate_lib.EvalConfig()
    sources = {map_sources.BASELINE_SOURCE: map_sources.center_bias_source(config)}
    start = time.perf_counter()
    rows, _, table = evaluate_lib.run(
        lambda: eval_examples.read_tfrecord_examples(pattern, with_images=False), sources,
        config=config, output_dir=args.output_dir)
    print(f"scored {len(rows)} images in {time.perf_counter() - start:.1f} s "
          f"(per-image CSV + JSON in {args.output_dir})\n")
    print(table)


if __name__ == "__main__":
    main()
