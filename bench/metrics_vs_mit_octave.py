"""Our metrics (MIT convention) against the MIT benchmark's own MATLAB code, run in GNU Octave.

  apt-get install octave octave-image          # Debian: Octave 7.3 and its image package
  git clone https://github.com/cvzoya/saliency /tmp/cvzoya-saliency   # not part of this repo
  source /work/venv/bin/activate
  python bench/metrics_vs_mit_octave.py --mit_code=/tmp/cvzoya-saliency/code_forMetrics \
      [--images 20] [--shared_data ../shared/data]

Same OSIE data as bench/metrics_vs_pysaliency.py (images 1001.., GT = fixations blurred with
sigma 24 px, the scored map a deterministic imperfect prediction). Both sides get the same
float64 maps at 800x600, the binary fixation map, the centre-bias baseline and, for sAUC, the
same `otherMap` (our seeded union of 10 other images' fixations). Octave runs AUC_Judd.m (no
jitter, and with jitter), AUC_Borji.m, AUC_shuffled.m, NSS.m, CC.m, KLdiv.m, similarity.m and
InfoGain.m unmodified. Prints, per metric, the mean on each side and the largest per-image
difference. The sampled AUCs and the jittered AUC-Judd draw different random numbers on the two
sides (MATLAB's `rand`/`randi`/`randperm` vs NumPy), so they agree only to the split noise.
"""
import argparse
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np
from scipy import io as sio

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import metrics_vs_pysaliency as osie_bench  # noqa: E402

from salgan_tf import baselines  # noqa: E402
from salgan_tf import metrics  # noqa: E402
from salgan_tf.metrics import negatives  # noqa: E402

# name: (Octave expression for image i, our function of (S, points, other_points, G, B))
METRICS = {
    "auc_judd (no jitter)": ("AUC_Judd(s, f, 0)",
                             lambda s, p, o, g, b: metrics.auc_judd(s, p, jitter=False)),
    "auc_judd (jitter)": ("AUC_Judd(s, f, 1)", lambda s, p, o, g, b: metrics.auc_judd(s, p)),
    "auc_borji (sampled)": ("AUC_Borji(s, f)", lambda s, p, o, g, b: metrics.auc_borji(s, p)),
    "sauc (sampled)": ("AUC_shuffled(s, f, o)",
                       lambda s, p, o, g, b: metrics.auc_shuffled(s, p, o)),
    "nss": ("NSS(s, f)", lambda s, p, o, g, b: metrics.nss(s, p)),
    "cc": ("CC(s, g)", lambda s, p, o, g, b: metrics.cc(s, g)),
    "kld": ("KLdiv(s, g)", lambda s, p, o, g, b: metrics.kld(s, g)),
    "sim": ("similarity(s, g)", lambda s, p, o, g, b: metrics.sim(s, g)),
    "ig": ("InfoGain(s, f, b)", lambda s, p, o, g, b: metrics.information_gain(s, p, b)),
}
RANDOM = ("auc_judd (jitter)", "auc_borji (sampled)", "sauc (sampled)")

OCTAVE_SCRIPT = """
addpath('{mit_code}');
pkg load image;
rand('seed', 0); randn('seed', 0);
data = load('{inputs}');
n = size(data.S, 1);
names = {names};
scores = nan(n, numel(names));
for i = 1:n
  s = squeeze(data.S(i, :, :)); f = squeeze(data.F(i, :, :)); o = squeeze(data.O(i, :, :));
  g = squeeze(data.G(i, :, :)); b = data.B;
{calls}
end
save('-v7', '{outputs}', 'scores');
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mit_code", required=True,
                        help="cvzoya/saliency's code_forMetrics folder (AUC_Judd.m, ...)")
    parser.add_argument("--images", type=int, default=20)
    parser.add_argument("--shared_data", default=None)
    parser.add_argument("--octave", default="octave-cli")
    args = parser.parse_args()
    mit_code = pathlib.Path(args.mit_code).resolve()
    if not (mit_code / "AUC_Judd.m").is_file():
        sys.exit(f"error: {mit_code}/AUC_Judd.m not found: --mit_code must be cvzoya/saliency's "
                 "code_forMetrics folder")
    if shutil.which(args.octave) is None:
        sys.exit(f"error: {args.octave} not found (apt-get install octave octave-image)")

    names, fixations, gts, preds, examples = osie_bench.build_data(args.images, args.shared_data)
    shape = gts.shape[1:]
    by_name = {e.name: (e.shape, e.fixations) for e in examples}
    shuffled = negatives.ShuffledNegatives(by_name, other_images=10, seed=0)
    others = [shuffled.sampled(name, shape) for name in names]
    binary = [metrics.fixation_map_from_points(fixations[n], shape) > 0 for n in names]
    other_maps = [metrics.fixation_map_from_points(o, shape) > 0 for o in others]
    centre = baselines.center_bias_map(*shape).astype(np.float64)
    smaps, gmaps = preds.astype(np.float64), gts.astype(np.float64)
    print(f"OSIE {names[0]}..{names[-1]}: {len(names)} images {shape[0]}x{shape[1]} (HxW), "
          f"{sum(len(f) for f in fixations.values())} fixations")

    calls = "\n".join(
        f"  scores(i, {k + 1}) = {expr};"
        for k, (expr, _) in enumerate(METRICS.values()))
    with tempfile.TemporaryDirectory() as tmp:
        inputs, outputs = f"{tmp}/inputs.mat", f"{tmp}/outputs.mat"
        sio.savemat(inputs, {"S": smaps, "F": np.stack(binary), "O": np.stack(other_maps),
                             "G": gmaps, "B": centre}, do_compression=False)
        script = OCTAVE_SCRIPT.format(
            mit_code=mit_code, inputs=inputs, outputs=outputs, calls=calls,
            names="{" + ", ".join(f"'{name}'" for name in METRICS) + "}")
        (pathlib.Path(tmp) / "run_mit.m").write_text(script)
        start = time.perf_counter()
        run = subprocess.run([args.octave, "--no-gui", "--quiet", f"{tmp}/run_mit.m"],
                             capture_output=True, text=True, check=False)
        octave_seconds = time.perf_counter() - start
        if not pathlib.Path(outputs).is_file():
            sys.exit(f"error: Octave failed (exit {run.returncode}):\n{run.stderr[-3000:]}")
        result = sio.loadmat(outputs)
    version = subprocess.run([args.octave, "--version"], capture_output=True,
                             text=True).stdout.splitlines()[0]
    print(f"{version}: {octave_seconds:.1f} s for the {len(names)} images, all metrics")

    mit_scores = result["scores"]
    print(f"\n{'metric':<22} {'MIT (Octave)':>13} {'ours':>10} {'max |diff|':>11}")
    for k, (name, (_, ours_fn)) in enumerate(METRICS.items()):
        ours = np.array([ours_fn(smaps[i], fixations[n], others[i], gmaps[i], centre)
                         for i, n in enumerate(names)])
        theirs = mit_scores[:, k]
        note = "  (different random draws)" if name in RANDOM else ""
        print(f"{name:<22} {np.mean(theirs):>13.6f} {np.mean(ours):>10.6f} "
              f"{np.max(np.abs(ours - theirs)):>11.2e}{note}")


if __name__ == "__main__":
    main()
