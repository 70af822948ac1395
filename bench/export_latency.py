"""Latency, size and fidelity of every export kind, side by side, on this CPU.

  python bench/export_latency.py --checkpoint=runs/salicon
  # no trained run at hand: ImageNet VGG encoder + random decoder, output layer rescaled
  python bench/export_latency.py --encoder_weights=~/.cache/salgan_tf/vgg16_imagenet_notop.weights.h5 \\
      --rescale_output

Exports the generator to a SavedModel, to LiteRT none/float16/dynamic/int8 (int8 calibrated on
--calibration_images OSIE stimuli) and to ONNX (needs `salgan_tf[onnx]`), then on the same real
images prints per kind: file size, latency per image (network at its input size, batch 1, median of
--repeats; LiteRT and onnxruntime with --threads), Pearson CC and KLD of the original-size map
against the SavedModel's (CC mean and min, KLD(SavedModel || kind) mean, over --fidelity_images
images), and the evaluate metric table (salgan_tf.evaluate_lib, MIT conventions) on OSIE eye
fixations, whose KLD column is the one the int8 bound of docs/export.md is about.

`int8_quantized_sigmoid` (in --variants by default) is the int8 of main before issue 14, kept
here only to compare: every op int8 including the output sigmoid (the map on a 1/256 grid).

`--rescale_output` (untrained models only): an untrained decoder's logits have std ~1e-4, so its
map is constant and every CC is meaningless; this rescales the last 1x1 conv so the logits have
std 2 on the calibration images (as tests/conftest.py does). Numbers then check the
conversion, not saliency quality.
"""
import argparse
import itertools
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import shared_data  # noqa: E402

DATA = str(shared_data.ROOT)
# Bench-only variant: main's int8 before issue 14, for comparison (module docstring).
OLD_INT8 = "int8_quantized_sigmoid"


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoint", help="training run dir / ckpt-N (default: build one)")
    parser.add_argument("--image_size", default="192x256", help="HxW when no --checkpoint")
    parser.add_argument("--encoder_weights", default="none")
    parser.add_argument("--rescale_output", action="store_true")
    parser.add_argument("--variants", default=f"none,float16,dynamic,int8,{OLD_INT8}")
    parser.add_argument("--no_onnx", action="store_true", help="skip the ONNX export")
    parser.add_argument("--osie", default=os.path.join(DATA, "osie", "data"))
    parser.add_argument("--calibration_images", type=int, default=20,
                        help="first N OSIE stimuli calibrate int8")
    parser.add_argument("--fidelity_images", type=int, default=10,
                        help="the N OSIE stimuli after the calibration ones")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--work_dir", default=None)
    parser.add_argument("--reuse", action="store_true",
                        help="reuse the SavedModel / .tflite / .onnx files already in --work_dir "
                             "(same flags as the run that wrote them): re-measure without "
                             "converting")
    parser.add_argument("--skip_metrics", action="store_true", help="latency and fidelity only")
    return parser.parse_args()


def osie_examples(osie_dir, first, count):
    """EvalExamples (image, GT density, 0-based fixations) of OSIE images [first, first+count) in
    fixations.mat order (1001, 1002, ...), read as salgan_tf.convert reads them."""
    from salgan_tf.data import eval_examples
    from salgan_tf.data import images
    from salgan_tf.data import prepare
    from salgan_tf.data.readers import osie

    examples = []
    for raw in itertools.islice(osie.read(osie_dir), first, first + count):
        image = images.decode_image(raw.image_path)
        examples.append(eval_examples.EvalExample(
            name=os.path.basename(raw.image_path),
            gt_map=prepare.ground_truth_map(raw, image.shape[:2], osie.NAME),
            fixations=np.stack([raw.fixation_rows, raw.fixation_cols], axis=1), image=image))
    return examples


def convert_int8_quantized_sigmoid(version_dir, calibration_images):
    """main's int8 before issue 14: the converter's full-integer default, sigmoid included."""
    import tensorflow as tf

    from salgan_tf import inference
    from salgan_tf.export import tflite as tflite_lib

    predictor = tflite_lib.load_serving_module(version_dir)
    converter = tf.lite.TFLiteConverter.from_concrete_functions(
        [tflite_lib.network_function(predictor.runtime,
                                     predictor.image_size).get_concrete_function()],
        predictor.runtime)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    samples = [predictor.to_network_input(inference.as_rgb(image))[None]
               for image in calibration_images]
    converter.representative_dataset = lambda: ([sample] for sample in samples)
    return converter.convert()


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

    from salgan_tf import checkpoints
    from salgan_tf import evaluate_lib
    from salgan_tf import generator as generator_lib
    from salgan_tf import inference
    from salgan_tf import map_sources
    from salgan_tf import metrics
    from salgan_tf import preprocessing
    from salgan_tf.export import saved_model as saved_model_lib
    from salgan_tf.export import tflite as tflite_lib

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
    conversion_seconds = {}
    onnx_path = os.path.join(work_dir, "salgan.onnx")
    if not args.no_onnx and not (args.reuse and os.path.isfile(onnx_path)):
        # The CLI in its own process, first: tf2onnx peaks at ~7 GB for these weights, on top
        # of what this process holds once the other models are loaded.
        start = time.time()
        subprocess.run([sys.executable, "-m", "salgan_tf.export.onnx",
                        f"--saved_model={version_dir}", f"--output={onnx_path}"], check=True)
        conversion_seconds["onnx"] = time.time() - start
    predictors = {"saved_model": inference.load_predictor(version_dir)}
    calibration_images = [e.image for e in calibration]
    for variant in args.variants.split(","):
        name = f"tflite_{variant}"
        path = os.path.join(work_dir, f"salgan_{variant}.tflite")
        if not (args.reuse and os.path.isfile(path)):
            start = time.time()
            if variant == OLD_INT8:
                tflite_bytes, metadata = tflite_lib.with_settings(
                    convert_int8_quantized_sigmoid(version_dir, calibration_images), image_size,
                    resize_mode, "none", quantize="int8",
                    calibration_images=len(calibration_images))
            else:
                tflite_bytes, metadata = tflite_lib.convert(
                    version_dir, variant,
                    representative_images=calibration_images if variant == "int8" else None)
            conversion_seconds[name] = time.time() - start
            tflite_lib.write(tflite_bytes, metadata, path)
        sizes[name] = os.path.getsize(path)
        predictors[name] = inference.load_predictor(path, num_threads=args.threads)
    if not args.no_onnx:
        sizes["onnx"] = os.path.getsize(onnx_path)
        predictors["onnx"] = inference.load_predictor(onnx_path, num_threads=args.threads)

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
    print("\n| kind | file size | ms / image | CC vs SavedModel (mean / min) | "
          "KLD(SavedModel ‖ kind) mean | zero pixels | convert s |")
    print("|---|---|---|---|---|---|---|")
    for name in latency:
        fidelity = ["", "", ""]
        if name in predictors and name != "saved_model":
            maps = [predictors[name].predict(e.image) for e in evaluation]
            ccs = [np.corrcoef(m.ravel(), r.ravel())[0, 1] for m, r in zip(maps, reference)]
            klds = [metrics.kld(m, r) for m, r in zip(maps, reference)]
            fidelity = [f"{np.mean(ccs):.6f} / {np.min(ccs):.6f}", f"{np.mean(klds):.1e}",
                        f"{100 * np.mean([np.mean(m == 0) for m in maps]):.1f} %"]
        size = f"{sizes[name] / 1e6:.1f} MB" if name in sizes else ""
        seconds = f"{conversion_seconds[name]:.0f}" if name in conversion_seconds else ""
        print(f"| {name} | {size} | {latency[name] * 1000:.1f} | {' | '.join(fidelity)} | "
              f"{seconds} |")

    if args.skip_metrics:
        return
    config = evaluate_lib.EvalConfig(metrics=("auc_judd", "nss", "cc", "kld", "sim"))
    sources = {name: map_sources.predictor_source(p) for name, p in predictors.items()}
    sources[map_sources.BASELINE_SOURCE] = map_sources.center_bias_source(config)
    _, summary, table = evaluate_lib.run(lambda: evaluation, sources, config=config)
    print(f"\nmetrics on {len(evaluation)} OSIE images (MIT conventions):\n{table}")
    float_kld = summary["saved_model"]["kld"]["mean"]
    print("\nKLD vs the fixations, relative to the SavedModel's (issue 14: int8 within 1.05):")
    for name in predictors:
        print(f"  {name}: {summary[name]['kld']['mean'] / float_kld:.4f}")


if __name__ == "__main__":
    main()
