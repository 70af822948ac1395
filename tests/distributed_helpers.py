"""Runs in a subprocess (needs its own TF runtime): default vs MirroredStrategy on 2 logical CPUs.

Prints one JSON line: the step's scalars under both strategies and the largest weight difference
after the step. Used by tests/test_distribute.py.
"""
import json
import sys

import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(
    cpu, [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()])

import keras  # noqa: E402
import numpy as np  # noqa: E402

from salgan_tf import config as config_lib  # noqa: E402
from salgan_tf import discriminator as discriminator_lib  # noqa: E402
from salgan_tf import generator as generator_lib  # noqa: E402
from salgan_tf import optimizers  # noqa: E402
from salgan_tf import steps as steps_lib  # noqa: E402

# This script runs outside pytest (sys.path[0] is tests/): the one batch helper is conftest's.
from conftest import train_batch  # noqa: E402

SIZE = (32, 32)
GLOBAL_BATCH = 4


def run(strategy, initial, phase):
    config = config_lib.TrainConfig(output_dir="")
    with strategy.scope():
        generator = generator_lib.build_generator(SIZE)
        discriminator = discriminator_lib.build_discriminator(SIZE)
        generator.set_weights(initial[0])
        discriminator.set_weights(initial[1])
        balance = "adaptive" if phase == "gan_adaptive" else "fixed"
        steps = steps_lib.SalGANSteps(generator, discriminator, optimizers.make_optimizer(config),
                                      optimizers.make_optimizer(config), strategy=strategy,
                                      balance=balance, balance_ratio=0.3)
    dataset = tf.data.Dataset.from_tensors(train_batch(SIZE, n=GLOBAL_BATCH))  # one global batch
    batch = next(iter(strategy.experimental_distribute_dataset(dataset)))
    step = steps.bce_step if phase == "bce" else steps.adversarial_step
    scalars = {k: float(v) for k, v in step(batch).items()}
    return scalars, generator.get_weights() + discriminator.get_weights()


def main():
    keras.utils.set_random_seed(0)
    initial = (generator_lib.build_generator(SIZE).get_weights(),
               discriminator_lib.build_discriminator(SIZE).get_weights())
    mirrored = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    result = {"replicas": mirrored.num_replicas_in_sync}
    for phase in ("bce", "gan", "gan_adaptive"):
        default_scalars, default_weights = run(tf.distribute.get_strategy(), initial, phase)
        mirrored_scalars, mirrored_weights = run(mirrored, initial, phase)
        result[phase] = {
            "default": default_scalars, "mirrored": mirrored_scalars,
            "max_weight_diff": max(float(np.max(np.abs(a - b)))
                                   for a, b in zip(default_weights, mirrored_weights)),
        }
    print(json.dumps(result))


if __name__ == "__main__":
    sys.exit(main())
