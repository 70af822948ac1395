"""The TFRecord conversion tool (flags only; the work is in `salgan_tf.data.converter`).

    python -m salgan_tf.convert --dataset=osie --input=../shared/data/osie \
        --output=/tmp/records/osie --resize=256x192

Exit status: 0 = all converted, 2 = some bad inputs skipped (listed in the manifest), 1 = error.
Writes `<dataset>-<split>-0000i-of-0000N.tfrecord` shards (docs/data.md) and `manifest.json`,
replacing the output folder whole when done; a failed or killed run leaves it as it was.
`--resize` is W x H like the paper's "256x192"; the stored (H, W) is (192, 256).
"""
import sys

from absl import flags

from salgan_tf.data import readers
from salgan_tf import cli

FLAGS = flags.FLAGS
flags.DEFINE_enum("dataset", None, sorted(readers.READERS), "Dataset to convert.")
flags.DEFINE_string("input", None, "Dataset folder as released (see docs/data.md).")
flags.DEFINE_string("output", None, "Output folder for the shards and manifest.json.")
flags.DEFINE_string("split", None, "Split to convert (default: the dataset's first/only one).")
flags.DEFINE_integer("num_shards", None, "Number of shards (default: one per 256 examples).")
flags.DEFINE_string("resize", None, "Pre-resize images and maps to WxH, e.g. 256x192 "
                    "(stretch; fixations stay in the original grid).")
flags.DEFINE_bool("strict", False, "Stop at the first bad input instead of skipping it.")
flags.DEFINE_integer("workers", None, "Worker processes (default: number of CPU cores).")
flags.DEFINE_enum("image_format", "jpeg", ["jpeg", "png"], "How images are stored.")
flags.DEFINE_integer("jpeg_quality", 95, "JPEG quality of stored images.")
flags.DEFINE_enum("map_bits", "8", ["8", "16"], "Bit depth of the stored ground-truth PNG maps.")
flags.DEFINE_integer("limit", None, "Convert only the first N examples.")
flags.DEFINE_bool("progress", True, "Show a progress bar.")
flags.mark_flags_as_required(["dataset", "input", "output"])


def main(argv):
    del argv
    # Imported here, not at the top: the converter's spawned workers re-import this module, and
    # the converter loads TensorFlow, which the workers do not need (they start in ~1 s without).
    from salgan_tf.data import converter
    try:
        manifest = converter.convert(
            FLAGS.dataset, FLAGS.input, FLAGS.output, split=FLAGS.split,
            num_shards=FLAGS.num_shards, resize=converter.parse_resize(FLAGS.resize),
            strict=FLAGS.strict,
            workers=FLAGS.workers, image_format=FLAGS.image_format,
            jpeg_quality=FLAGS.jpeg_quality, map_bit_depth=int(FLAGS.map_bits),
            limit=FLAGS.limit, progress=FLAGS.progress,
            log=lambda message: print(message, file=sys.stderr))
    except (converter.ConversionError, ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0 if manifest["num_skipped"] == 0 else 2


def run():
    """The `salgan-convert` console script."""
    cli.run(main, __name__)


if __name__ == "__main__":
    run()
