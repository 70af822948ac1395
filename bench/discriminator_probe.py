"""Does the discriminator learn? D trained alone against a fixed generator, accuracy on held-out pairs.

    python bench/discriminator_probe.py --generator=RUN_DIR --train_data='GLOB' --heldout_data='GLOB' \
        --variants=paper,standardized --steps=300

The generator (a training run's latest checkpoint, usually a BCE bootstrap) is held fixed. For each
variant a fresh discriminator is built with that variant's settings and trained with the project's
own D step (`SalGANSteps.discriminator_step`) on (image, human map) vs (image, generated map)
pairs from `--train_data`; every `--eval_every` steps its accuracy is measured on pairs from
`--heldout_data` (images never used for D's training). It also prints the activation scale of each
D layer at initialisation (mean |activation| on one held-out batch), which is where the
diagnosis in docs/discriminator.md starts. Prints a markdown table; no assertion on speed.
"""
import argparse
import time

import keras
import tensorflow as tf

from salgan_tf import checkpoints
from salgan_tf import config as config_lib
from salgan_tf import discriminator as discriminator_lib
from salgan_tf import optimizers
from salgan_tf import steps as steps_lib
from salgan_tf.data import pipeline
from salgan_tf.data import shards

# name -> TrainConfig overrides for the discriminator (the generator's run config is the base).
VARIANTS = {
    "paper": dict(d_map_input="raw"),
    "paper_no_l2": dict(d_map_input="raw", weight_decay=0.0),
    "standardized": dict(d_map_input="standardized"),
}


def layer_scales(discriminator, image, saliency):
    """Mean |activation| of every D layer with weights, on one batch."""
    names = [layer.name for layer in discriminator.layers if layer.weights]
    probe = keras.Model(discriminator.inputs,
                        [discriminator.get_layer(n).output for n in names])
    return {n: float(tf.reduce_mean(tf.abs(tf.cast(a, tf.float32))))
            for n, a in zip(names, probe([image, saliency]))}


def heldout_accuracy(discriminator, generator, batches):
    right, total = 0.0, 0
    for batch in batches:
        predicted = generator(batch["image"], training=False)
        real = discriminator([batch["image"], batch["map"]], training=False)
        fake = discriminator([batch["image"], predicted], training=False)
        right += float(tf.reduce_sum(tf.cast(real > 0, tf.float32))
                       + tf.reduce_sum(tf.cast(fake <= 0, tf.float32)))
        total += 2 * int(real.shape[0])
    return right / total


def called_real(discriminator, batches, transform):
    """Fraction of held-out human maps, passed through `transform`, that D calls human."""
    real, total = 0, 0
    for batch in batches:
        logits = discriminator([batch["image"], transform(batch["map"])], training=False)
        real += int(tf.reduce_sum(tf.cast(logits > 0, tf.int32)))
        total += int(logits.shape[0])
    return real / total


def _blur(maps, sigma=1.5):
    radius = int(3 * sigma)
    x = tf.range(-radius, radius + 1, dtype=tf.float32)
    kernel = tf.exp(-0.5 * (x / sigma) ** 2)
    kernel /= tf.reduce_sum(kernel)
    maps = tf.nn.conv2d(maps, tf.reshape(kernel, [-1, 1, 1, 1]), 1, "SAME")
    return tf.nn.conv2d(maps, tf.reshape(kernel, [1, -1, 1, 1]), 1, "SAME")


# What D keys on: human maps with 8-bit steps hidden by noise below one step (should stay
# "human" if D does not read the PNG quantisation), and human maps blurred (a blurrier map, like
# the generator's, should look less human).
SHORTCUT_CHECKS = {
    "human": lambda m: m,
    "human + noise < 1/255": lambda m: tf.clip_by_value(
        m + tf.random.uniform(tf.shape(m), -0.5 / 255, 0.5 / 255), 0.0, 1.0),
    "human blurred (sigma 1.5 px)": _blur,
}


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--generator", required=True, help="training run dir or ckpt prefix")
    parser.add_argument("--train_data", required=True)
    parser.add_argument("--heldout_data", required=True)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--eval_every", type=int, default=50)
    parser.add_argument("--batch_size", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--mixed_precision", default="",
                        help="Keras dtype policy for both nets (default: the run's)")
    args = parser.parse_args()

    run_dir, _ = checkpoints.find_run_dir_and_prefix(args.generator)
    policy = args.mixed_precision or config_lib.load(run_dir).mixed_precision
    keras.mixed_precision.set_global_policy(policy)
    print(f"dtype policy: {policy}")

    generator, run_config = checkpoints.load_generator(args.generator)
    heldout = list(pipeline.make_dataset(shards.glob_records(args.heldout_data), image_size=run_config.image_size,
                                         batch_size=args.batch_size))
    rows = []
    for name in args.variants.split(","):
        config = config_lib.TrainConfig(**{**run_config.__dict__, **VARIANTS[name],
                                           "output_dir": ""}).validate()
        keras.utils.set_random_seed(args.seed)
        discriminator = discriminator_lib.build_discriminator(
            config.image_size, map_input=config.d_map_input)
        batch0 = heldout[0]
        scales = layer_scales(discriminator, batch0["image"], batch0["map"])
        d_optimizer = optimizers.make_optimizer(config)
        g_optimizer = optimizers.make_optimizer(config)
        steps = steps_lib.SalGANSteps(
            generator, discriminator, g_optimizer, d_optimizer, alpha=config.alpha,
            weight_decay=config.weight_decay,
            downsample=config.downsample)
        data = iter(pipeline.make_dataset(shards.glob_records(args.train_data), image_size=config.image_size,
                                          batch_size=args.batch_size, training=True, flip=True,
                                          seed=args.seed, repeat=True, drop_remainder=True))
        curve = {0: heldout_accuracy(discriminator, generator, heldout)}
        start = time.time()
        for step in range(1, args.steps + 1):
            scalars = steps.discriminator_step(next(data))
            if step % args.eval_every == 0:
                curve[step] = heldout_accuracy(discriminator, generator, heldout)
                print(f"{name} step {step}: held-out acc {curve[step]:.3f} "
                      f"train acc {float(scalars['d_accuracy']):.3f} "
                      f"d_grad_norm {float(scalars['d_grad_norm']):.3g}", flush=True)
        checks = {label: called_real(discriminator, heldout, fn)
                  for label, fn in SHORTCUT_CHECKS.items()}
        print(f"{name}: fraction called human: " + ", ".join(
            f"{label} {value:.3f}" for label, value in checks.items()), flush=True)
        rows.append((name, scales, curve, time.time() - start, checks))

    steps_shown = sorted(rows[0][2])
    print("\nHeld-out D accuracy (generator fixed):\n")
    print("| variant | " + " | ".join(f"step {s}" for s in steps_shown) + " |")
    print("|---" * (len(steps_shown) + 1) + "|")
    for name, _, curve, _, _ in rows:
        print(f"| {name} | " + " | ".join(f"{curve[s]:.3f}" for s in steps_shown) + " |")
    print("\nMean |activation| per layer at initialisation (one held-out batch):\n")
    print("\nFraction of held-out human maps called human after training:\n")
    print("| variant | " + " | ".join(SHORTCUT_CHECKS) + " |")
    print("|---" * (len(SHORTCUT_CHECKS) + 1) + "|")
    for name, _, _, _, checks in rows:
        print(f"| {name} | " + " | ".join(f"{checks[c]:.3f}" for c in SHORTCUT_CHECKS) + " |")
    layers = list(rows[0][1])
    print("| variant | " + " | ".join(layers) + " |")
    print("|---" * (len(layers) + 1) + "|")
    for name, scales, _, _, _ in rows:
        print(f"| {name} | " + " | ".join(f"{scales[n]:.3g}" for n in layers) + " |")


if __name__ == "__main__":
    main()
