"""Scores saliency maps on fixation data: `python -m salgan_tf.evaluate`.

  python -m salgan_tf.evaluate --data='records/osie-*.tfrecord' --model=runs/demo \\
      --baseline --output_dir=eval/osie
  python -m salgan_tf.evaluate --data='records/osie-*.tfrecord' --maps=predictions/ --baseline
  python -m salgan_tf.evaluate --data='records/osie-*.tfrecord' --baseline --report=eval/report

Prints a table with the mean of every metric per source (the model, the maps folder, the
centre-bias baseline) and writes per_image.csv + summary.json to --output_dir. Metrics follow the
MIT benchmark code (docs/metrics.md); the library is salgan_tf/evaluate_lib.py. --report=DIR also
writes DIR/index.html, an offline HTML report (salgan_tf/report.py, docs/report.md).
"""
import shlex
import sys

from absl import app
from absl import flags
from absl import logging

from salgan_tf import cli
from salgan_tf import evaluate_lib
from salgan_tf import map_sources
from salgan_tf.data import eval_examples
from salgan_tf.metrics import table as metric_table

_DEFAULTS = evaluate_lib.EvalConfig()

flags.DEFINE_string("data", None, "TFRecord glob written by `python -m salgan_tf.convert`.",
                    required=True)
flags.DEFINE_string("model", None, "Training run dir / checkpoint, SavedModel dir, .tflite "
                    "or .onnx file, or a shipped model's name, e.g. salgan-osie (loaded with "
                    "salgan_tf.inference.load_predictor).")
flags.DEFINE_string("model_name", "model", "Name of the --model row in the table.")
flags.DEFINE_string("maps", None, "Folder of saved PNG maps named <image stem>.png.")
flags.DEFINE_string("maps_name", "maps", "Name of the --maps row in the table.")
flags.DEFINE_bool("baseline", False, "Also score the centre-bias map (Gaussian, sigma = H/4).")
flags.DEFINE_string("output_dir", None, "Where to write per_image.csv and summary.json.")
flags.DEFINE_list("metrics", list(_DEFAULTS.metrics),
                  f"Metrics to compute, from {list(metric_table.METRICS)} (emd is slow).")
flags.DEFINE_enum("convention", _DEFAULTS.convention, ["mit", "pysaliency"],
                  "Metric conventions: MIT benchmark code (default) or pysaliency 0.2.")
flags.DEFINE_integer("n_splits", _DEFAULTS.n_splits, "Random splits of sampled AUC-Borji/sAUC.")
flags.DEFINE_integer("shuffled_other_images", _DEFAULTS.shuffled_other_images,
                     "M other images whose fixations are sAUC's MIT negatives.")
flags.DEFINE_integer("seed", _DEFAULTS.seed, "Seed of every random choice in the metrics.")
flags.DEFINE_float("center_bias_sigma", _DEFAULTS.center_bias_sigma_fraction,
                   "Centre-bias sigma as a fraction of the image height.")
flags.DEFINE_integer("max_images", None, "Score only the first N records (quick checks).")
flags.DEFINE_string("report", None, "Also write an HTML report (index.html + PNGs) to this folder.")
flags.DEFINE_string("report_sort", None, "Metric the report's gallery is sorted by, worst first "
                    "(default nss; re-sortable in the page).")
flags.DEFINE_string("report_source", None, "Source whose scores sort the gallery (default: the "
                    "first non-baseline source, or the baseline when it is the only one).")
flags.DEFINE_integer("report_thumbnail", 256, "Longest side of the report's thumbnails, px.")

FLAGS = flags.FLAGS


def main(argv):
    del argv
    try:
        return _evaluate()
    except (ValueError, FileNotFoundError) as error:  # bad input: the message names it
        print(f"error: {error}", file=sys.stderr)
        return 1


def _default_metrics():
    """--metrics as given; by default only the map metrics when no record carries fixations."""
    if FLAGS["metrics"].present:
        return tuple(FLAGS.metrics)
    records = eval_examples.read_tfrecord_examples(FLAGS.data, with_images=False,
                                                  limit=FLAGS.max_images)
    if any(len(example.fixations) for example in records):
        return tuple(FLAGS.metrics)
    print(f"note: {FLAGS.data} holds ground-truth maps but no fixation points: scoring "
          f"{', '.join(metric_table.MAP_METRICS)} only", file=sys.stderr)
    return metric_table.MAP_METRICS


def _evaluate():
    config = evaluate_lib.EvalConfig(
        metrics=_default_metrics(), convention=FLAGS.convention, n_splits=FLAGS.n_splits,
        shuffled_other_images=FLAGS.shuffled_other_images, seed=FLAGS.seed,
        center_bias_sigma_fraction=FLAGS.center_bias_sigma)
    sources = {}
    if FLAGS.model:
        from salgan_tf import inference

        sources[FLAGS.model_name] = map_sources.predictor_source(
            inference.load_predictor(FLAGS.model))
    if FLAGS.maps:
        sources[FLAGS.maps_name] = map_sources.maps_dir_source(FLAGS.maps)
    if FLAGS.baseline:
        sources[map_sources.BASELINE_SOURCE] = map_sources.center_bias_source(config)
    if not sources:
        raise app.UsageError("nothing to score: give --model, --maps and/or --baseline")
    needs_images = bool(FLAGS.model or FLAGS.report)  # the report shows the stimulus
    thumbnails = None
    if FLAGS.report:
        from salgan_tf import report

        gallery_sources = report.default_gallery_sources(sources)
        if FLAGS.report_source and FLAGS.report_source not in sources:
            raise app.UsageError(f"--report_source={FLAGS.report_source} is not a scored source "
                                 f"({list(sources)})")
        if FLAGS.report_source and FLAGS.report_source not in gallery_sources:
            gallery_sources.insert(0, FLAGS.report_source)
        if FLAGS.report_sort and FLAGS.report_sort not in config.metrics:
            raise app.UsageError(f"--report_sort={FLAGS.report_sort} is not among --metrics "
                                 f"({list(config.metrics)})")
        thumbnails = report.ThumbnailWriter(FLAGS.report, gallery_sources=gallery_sources,
                                            size=FLAGS.report_thumbnail)

    def examples():
        return eval_examples.read_tfrecord_examples(FLAGS.data, with_images=needs_images,
                                                   limit=FLAGS.max_images)

    def progress(done):
        if done % 10 == 0:
            logging.info("scored %d images", done)

    rows, summary, table = evaluate_lib.run(examples, sources, config=config,
                                            output_dir=FLAGS.output_dir, progress=progress,
                                            on_map=thumbnails)
    print(table)
    if FLAGS.output_dir:
        print(f"\nper-image CSV and summary JSON written to {FLAGS.output_dir}", file=sys.stderr)
    if FLAGS.report:
        index = report.write_report(
            FLAGS.report, rows, summary, metric_names=config.metrics, thumbnails=thumbnails,
            sort_metric=FLAGS.report_sort, sort_source=FLAGS.report_source,
            title=f"salgan_tf evaluation: {', '.join(sources)}",
            details={"data": FLAGS.data, "convention": config.convention,
                     "seed": str(config.seed),
                     "command": "python -m salgan_tf.evaluate " + shlex.join(sys.argv[1:])})
        print(f"HTML report written to {index}", file=sys.stderr)


def run():
    """The `salgan-evaluate` console script."""
    cli.run(main, __name__)


if __name__ == "__main__":
    run()
