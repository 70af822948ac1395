r"""A trained generator as a packaged model folder, shipped by name (salgan_tf/shipped.py).

    python -m salgan_tf.tools.package_model --weights=runs/quality/bce4 --name=salgan-osie \
        --training_command="python -m salgan_tf.train --flagfile=configs/osie_cpu.flags ..."

`--weights` is a run dir (its best_generator.weights.h5: the best validation epoch), a generator
`.weights.h5` or a checkpoint (anything `salgan_tf.checkpoints.load_generator` reads). Writes
`--output` (default salgan_tf/models/<name>, package data) whole or not at all:
  weights.npz    float16 arrays keyed by variable path, in the generator's order
  model.json     network size, resize mode, post-processing, preprocessing, weights sha256 and
                 size, the source weights (path, sha256), run, best epoch and training config
  MODEL_CARD.md  the card's sections with what this tool knows filled in; a card already in
                 --output is kept as it is (its measured numbers are written by hand)
Before anything is replaced, the folder is loaded back through `salgan_tf.shipped` and its maps
are compared with the float32 generator's on synthetic images; the tool prints the size, the
sha256 and that difference.
"""
from __future__ import annotations

if __name__ == "__main__":  # `python -m`: TensorFlow's log hidden before the imports load it
    from salgan_tf import cli as _cli
    _cli.quiet_start_from_argv()

import json
import os
import shutil
import sys

from absl import app
from absl import flags
import numpy as np

from salgan_tf import atomic
from salgan_tf import checkpoints
from salgan_tf import cli
from salgan_tf import config as config_lib
from salgan_tf import shipped

BEST_WEIGHTS = "best_generator.weights.h5"  # salgan_tf.validation.BEST_WEIGHTS_FILENAME
BEST_EPOCH = "best_epoch.json"  # salgan_tf.validation.BEST_JSON_FILENAME
PREPROCESSING = ("RGB 0-255 resized to image_height x image_width (resize_mode; letterbox pads "
                 "with the ImageNet mean); the VGG caffe preprocessing (BGR, ImageNet mean "
                 "subtracted, salgan_tf.preprocessing.vgg_preprocess) runs in the loader")
OUTPUT = ("float32 map in [0, 1] at the network size, returned to the image's size by the "
          "inverse of resize_mode (postprocess none) or the authors' cubic resize + blur "
          "(postprocess paper)")
CHECK_IMAGES = 4  # synthetic images of the fp16 round-trip check


class PackageError(ValueError):
    """A source that cannot be packaged, or an --output that may not be replaced."""


def source_weights(path):
    """The generator weights `--weights` names: a run dir gives its best_generator.weights.h5."""
    path = os.fspath(path)
    if os.path.isdir(path) and os.path.isfile(os.path.join(path, config_lib.CONFIG_FILENAME)):
        best = os.path.join(path, BEST_WEIGHTS)
        if not os.path.isfile(best):
            raise PackageError(f"{path}: no {BEST_WEIGHTS} (a run without --val_data keeps no "
                               "best epoch); pass --weights=<run>/generator.weights.h5 or a "
                               "ckpt-N")
        return best
    return path


def _run_dir_of(weights):
    """The run directory beside a .weights.h5 (or of a checkpoint), if it has a config.json."""
    directory = os.path.dirname(os.path.abspath(weights))
    for candidate in (directory, os.path.dirname(os.path.dirname(os.path.abspath(weights)))):
        if os.path.isfile(os.path.join(candidate, config_lib.CONFIG_FILENAME)):
            return candidate
    return None


def _read_json(path):
    if not os.path.isfile(path):
        return None
    with open(path) as f:
        return json.load(f)


def describe(name, config, generator, *, weights_file, source, training_command, postprocess):
    """model.json's content (without the weights file's checksum, known once it is written)."""
    run_dir = _run_dir_of(source)
    return {
        "format": shipped.FORMAT,
        "name": name,
        "architecture": "SalGAN generator: VGG-16 encoder + mirrored decoder "
                        "(salgan_tf.generator.build_generator; Pan et al. 2017, Table 1)",
        "image_height": config.image_height,
        "image_width": config.image_width,
        "resize_mode": config.resize_mode,
        "postprocess": postprocess,
        "preprocessing": PREPROCESSING,
        "output": OUTPUT,
        "weights": {"file": shipped.WEIGHTS_FILE, "dtype": shipped.WEIGHTS_DTYPE,
                    "arrays": len(generator.weights),
                    "parameters": int(sum(np.prod(v.shape) for v in generator.weights)),
                    "bytes": os.path.getsize(weights_file),
                    "sha256": shipped.sha256_of(weights_file)},
        "source": {
            "weights": os.path.abspath(source),
            "weights_sha256": shipped.sha256_of(source) if os.path.isfile(source) else None,
            "run": run_dir,
            "best_epoch": _read_json(os.path.join(run_dir, BEST_EPOCH)) if run_dir else None,
            "training_command": training_command or None,
            "training_config": (json.loads(config_lib.load(run_dir).to_json()) if run_dir
                                else None),
        },
    }


def model_card(spec):
    """MODEL_CARD.md: the model-hub sections, with what model.json knows filled in."""
    weights, source = spec["weights"], spec["source"]
    best = source["best_epoch"]
    chosen = (f"epoch {best['epoch']} by validation {best['metric']} = {best['value']:.4f}"
              if best else "not recorded")
    not_measured = "Not measured yet with this file."
    to_write = "To be written before the model ships."
    return "\n".join([
        f"# {spec['name']}: SalGAN saliency model (TensorFlow/Keras)",
        "",
        "## What it is",
        f"{spec['architecture']}, trained with salgan_tf. Loads offline by name: "
        f"`salgan_tf.load(\"{spec['name']}\")`, `salgan-predict --model={spec['name']}`.",
        "",
        "## Training data",
        "Datasets, their licences and sizes (images, observers): " + to_write,
        "",
        "## Recipe and command",
        f"Training command: `{source['training_command'] or 'not recorded'}`  ",
        f"Source weights: `{source['weights']}` (sha256 `{source['weights_sha256']}`), "
        f"run `{source['run']}`; kept {chosen}.",
        "",
        "## Input size and preprocessing",
        f"Network input {spec['image_height']}x{spec['image_width']} (HxW), resize mode "
        f"`{spec['resize_mode']}`, post-processing `{spec['postprocess']}`. "
        f"{spec['preprocessing']}. Output: {spec['output']}.",
        "",
        "## Intended use",
        to_write,
        "",
        "## Limits",
        to_write,
        "",
        "## Scores (measured with this file, beside the centre-bias row)",
        "",
        "### OSIE 1001-1100 (800x600, MIT conventions; all 8 metrics)",
        not_measured,
        "",
        "### SALICON: the 10 example images (fixation metrics)",
        not_measured,
        "",
        "### MIT1003: the 10 shared images (CC, KLD, SIM against their maps)",
        not_measured,
        "",
        "## Reproducing every number",
        not_measured,
        "",
        "## Files",
        f"- `{weights['file']}`: {weights['bytes']:,} bytes, {weights['parameters']:,} "
        f"parameters in {weights['arrays']} {weights['dtype']} arrays (float32 at load), sha256 "
        f"`{weights['sha256']}` (checked at every load).",
        "- `model.json`: the loader's settings and this model's provenance.",
        "",
    ])


def _round_trip_difference(generator, folder, image_size):
    """max |map| difference between `generator` (float32) and `folder`'s float16 weights."""
    from salgan_tf import preprocessing

    rng = np.random.default_rng(0)
    images = preprocessing.vgg_preprocess(
        rng.uniform(0, 255, (CHECK_IMAGES, *image_size, 3)).astype(np.float32))
    restored, _ = shipped.load_generator(folder)
    return float(np.max(np.abs(generator(images, training=False).numpy()
                               - restored(images, training=False).numpy())))


def package(weights, output, *, name, training_command="", postprocess="none", overwrite=False,
            echo=print):
    """Writes the packaged model folder `output` from generator `weights`; returns model.json's
    content. Refuses an existing `output` without `overwrite` (its MODEL_CARD.md is kept)."""
    output = os.fspath(output)
    if postprocess not in ("none", "paper"):
        raise PackageError(f"postprocess must be none or paper, got {postprocess!r}")
    if os.path.exists(output) and not overwrite:
        raise PackageError(f"{output}: already exists; pass --overwrite to replace it (its "
                           f"{shipped.CARD_FILE} is kept)")
    source = source_weights(weights)
    generator, config = checkpoints.load_generator(source)
    old_card = os.path.join(output, shipped.CARD_FILE)
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    with atomic.replaced_directory(output) as staging:
        weights_file = os.path.join(staging, shipped.WEIGHTS_FILE)
        np.savez(weights_file, **shipped.weight_arrays(generator))
        spec = describe(name, config, generator, weights_file=weights_file, source=source,
                        training_command=training_command, postprocess=postprocess)
        with open(os.path.join(staging, shipped.MODEL_JSON), "w") as f:
            f.write(json.dumps(spec, indent=2) + "\n")
        if os.path.isfile(old_card):
            shutil.copy(old_card, os.path.join(staging, shipped.CARD_FILE))
        else:
            with open(os.path.join(staging, shipped.CARD_FILE), "w") as f:
                f.write(model_card(spec))
        difference = _round_trip_difference(generator, staging, config.image_size)
    echo(f"wrote {output}: {shipped.WEIGHTS_FILE} {spec['weights']['bytes']:,} bytes "
         f"({spec['weights']['parameters']:,} float16 parameters), sha256 "
         f"{spec['weights']['sha256']}; from {source}")
    echo(f"float16 round trip: max |map - float32 map| = {difference:.3g} on {CHECK_IMAGES} "
         f"random {config.image_height}x{config.image_width} images")
    return spec


FLAGS = flags.FLAGS


def define_flags():
    """Flags exist only when run as a script (importing the library leaves absl FLAGS alone)."""
    flags.DEFINE_string("weights", None, "Run dir (its best_generator.weights.h5), generator "
                        ".weights.h5 or checkpoint to package.", required=True)
    flags.DEFINE_string("name", shipped.DEFAULT_MODEL, "The model's name: salgan_tf.load(name).")
    flags.DEFINE_string("output", None, "Folder to write (default: salgan_tf/models/<name>, "
                        "shipped as package data).")
    flags.DEFINE_string("training_command", "", "The command that trained the source run, "
                        "recorded in model.json and the model card.")
    flags.DEFINE_enum("postprocess", "none", ["none", "paper"], "Post-processing loaders apply "
                      "(salgan_tf.postprocess).")
    flags.DEFINE_bool("overwrite", False, "Replace an existing --output (its model card stays).")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    output = FLAGS.output or os.path.join(shipped.MODELS_DIR, FLAGS.name)
    try:
        package(FLAGS.weights, output, name=FLAGS.name, training_command=FLAGS.training_command,
                postprocess=FLAGS.postprocess, overwrite=FLAGS.overwrite)
    except (FileNotFoundError, ValueError) as error:
        sys.exit(f"package_model: error: {error}")


def run():
    """The console script."""
    define_flags()
    cli.run(main, __name__)


if __name__ == "__main__":
    run()
