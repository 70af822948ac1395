"""Runs the AUTHORS' SalGAN generator (Theano/Lasagne) on real images with random weights.

Runs in the Theano virtualenv made by setup_venv.sh (not the project venv):

    ~/.cache/salgan_tf/theano_venv/bin/python bench/salgan_theano/run_theirs.py \
        --repo=SALGAN_GIT_DIR --images=/work/shared/data/osie/data/stimuli --count=10 \
        --workdir=/tmp/salgan_theano

What it does, with their own files (`git archive` of imatge-upc/saliency-salgan-2017):
1. extracts `scripts/`; the only edits are Python 2 -> 3 syntax that Python 3 cannot parse:
   `print "..."` statements in models/generator.py and models/vgg16.py (lib2to3's `print` fixer,
   nothing else), and a `cPickle` module (Python 2's name of `pickle`) on sys.path. Their
   constants.py is a file of machine paths users are told to edit; HOME_DIR and
   PATH_TO_VGG16_WEIGHTS are appended for this run (vgg16.pkl is no longer downloadable,
   their issue #41: a pickle of random arrays in its format stands in, then overwritten).
   No GPU import needed patching: the generator path (models/model_bce.ModelBCE, which their
   03-predict.py uses) never imports lasagne.layers.dnn (only the discriminator's nn.py does);
2. builds `ModelBCE(256, 192)` exactly as 03-predict.py, fills every parameter with random
   values (He-normal kernels, small random biases: asymmetric kernels, so a missing spatial flip
   shows), saves them as their 02-train.py does (`np.savez(path, *get_all_param_values(
   net['output']))`) and loads them back with their `utils.load_weights`;
3. reads each image as 03-predict.py (cv2.imread, BGR->RGB) and resizes it as utils.predict
   (cv2.INTER_AREA to 256x192 W x H), runs their `predictFunction` on the RGB 0-255 blob.
Writes `<workdir>/theirs.npz`: `rgb` float32 [N, 192, 256, 3] (the exact network inputs),
`maps` float32 [N, 192, 256] (their output before the uint8/cubic/blur post-processing),
`names`, `paper_uint8_<i>` / `paper_float_<i>` (their post-processing at the original size, on
the uint8 map as they do / on the float map); and `<workdir>/gen_modelWeights0090.npz` (the
weights) for compare.py.
"""
import argparse
import glob
import os
import subprocess
import sys
import time


def extract_their_scripts(repo, workdir):
    """`git archive` of their scripts/ into workdir; returns the scripts dir."""
    archive = subprocess.run(["git", f"--git-dir={repo}", "archive", "HEAD", "scripts"],
                             check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", workdir], input=archive, check=True)
    revision = subprocess.run(["git", f"--git-dir={repo}", "rev-parse", "HEAD"], check=True,
                              capture_output=True, text=True).stdout.strip()
    print(f"their code: imatge-upc/saliency-salgan-2017 at {revision}")
    return os.path.join(workdir, "scripts")


def patch_python2_syntax(scripts):
    """Python 2 print statements -> print() (lib2to3 print fixer only); a cPickle shim module."""
    files = [os.path.join(scripts, "models", name) for name in ("generator.py", "vgg16.py")]
    subprocess.run([sys.executable, "-W", "ignore", "-m", "lib2to3", "-f", "print", "-w", "-n",
                    *files], check=True, capture_output=True)
    shim = os.path.join(scripts, "py3_shims")
    os.makedirs(shim, exist_ok=True)
    with open(os.path.join(shim, "cPickle.py"), "w") as f:
        # Their generator.py does cPickle.load(open(path)): text mode in Python 3, so read the
        # underlying binary buffer.
        f.write("from pickle import *\nimport pickle as _pickle\n\n\n"
                "def load(file):\n    return _pickle.load(getattr(file, 'buffer', file))\n")
    print("patched: print statements in models/generator.py, models/vgg16.py (lib2to3 -f print); "
          "cPickle shim module")
    return shim


def random_vgg16_pickle(path, rng):
    """A stand-in vgg16.pkl in the format their generator.py reads ({'param values': [...]})."""
    import pickle

    import numpy as np

    shapes, in_channels = [], 3
    for filters in (64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512):
        shapes += [(filters, in_channels, 3, 3), (filters,)]
        in_channels = filters
    values = [rng.standard_normal(shape).astype("float32") for shape in shapes]
    with open(path, "wb") as f:
        pickle.dump({"param values": values}, f, protocol=2)


def random_parameters(shapes, rng):
    """He-normal kernels and small biases; conv1_1 scaled by 1/100 for the 0-255 input range and
    the 1x1 output conv to unit gain, so the sigmoid map is neither flat nor saturated."""
    import numpy as np

    values = []
    for index, shape in enumerate(shapes):
        if len(shape) == 4:
            fan_in = shape[1] * shape[2] * shape[3]
            std = np.sqrt(2.0 / fan_in)
            if index == 0:
                std /= 100.0
            if index == len(shapes) - 2:
                std = np.sqrt(1.0 / fan_in)
            values.append((rng.standard_normal(shape) * std).astype("float32"))
        else:
            values.append((rng.standard_normal(shape) * 0.05).astype("float32"))
    return values


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repo", required=True, help="git dir of imatge-upc/saliency-salgan-2017")
    parser.add_argument("--images", required=True, help="folder of .jpg images")
    parser.add_argument("--count", type=int, default=10)
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    workdir = os.path.abspath(args.workdir)
    os.makedirs(workdir, exist_ok=True)
    os.environ.setdefault("THEANO_FLAGS", "floatX=float32,device=cpu,blas.ldflags=,"
                          f"base_compiledir={os.path.join(workdir, 'theano_cache')}")
    scripts = extract_their_scripts(args.repo, workdir)
    shim = patch_python2_syntax(scripts)

    import numpy as np

    rng = np.random.default_rng(args.seed)
    vgg_pickle = os.path.join(workdir, "vgg16.pkl")
    random_vgg16_pickle(vgg_pickle, rng)
    with open(os.path.join(scripts, "constants.py"), "a") as f:
        f.write(f"\n# salgan_tf bench run\nHOME_DIR = {workdir + os.sep!r}\n"
                f"PATH_TO_VGG16_WEIGHTS = {vgg_pickle!r}\n")
    sys.path[:0] = [shim, scripts, os.path.join(scripts, "models")]

    import cv2
    import lasagne
    import theano

    import constants
    import utils
    from model_bce import ModelBCE

    print(f"numpy {np.__version__}, theano {theano.__version__}, lasagne {lasagne.__version__}, "
          f"floatX {theano.config.floatX}, cxx {theano.config.cxx!r}")
    start = time.time()
    model = ModelBCE(constants.INPUT_SIZE[0], constants.INPUT_SIZE[1], batch_size=1)
    print(f"built their ModelBCE({constants.INPUT_SIZE[0]}, {constants.INPUT_SIZE[1]}) "
          f"in {time.time() - start:.0f} s")
    params = lasagne.layers.get_all_params(model.net["output"])
    values = random_parameters([p.get_value().shape for p in params], rng)
    lasagne.layers.set_all_param_values(model.net["output"], values)
    # Exactly as their 02-train.py saves a generator snapshot, then as 03-predict.py loads it.
    np.savez(os.path.join(workdir, "gen_modelWeights0090.npz"),
             *lasagne.layers.get_all_param_values(model.net["output"]))
    utils.load_weights(model.net["output"], path="gen_", epochtoload=90)
    print(f"{len(params)} parameter arrays saved to {workdir}/gen_modelWeights0090.npz and "
          "loaded back with their utils.load_weights")

    paths = sorted(glob.glob(os.path.join(args.images, "*.jpg")))[:args.count]
    rgbs, maps, names, extra = [], [], [], {}
    for path in paths:
        # As their 03-predict.py and utils.predict (before its post-processing).
        full = cv2.cvtColor(cv2.imread(path, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
        image = cv2.resize(full, (model.inputWidth, model.inputHeight),
                           interpolation=cv2.INTER_AREA)
        blob = np.zeros((1, 3, model.inputHeight, model.inputWidth), theano.config.floatX)
        blob[0, ...] = image.astype(theano.config.floatX).transpose(2, 0, 1)
        start = time.time()
        result = np.squeeze(model.predictFunction(blob))
        print(f"{os.path.basename(path)}: their map {result.shape}, mean {result.mean():.4f} "
              f"std {result.std():.4f} ({time.time() - start:.1f} s)")
        # Their post-processing (utils.predict): uint8 map, cubic resize back, 5x5 blur; and the
        # same on the float map, to check salgan_tf.postprocess without the uint8 step.
        original_size = (full.shape[1], full.shape[0])  # cv2 sizes are (W, H)
        paper = cv2.GaussianBlur(cv2.resize((result * 255).astype(np.uint8), original_size,
                                            interpolation=cv2.INTER_CUBIC), (5, 5), 0)
        extra[f"paper_uint8_{len(names)}"] = np.clip(paper, 0, 255)
        extra[f"paper_float_{len(names)}"] = cv2.GaussianBlur(
            cv2.resize(result.astype(np.float32), original_size, interpolation=cv2.INTER_CUBIC),
            (5, 5), 0)
        rgbs.append(image.astype(np.float32))
        maps.append(result.astype(np.float32))
        names.append(os.path.basename(path))
    np.savez(os.path.join(workdir, "theirs.npz"), rgb=np.stack(rgbs), maps=np.stack(maps),
             names=np.array(names), **extra)
    print(f"wrote {workdir}/theirs.npz")


if __name__ == "__main__":
    main()
