"""Latency, size and fidelity of every export kind, side by side, on this CPU.

  python bench/export_latency.py --checkpoint=runs/salicon
  # no trained run at hand: ImageNet VGG encoder + random decoder, output layer rescaled
  python bench/export_latency.py --encoder_weights=~/.cache/salgan_tf/vgg16_imagenet_notop.weights.h5 \\
      --rescale_output

Exports the generator to a SavedModel and to TFLite none/float16/dynamic/int8 (int8 calibrated
on --calibration_images OSIE stimuli), then on the same real images prints per kind:
file size, latency per image (network at its input size, batch 1, median of --repeats), Pearson CC
of the original-size map against the SavedModel's (mean and min over --fidelity_images images), and
the evaluate metric table (salgan_tf.evaluate_lib, MIT conventions) on OSIE eye fixations.

`--rescale_output` (untrained models only): an untrained decoder's logits have std ~1e-4, so its
map is constant and every CC is meaningless; this rescales the last 1x1 conv so the logits have
std 2 on the calibration images (as tests/test_export_util.py does). Numbers then check the
conversion, not saliency quality.
"""
import argparse
import os
import statistics
import sys
import tempfile
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import shared_data  # noqa: E402

DATA = str(shared_data.ROOT)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoint", help="training run dir / ckpt-N (default: build one)")
    parser.add_argument("--image_size", default="192x256", help="HxW when no --checkpoint")
    parser.add_argument("--encoder_weights", default="none")
    parser.add_argument("--rescale_output", action="store_true")
    parser.add_argument("--variants", default="none,float16,dynamic,int8")
    parser.add_argument("--osie", default=os.path.join(DATA, "osie", "data"))
    parser.add_argument("--calibration_images", type=int, default=20,
                        help="first N OSIE stimuli calibrate int8")
    parser.add_argument("--fidelity_images", type=int, default=10,
                        help="the N OSIE stimuli after the calibration ones")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--work_dir", default=None)
    parser.add_argument("--reuse", action="store_true",
                        help="reuse the SavedModel / .tflite files already in --work_dir (same "
                             "flags as the run that wrote them): re-measure without converting")
    parser.add_argument("--skip_metrics", action="store_true", help="latency and CC only")
    return parser.parse_args()


def osie_examples(osie_dir, first, count):
    """EvalExamples (image, GT density, 0-based fixations) of OSIE stimuli [first, first+count)."""
    import scipy.io
    import scipy.ndimage
    from PIL import Image

    from salgan_tf import evaluate_lib

    mat = scipy.io.loadmat(os.path.join(osie_dir, "eye", "fixations.mat"))["fixations"]
    examples = []
    for i in range(first, first + count):
        entry = mat[i, 0][0, 0]
        name = str(entry["img"][0])
        image = np.asarray(Image.open(os.path.join(osie_dir, "stimuli", name)).convert("RGB"))
        height, width = image.shape[:2]
        points = []
        for subject in entry["subjects"][:, 0]:
            subject = subject[0, 0]
            xs, ys = subject["fix_x"].ravel(), subject["fix_y"].ravel()
            # OSIE README: 1-based continuous -> 0-based (row, col), as the source code rounds.
            cols = np.clip(np.floor(xs + 0.5), 1, width).astype(int) - 1
            rows = np.clip(np.floor(ys + 0.5), 1, height).astype(int) - 1
            points.append(np.stack([rows, cols], axis=1))
        points = np.concatenate(points)
        counts = np.zeros((height, width))
        np.add.at(counts, (points[:, 0], points[:, 1]), 1)
        gt = scipy.ndimage.gaussian_filter(counts, 24)  # sigma 24 px, as the OSIE source code
        examples.append(evaluate_lib.EvalExample(name=name, gt_map=gt / gt.max(),
                                                 fixations=points, image=image))
    return examples


def median_seconds(fn, repeats):
    fn()  # warm-up (tracing, delegate setup)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main():
    args = parse_args()
    import keras
    import tensorflow as tf

    from salgan_tf.export import saved_model as saved_model_lib
    from salgan_tf.export import tflite as tflite_lib
    from salgan_tf import checkpoints
    from salgan_tf import evaluate_lib
    from salgan_tf import generator as generator_lib
    from salgan_tf import inference
    from salgan_tf import preprocessing

    work_dir = args.work_dir or tempfile.mkdtemp(prefix="salgan_export_bench_")
    calibration = osie_examples(args.osie, 0, args.calibration_images)
    evaluation = osie_examples(args.osie, args.calibration_images, args.fidelity_images)
    resize_mode = "stretch"
    if args.checkpoint:
        generator, config = checkpoints.load_generator(args.checkpoint)
        resize_mode = config.resize_mode
    else:
        keras.utils.set_random_seed(0)
        size = tuple(int(s) for s in args.image_size.lower().split("x"))
        generator = generator_lib.build_generator(size, encoder_weights=os.path.expanduser(
            args.encoder_weights))
    image_size = tuple(generator.input_shape[1:3])
    network_inputs = np.stack([
        preprocessing.resize_image(e.image, image_size, mode=resize_mode,
                                   pad_value=preprocessing.IMAGENET_RGB_MEAN).numpy()
        for e in calibration])
    if args.rescale_output:
        layer = generator.get_layer(generator_lib.OUTPUT_LOGITS_LAYER)
        logits = keras.Model(generator.input, layer.output).predict(
            preprocessing.vgg_preprocess(network_inputs), verbose=0)
        kernel, bias = layer.get_weights()
        scale = 2.0 / logits.std()
        layer.set_weights([kernel * scale, (bias - logits.mean()) * scale])

    print(f"model {image_size[0]}x{image_size[1]} (HxW), {resize_mode}, "
          f"{generator.count_params():,} params; work dir {work_dir}; threads {args.threads}; "
          f"{len(calibration)} calibration + {len(evaluation)} fidelity OSIE images")
    version_dir = os.path.join(work_dir, "saved_model", "1")
    if not (args.reuse and os.path.isdir(version_dir)):
        saved_model_lib.export_saved_model(generator, version_dir, resize_mode=resize_mode)
    sizes = {"saved_model": sum(os.path.getsize(os.path.join(root, f))
                                for root, _, files in os.walk(version_dir) for f in files)}
    predictors = {"saved_model": inference.load_predictor(version_dir)}
    conversion_seconds = {}
    for variant in args.variants.split(","):
        path = os.path.join(work_dir, f"salgan_{variant}.tflite")
        if not (args.reuse and os.path.isfile(path)):
            start = time.time()
            tflite_bytes, metadata = tflite_lib.convert(
                version_dir, variant,
                representative_images=[e.image for e in calibration] if variant == "int8"
                else None)
            conversion_seconds[variant] = time.time() - start
            tflite_lib.write(tflite_bytes, metadata, path)
        sizes[f"tflite_{variant}"] = os.path.getsize(path)
        predictors[f"tflite_{variant}"] = inference.load_predictor(path, num_threads=args.threads)

    # Latency: the network at its input size, batch 1, on a real image.
    sample = network_inputs[:1]
    keras_fn = tf.function(lambda x: generator(preprocessing.vgg_preprocess(x), training=False))
    latency = {"keras": median_seconds(lambda: keras_fn(tf.constant(sample)).numpy(),
                                       args.repeats)}
    for name, predictor in predictors.items():
        latency[name] = median_seconds(lambda p=predictor: p.predict_small(sample), args.repeats)
    encoded = tf.io.encode_jpeg(tf.constant(evaluation[0].image)).numpy()
    serve = predictors["saved_model"].saved_model.signatures["serving_default"]
    latency["saved_model serving_default (JPEG in, original-size map out)"] = median_seconds(
        lambda: serve(images=tf.constant([encoded]))["saliency"].numpy(), args.repeats)

    reference = [predictors["saved_model"].predict(e.image) for e in evaluation]
    print(f"\nreference map std (SavedModel, mean over images): "
          f"{np.mean([r.std() for r in reference]):.4f}")
    print("\n| kind | file size | ms / image | CC vs SavedModel (mean / min) | convert s |")
    print("|---|---|---|---|---|")
    for name in latency:
        ccs = ""
        if name in predictors and name != "saved_model":
            values = [np.corrcoef(predictors[name].predict(e.image).ravel(), r.ravel())[0, 1]
                      for e, r in zip(evaluation, reference)]
            ccs = f"{np.mean(values):.6f} / {np.min(values):.6f}"
        size = f"{sizes[name] / 1e6:.1f} MB" if name in sizes else ""
        convert = name.replace("tflite_", "")
        seconds = f"{conversion_seconds[convert]:.0f}" if convert in conversion_seconds else ""
        print(f"| {name} | {size} | {latency[name] * 1000:.0f} | {ccs} | {seconds} |")

    if args.skip_metrics:
        return
    config = evaluate_lib.EvalConfig(metrics=("auc_judd", "nss", "cc", "kld", "sim"))
    sources = {name: evaluate_lib.predictor_source(p) for name, p in predictors.items()}
    sources[evaluate_lib.BASELINE_SOURCE] = evaluate_lib.center_bias_source(config)
    _, _, table = evaluate_lib.run(lambda: evaluation, sources, config=config)
    print(f"\nmetrics on {len(evaluation)} OSIE images (MIT conventions):\n{table}")


if __name__ == "__main__":
    main()
