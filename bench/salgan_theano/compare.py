"""Compares the authors' Theano SalGAN maps (run_theirs.py) with import_salgan + our generator.

Runs in the project venv, after run_theirs.py wrote `<workdir>/theirs.npz` and
`<workdir>/gen_modelWeights0090.npz`:

    python bench/salgan_theano/compare.py --workdir=/tmp/salgan_theano

Our side is the user's path: `python -m salgan_tf.tools.import_salgan` on their npz, then
`salgan_tf.inference.load_predictor(<file>.weights.h5)` on the same 192x256 RGB inputs their
network saw (`predict_small`: our caffe preprocessing + generator). Prints one row per image with
max |their map - our map|; exits 1 if any exceeds --tolerance (1e-4).
"""
import argparse
import os
import subprocess
import sys

import numpy as np


def _compare_postprocess(theirs):
    """salgan_tf.postprocess (paper) vs their OpenCV post-processing, both on THEIR maps."""
    from salgan_tf import postprocess

    print("\npost-processing: salgan_tf.postprocess.paper_to_original_size vs OpenCV "
          "(cv2.resize INTER_CUBIC + GaussianBlur((5, 5), 0)) on their maps, in map units [0, 1]")
    print("| image | original HxW | max abs diff vs OpenCV float | mean abs diff vs OpenCV float | "
          "mean abs diff vs their uint8 output / 255 |")
    print("| --- | --- | --- | --- | --- |")
    for i, (name, their_map) in enumerate(zip(theirs["names"], theirs["maps"])):
        reference = theirs[f"paper_float_{i}"]
        ours = postprocess.paper_to_original_size(their_map, reference.shape)
        uint8 = theirs[f"paper_uint8_{i}"] / 255.0
        print(f"| {name} | {reference.shape[0]}x{reference.shape[1]} | "
              f"{np.abs(ours - reference).max():.2e} | {np.abs(ours - reference).mean():.2e} | "
              f"{np.abs(ours - uint8).mean():.2e} |")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--tolerance", type=float, default=1e-4)
    args = parser.parse_args()
    workdir = os.path.abspath(args.workdir)
    weights = os.path.join(workdir, "salgan_theano_random.weights.h5")
    subprocess.run([sys.executable, "-m", "salgan_tf.tools.import_salgan",
                    f"--source={os.path.join(workdir, 'gen_modelWeights0090.npz')}",
                    f"--output={weights}", "--overwrite"], check=True)

    from salgan_tf import inference

    theirs = np.load(os.path.join(workdir, "theirs.npz"), allow_pickle=False)
    predictor = inference.load_predictor(weights, batch_size=1)
    ours = predictor.predict_small(theirs["rgb"])
    print(f"\nmodel: {weights} ({predictor.kind}, input {predictor.image_size})")
    print("| image | their map mean | their map std | max abs diff | mean abs diff |")
    print("| --- | --- | --- | --- | --- |")
    worst = 0.0
    for name, their_map, our_map in zip(theirs["names"], theirs["maps"], ours):
        diff = np.abs(their_map.astype(np.float64) - our_map)
        worst = max(worst, diff.max())
        print(f"| {name} | {their_map.mean():.4f} | {their_map.std():.4f} | {diff.max():.2e} | "
              f"{diff.mean():.2e} |")
    if "paper_float_0" in theirs.files:
        _compare_postprocess(theirs)
    verdict = "PASS" if worst <= args.tolerance else "FAIL"
    print(f"\n{verdict}: largest max |diff| {worst:.2e} over {len(ours)} images "
          f"(tolerance {args.tolerance:g})")
    return 0 if worst <= args.tolerance else 1


if __name__ == "__main__":
    sys.exit(main())
