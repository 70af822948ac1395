"""Trains SalGAN: `python -m salgan_tf.train --flagfile=configs/demo.flags`.

The flags are generated from `TrainConfig` (salgan_tf/config.py: each field's default, help and
choices, the defaults citing the paper) and become one config; the loop is
`salgan_tf.train_lib.train`. Rerunning with the same --output_dir resumes from the last checkpoint
(phase, epoch, step, optimizer state). The log holds the run's own lines (progress, ETA, warnings,
errors); TensorFlow's internal log comes back with --verbosity=1.
"""
import sys

from absl import app
from absl import flags
from absl import logging

from salgan_tf import cli
from salgan_tf import config as config_lib

config_lib.define_flags(flags.FLAGS)
flags.adopt_module_key_flags(config_lib)  # `--help` lists them as this program's flags
flags.DEFINE_bool("debug", False, "Run tf.functions eagerly (step-by-step debugging).")

FLAGS = flags.FLAGS


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    try:
        config = config_lib.from_flags(FLAGS)
    except ValueError as error:
        raise app.UsageError(str(error)) from error
    import tensorflow as tf  # after flag parsing (cli.run): --help is fast, the log is quiet

    from salgan_tf import encoder_weights
    from salgan_tf import init_from
    from salgan_tf import train_lib
    from salgan_tf.data import shards
    if FLAGS.verbosity < 1:
        logging.info("TensorFlow %s, %d GPU(s); its own log is hidden (--verbosity=1 shows it)",
                     tf.__version__, len(tf.config.list_physical_devices("GPU")))
    if FLAGS.debug:
        tf.config.run_functions_eagerly(True)
    try:
        train_lib.train(config)
    except (encoder_weights.EncoderWeightsError, OSError, shards.ManifestError,
            init_from.InitFromError, train_lib.RunSettingsError, FloatingPointError) as error:
        print(f"error: {error}", file=sys.stderr)  # bad input or a diverged run: says which
        return 1
    except train_lib.TrainingInterrupted as interrupted:  # SIGTERM/Ctrl-C after the save
        print(str(interrupted), file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # Ctrl-C before the first step: nothing to save
        print("interrupted before training started; nothing saved", file=sys.stderr)
        return 1


def run():
    """The `salgan-train` console script."""
    cli.run(main, __name__)


if __name__ == "__main__":
    run()
