"""How the generator/discriminator balance behaves: a short adversarial phase from a bootstrap.

    python bench/gan_balance.py --bootstrap=runs/quality/bootstrap \
        --train_data='REC/osie_train/osie-train-0000[0-4]-of-00006.tfrecord,REC/sun500/*.tfrecord' \
        --val_data='REC/osie_train/osie-train-00005-of-00006.tfrecord' \
        --alpha=1 --adversarial_weight=0.01 --steps=160

Restores a BCE bootstrap (generator and its AdaGrad state), builds a fresh discriminator and
runs `--steps` adversarial iterations with the project's own step (`SalGANSteps`), then prints
one JSON line: D's accuracy and G's content loss per quarter of the run, the ratio of G's
gradient norms |grad of w * -log D| / |grad of alpha * content| every 20 steps, and validation
CC/NSS before and after. The table in docs/discriminator.md was made with it. No assertion.
"""
import argparse
import json

import keras
import numpy as np
import tensorflow as tf

from salgan_tf import checkpoints
from salgan_tf import discriminator as discriminator_lib
from salgan_tf import optimizers
from salgan_tf import steps as steps_lib
from salgan_tf import validation
from salgan_tf.data import pipeline
from salgan_tf.data import shards


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bootstrap", required=True, help="a BCE-only training run directory")
    parser.add_argument("--train_data", required=True)
    parser.add_argument("--val_data", required=True)
    parser.add_argument("--alpha", type=float, default=0.05)
    parser.add_argument("--adversarial_weight", type=float, default=1.0)
    parser.add_argument("--d_learning_rate", type=float, default=3e-4)
    parser.add_argument("--d_warmup_steps", type=int, default=0,
                        help="D-only steps before the alternation")
    parser.add_argument("--d_map_input", default="standardized")
    parser.add_argument("--steps", type=int, default=160)
    parser.add_argument("--val_limit", type=int, default=50)
    args = parser.parse_args()

    run_dir, prefix = checkpoints.find_run_dir_and_prefix(args.bootstrap)
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    keras.utils.set_random_seed(0)
    generator, config = checkpoints.load_generator(run_dir)
    g_optimizer = optimizers.make_optimizer(config)
    g_optimizer.build(generator.trainable_variables)
    tf.train.Checkpoint(g_optimizer=g_optimizer).restore(prefix).expect_partial()
    discriminator = discriminator_lib.build_discriminator(config.image_size,
                                                          map_input=args.d_map_input)
    d_optimizer = keras.optimizers.Adagrad(args.d_learning_rate, initial_accumulator_value=0.0,
                                           epsilon=1e-6)
    steps = steps_lib.SalGANSteps(generator, discriminator, g_optimizer, d_optimizer,
                                  alpha=args.alpha, weight_decay=config.weight_decay,
                                  downsample=config.downsample,
                                  adversarial_weight=args.adversarial_weight)
    data = iter(pipeline.make_dataset(
        shards.glob_records(args.train_data), image_size=config.image_size,
        batch_size=config.batch_size, training=True, flip=True, seed=5, repeat=True,
        drop_remainder=True))
    validator = validation.Validator(args.val_data, image_size=config.image_size,
                                     downsample=config.downsample, batch_size=16,
                                     limit=args.val_limit)
    before = validator(generator)
    for _ in range(args.d_warmup_steps):
        steps.discriminator_step(next(data))
    accuracy, content, ratios = [], [], []
    for i in range(args.steps):
        batch = next(data)
        scalars = steps.adversarial_step(batch)
        accuracy.append(float(scalars["d_accuracy"]))
        content.append(float(scalars["content_loss"]))
        if i % 20 == 0:
            terms = steps.gradient_terms(batch)
            ratios.append(float(terms["g_adversarial_grad_norm"])
                          / max(float(terms["g_content_grad_norm"]), 1e-30))
    after = validator(generator)
    quarter = max(args.steps // 4, 1)
    print(json.dumps({
        "alpha": args.alpha, "adversarial_weight": args.adversarial_weight,
        "d_learning_rate": args.d_learning_rate, "d_warmup_steps": args.d_warmup_steps,
        "d_map_input": args.d_map_input,
        "d_accuracy_per_quarter": [round(float(np.mean(accuracy[i:i + quarter])), 3)
                                   for i in range(0, args.steps, quarter)],
        "content_loss_per_quarter": [round(float(np.mean(content[i:i + quarter])), 4)
                                     for i in range(0, args.steps, quarter)],
        "adversarial_to_content_grad_ratio": [round(r, 2) for r in ratios],
        "val_cc": [round(before["cc"], 4), round(after["cc"], 4)],
        "val_nss": [round(before["nss"], 4), round(after["nss"], 4)]}))


if __name__ == "__main__":
    main()
