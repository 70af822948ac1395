"""All metrics on 100 OSIE images at 800x600: our time vs pysaliency's, and a value cross-check.

  source /work/venv/bin/activate
  OPENBLAS_NUM_THREADS=1 python bench/metrics_vs_pysaliency.py [--images 100] [--repeats 2] \
      [--pysaliency_python /work/venv-pysal/bin/python]

Data: OSIE 1001..(1000+N) read straight from fixations.mat (bench/metrics_osie_data.py); GT =
fixations blurred with sigma 24 px; the scored 'model' is a deterministic imperfect map
(`fake_prediction`). Ours: every metric of evaluate_lib (both sampled and exact AUC forms) timed
on in-memory maps. pysaliency 0.2.x runs in its own venv (bench/metrics_pysaliency_worker.py) on
the same float32 maps and fixations; its time covers AUC-Judd (jitter), AUC (uniform), sAUC, NSS,
CC, MIT_KLDiv, SIM and IG. Skipped, with a message, when that venv is absent.
Prints seconds, the speed ratio, and per metric the mean of ours (MIT and pysaliency conventions),
pysaliency's, and the largest per-image |difference|.
"""
import argparse
import json
import pathlib
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import metrics_osie_data as osie  # noqa: E402

from salgan_tf import baselines  # noqa: E402
from salgan_tf import evaluate_lib  # noqa: E402
from salgan_tf.data import eval_examples  # noqa: E402
from salgan_tf.metrics import negatives  # noqa: E402
from salgan_tf.metrics import table as metric_table  # noqa: E402

# Our metric -> the pysaliency result it is compared with (worker keys).
PAIRS = [
    ("auc_judd", "auc_judd_nojitter", dict(judd_jitter=False)),
    ("auc_borji_exact", "auc_uniform", {}),
    ("sauc_exact", "sauc", {}),
    ("nss", "nss", {}),
    ("cc", "cc", {}),
    ("kld", "kld", {}),
    ("sim", "sim", {}),
    ("ig", "ig", {}),
]
SAME_WORK = ("auc_judd", "auc_borji_exact", "sauc_exact", "nss", "cc", "kld", "sim", "ig")


def build_data(num_images, shared_data=None):
    fixations = osie.read_osie_fixations(osie.osie_root(shared_data), 1001, 1000 + num_images)
    names = sorted(fixations)
    gts = np.stack([osie.gt_map_from_fixations(fixations[n]) for n in names]).astype(np.float32)
    preds = np.stack([osie.fake_prediction(g, i) for i, g in enumerate(gts)]).astype(np.float32)
    examples = [eval_examples.EvalExample(name=n, gt_map=gts[i].astype(np.float64),
                                         fixations=fixations[n]) for i, n in enumerate(names)]
    return names, fixations, gts, preds, examples


def score_ours(examples, preds, config, repeats=1):
    """Rows and the best-of-`repeats` (wall seconds, CPU seconds) of evaluate_lib.evaluate."""
    by_name = {e.name: (e.shape, e.fixations) for e in examples}
    shuffled = negatives.ShuffledNegatives(by_name, other_images=config.shuffled_other_images,
                                              seed=config.seed)
    lookup = {e.name: preds[i] for i, e in enumerate(examples)}
    wall = cpu = float("inf")
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        rows = evaluate_lib.evaluate(examples, {"fake": lambda e: lookup[e.name]}, config=config,
                                     shuffled=shuffled)
        wall = min(wall, time.perf_counter() - start)
        cpu = min(cpu, time.process_time() - start_cpu)
    return rows, (wall, cpu)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=100)
    parser.add_argument("--shared_data", default=None)
    parser.add_argument("--pysaliency_python", default="/work/venv-pysal/bin/python")
    parser.add_argument("--repeats", type=int, default=2, help="best of N timings per side")
    args = parser.parse_args()

    names, fixations, gts, preds, examples = build_data(args.images, args.shared_data)
    print(f"OSIE {names[0]}..{names[-1]}: {len(names)} images {gts.shape[1]}x{gts.shape[2]} "
          f"(HxW), {sum(len(f) for f in fixations.values())} fixations")

    all_rows, ours_all = score_ours(examples, preds, evaluate_lib.EvalConfig(), args.repeats)
    print(f"ours, all {len(metric_table.DEFAULT_METRICS)} metrics "
          f"({', '.join(metric_table.DEFAULT_METRICS)}): {ours_all[0]:.2f} s wall, "
          f"{ours_all[1]:.2f} s CPU")
    _, ours_same = score_ours(examples, preds, evaluate_lib.EvalConfig(metrics=SAME_WORK),
                              args.repeats)
    print(f"ours, the pysaliency set ({', '.join(SAME_WORK)}): {ours_same[0]:.2f} s wall, "
          f"{ours_same[1]:.2f} s CPU")

    worker = pathlib.Path(__file__).resolve().parent / "metrics_pysaliency_worker.py"
    if not pathlib.Path(args.pysaliency_python).exists():
        print(f"pysaliency venv not found at {args.pysaliency_python}: no ratio / cross-check")
        return
    with tempfile.TemporaryDirectory() as tmp:
        np.save(f"{tmp}/predictions.npy", preds)
        np.save(f"{tmp}/gt_maps.npy", gts)
        centre = baselines.center_bias_map(*gts.shape[1:])
        np.save(f"{tmp}/center_bias.npy", centre)
        n = np.concatenate([np.full(len(fixations[name]), i) for i, name in enumerate(names)])
        points = np.concatenate([fixations[name] for name in names])
        np.savez(f"{tmp}/fixations.npz", rows=points[:, 0], cols=points[:, 1], n=n)
        subprocess.run([args.pysaliency_python, str(worker), tmp, f"{tmp}/out.json",
                        str(args.repeats)], check=True)
        theirs = json.loads(pathlib.Path(f"{tmp}/out.json").read_text())
    same_wall = sum(v for k, v in theirs["seconds"].items() if k != "auc_judd_nojitter")
    same_cpu = sum(v for k, v in theirs["cpu_seconds"].items() if k != "auc_judd_nojitter")
    print(f"pysaliency {theirs['pysaliency_version']} (numpy {theirs['numpy']}), same set: "
          f"{same_wall:.2f} s wall, {same_cpu:.2f} s CPU  [CPU s: " +
          ", ".join(f"{k} {v:.2f}" for k, v in theirs["cpu_seconds"].items()) + "]")
    print(f"speed-up on the same set: {same_wall / ours_same[0]:.1f}x wall, "
          f"{same_cpu / ours_same[1]:.1f}x CPU; counting all our "
          f"{len(metric_table.DEFAULT_METRICS)} metrics: {same_cpu / ours_all[1]:.1f}x CPU")

    # Per metric: the AUCs are where vectorising pays; CC/KLD/SIM/NSS/IG are a few NumPy passes
    # over the image in both libraries (memory-bound), so they cannot be 10x apart. Each of our
    # lines runs that metric alone, so it includes the per-image work the full run shares
    # (copying the map, checking it, its min/max/sum, the fixation indices), timed on its own:
    _, (_, setup_cpu) = score_ours(examples, preds, evaluate_lib.EvalConfig(metrics=()),
                                   args.repeats)
    print(f"\nCPU ms per image, per metric (ours MIT / pysaliency); ours include "
          f"{setup_cpu / len(examples) * 1e3:.2f} ms of per-image setup shared in a full run:")
    for ours_name, their_name in [("auc_judd", "auc_judd_jitter_mean"),
                                  ("auc_borji_exact", "auc_uniform"), ("sauc_exact", "sauc"),
                                  ("nss", "nss"), ("cc", "cc"), ("kld", "kld"), ("sim", "sim"),
                                  ("ig", "ig"), ("auc_borji", None), ("sauc", None)]:
        _, (_, cpu) = score_ours(examples, preds, evaluate_lib.EvalConfig(metrics=(ours_name,)),
                                 args.repeats)
        mine = cpu / len(examples) * 1e3
        if their_name is None:
            print(f"  {ours_name:<16} {mine:7.2f}   (MIT sampled form; pysaliency has none)")
            continue
        theirs_ms = theirs["cpu_seconds"][their_name] / len(examples) * 1e3
        print(f"  {ours_name:<16} {mine:7.2f} / {theirs_ms:7.2f}  = {theirs_ms / mine:5.1f}x")

    # Cross-check: ours with the pysaliency convention must match pysaliency; MIT may differ.
    print("\ncross-check, mean over images (max |per-image diff|):")
    print(f"{'metric':<16} {'ours MIT':>10} {'ours pysal':>11} {'pysaliency':>11} "
          f"{'|MIT-pys|':>11} {'|pysal-pys|':>12}")
    for ours_name, their_name, extra in PAIRS:
        values = {}
        for convention in ("mit", "pysaliency"):
            config = evaluate_lib.EvalConfig(metrics=(ours_name,), convention=convention, **extra)
            rows, _ = score_ours(examples, preds, config)
            values[convention] = np.array([r[ours_name] for r in rows])
        ref = np.array(theirs["results"][their_name])
        print(f"{ours_name:<16} {values['mit'].mean():>10.6f} {values['pysaliency'].mean():>11.6f} "
              f"{ref.mean():>11.6f} {np.max(np.abs(values['mit'] - ref)):>11.2e} "
              f"{np.max(np.abs(values['pysaliency'] - ref)):>12.2e}")
    jitter_mit = np.mean([r["auc_judd"] for r in all_rows])
    print(f"AUC-Judd with jitter: ours MIT {jitter_mit:.6f}, pysaliency AUC_Judd "
          f"{theirs['results']['auc_judd_jitter_mean'][0]:.6f}")


if __name__ == "__main__":
    main()
