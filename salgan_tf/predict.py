"""Predicts saliency maps for an image or a folder: `python -m salgan_tf.predict`.

  python -m salgan_tf.predict --model=runs/salicon --input=photo.jpg --output=maps/
  python -m salgan_tf.predict --model=models/salgan/1 --input=../shared/data/osie/data/stimuli \\
      --output=maps/osie --overlay
  python -m salgan_tf.predict --model=salgan_int8.tflite --input=images/ --output=maps/

--model is a training run dir / checkpoint prefix, a generator `.weights.h5` (e.g. from
salgan_tf.tools.import_salgan), a SavedModel (salgan_tf.export.saved_model), a .tflite file
(salgan_tf.export.tflite) or a .onnx file (salgan_tf.export.onnx). Maps are 8-bit PNGs at each image's original size, named like the input
(`<output>/<relative path>.png`); --overlay adds heat-map overlays under `<output>/overlays/`;
--crop=16:9 adds each image cut to the most salient 16:9 box under `<output>/crops/` (boxes in
`<output>/crops/boxes.json`).
Images that cannot be read are listed at the end and the exit status is 1; the others are written.
Refused up front with a one-line error (exit 1, nothing written): an --output that is a file or
cannot be created, inputs that would write the same map (x.jpg and x.png in one folder), and any
map, overlay, crop or boxes.json that would be an input image or another output's file.
The library is salgan_tf/predict_lib.py.
"""
import sys

from absl import flags

from salgan_tf import cli
from salgan_tf import crop
from salgan_tf import predict_lib
from salgan_tf.data import images

flags.DEFINE_string("model", None, "Training run dir / ckpt-N, generator .weights.h5, SavedModel "
                    "dir, .tflite or .onnx file, or a shipped model's name (salgan-osie).",
                    required=True)
flags.DEFINE_string("input", None, "An image file or a folder of images (recursive).",
                    required=True)
flags.DEFINE_string("output", None, "Output folder for the PNG maps.", required=True)
flags.DEFINE_bool("overlay", False, "Also write heat-map overlays to <output>/overlays/.")
flags.DEFINE_integer("batch_size", None,
                     "Images per network call (default: inference.DEFAULT_BATCH_SIZE).")
flags.DEFINE_enum("resize_mode", None, ["stretch", "letterbox"],
                  "Override the model's resize mode (default: the training run's).")
flags.DEFINE_enum("postprocess", None, ["none", "paper"],
                  "'paper': the authors' cubic resize + 5x5 Gaussian blur (salgan_tf.postprocess); "
                  "default: the model's own (what its export recorded; 'none' for a training run).")
flags.DEFINE_string("crop", None, "Also write each image cut to the box of this aspect (W:H, e.g. "
                    "16:9) that keeps the most saliency, to <output>/crops/ (salgan_tf.crop).")
flags.DEFINE_integer("max_pixels", images.DEFAULT_MAX_PIXELS,
                     "Skip (and report) images with more pixels than this.")

FLAGS = flags.FLAGS


def _progress(total):
    try:
        from tqdm import tqdm
    except ImportError:
        return predict_lib.text_progress(), lambda: None
    bar = tqdm(total=total, unit="img", file=sys.stderr)

    def update(done, _):
        bar.update(done - bar.n)

    return update, bar.close


def main(argv):
    del argv
    from salgan_tf import inference  # loads TensorFlow: after cli.run's quiet start

    batch_size = inference.DEFAULT_BATCH_SIZE if FLAGS.batch_size is None else FLAGS.batch_size
    try:
        if FLAGS.crop is not None:
            crop.parse_aspect(FLAGS.crop)
        predictor = inference.load_predictor(FLAGS.model, resize_mode=FLAGS.resize_mode,
                                             postprocess=FLAGS.postprocess,
                                             batch_size=batch_size,
                                             max_pixels=FLAGS.max_pixels)
        root, paths = predict_lib.find_images(FLAGS.input, output_dir=FLAGS.output)
    except (FileNotFoundError, ValueError, ImportError) as error:  # names the path
        print(f"error: {error}", file=sys.stderr)
        return 1
    try:
        predict_lib.plan_outputs(paths, root, FLAGS.output, with_overlay=FLAGS.overlay,
                                 with_crop=FLAGS.crop is not None)
        predict_lib.check_output_dir(FLAGS.output)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    update, close = _progress(len(paths))
    try:
        report = predict_lib.predict_files(predictor, paths, FLAGS.output, root=root,
                                           with_overlay=FLAGS.overlay, crop_aspect=FLAGS.crop,
                                           progress=update)
    except OSError as error:  # writing failed (disk full, folder removed): one line, no traceback
        print(f"\nerror: cannot write {error.filename or FLAGS.output}: "
              f"{error.strerror or error}", file=sys.stderr)
        return 1
    finally:
        close()
    print(report.summary())
    return 1 if report.failed else 0


def run():
    """The `salgan-predict` console script."""
    cli.run(main, __name__)


if __name__ == "__main__":
    run()
