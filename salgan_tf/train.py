"""Trains SalGAN: `python -m salgan_tf.train --flagfile=configs/demo.flags`.

Flags become one `TrainConfig` (salgan_tf/config.py, where each default cites the paper); the loop
is `salgan_tf.train_lib.train`. Rerunning with the same --output_dir resumes from the last
checkpoint (phase, epoch, step, optimizer state).
"""
import sys

from absl import app
from absl import flags
from absl import logging

from salgan_tf import cli
from salgan_tf import config as config_lib

_DEFAULTS = config_lib.TrainConfig(output_dir="")

flags.DEFINE_string("output_dir", None, "Run directory: config.json, checkpoints/, tensorboard/, "
                    "samples/. Reusing it resumes training.", required=True)
flags.DEFINE_string("train_data", _DEFAULTS.train_data,
                    "TFRecord glob written by `python -m salgan_tf.convert`, or 'demo' for the "
                    "bundled synthetic set.")
flags.DEFINE_string("val_data", _DEFAULTS.val_data,
                    "Optional TFRecord glob: after every epoch the saliency metrics (AUC-Judd, "
                    "AUC-Borji, sAUC, NSS, CC, KLD, SIM, IG) and the content loss on it go to "
                    "TensorBoard and val_metrics.csv; the best epoch's generator is kept "
                    "(docs/training.md).")
flags.DEFINE_string("select_metric", _DEFAULTS.select_metric,
                    "Validation metric that picks the best epoch (best_generator.weights.h5).")
flags.DEFINE_integer("val_limit", _DEFAULTS.val_limit,
                     "Validate on the first N --val_data records (0: all).")
flags.DEFINE_integer("image_height", _DEFAULTS.image_height, "Network input height (px, %16).")
flags.DEFINE_integer("image_width", _DEFAULTS.image_width, "Network input width (px, %16).")
flags.DEFINE_enum("resize_mode", _DEFAULTS.resize_mode, ["stretch", "letterbox"],
                  "How images reach the network size: stretch (paper) or letterbox (keep aspect).")
flags.DEFINE_bool("flip", _DEFAULTS.flip, "Random horizontal flips (image, map, fixations).")
flags.DEFINE_integer("batch_size", _DEFAULTS.batch_size, "Global batch size (paper: 32).")
flags.DEFINE_integer("bce_epochs", _DEFAULTS.bce_epochs, "Epochs of BCE-only bootstrap (paper: 15).")
flags.DEFINE_integer("gan_epochs", _DEFAULTS.gan_epochs,
                     "Epochs of adversarial training after the bootstrap (paper: ~105).")
flags.DEFINE_float("learning_rate", _DEFAULTS.learning_rate, "AdaGrad learning rate (paper: 3e-4).")
flags.DEFINE_float("alpha", _DEFAULTS.alpha, "Weight of BCE in the generator loss (paper: 0.05).")
flags.DEFINE_float("adversarial_weight", _DEFAULTS.adversarial_weight,
                   "Weight of -log D in the generator loss (paper: 1). The ratio "
                   "adversarial_weight / alpha sets the balance (docs/discriminator.md).")
flags.DEFINE_float("weight_decay", _DEFAULTS.weight_decay,
                   "L2 weight regularisation on both nets' kernels (paper: 1e-4).")
flags.DEFINE_enum("downsample", str(_DEFAULTS.downsample), ["1", "2", "4", "8"],
                  "Content loss computed on maps average-pooled by this (paper: 4; Table 2).")
flags.DEFINE_enum("content_loss", _DEFAULTS.content_loss, ["bce", "mse"],
                  "Content loss: bce (paper Eq. 2) or mse (Table 3's MSE baseline).")
flags.DEFINE_enum("d_map_input", _DEFAULTS.d_map_input, ["raw", "standardized"],
                  "How the map enters D: raw [0, 1] (paper) or standardized per map (mean 0, "
                  "std 1). See docs/discriminator.md.")
flags.DEFINE_string("encoder_weights", _DEFAULTS.encoder_weights,
                    "'imagenet' (Keras download), a local VGG-16 weights file "
                    "(.h5/.weights.h5/.keras, see `python -m salgan_tf.tools.import_vgg16`), "
                    "or 'none'.")
flags.DEFINE_string("init_from", _DEFAULTS.init_from,
                    "Fine-tune: start from a trained run dir, ckpt-N or generator .weights.h5 "
                    "(e.g. from salgan_tf.tools.import_salgan) with fresh optimizers; a rerun "
                    "resumes the new run.")
flags.DEFINE_enum("trainable", _DEFAULTS.trainable, list(config_lib.TRAINABLE_CHOICES),
                  "Generator layers that train: paper (VGG blocks 4-5 + decoder, Sec. 4.2), "
                  "decoder (decoder + output conv: fine-tuning on few images), output (the 1x1 "
                  "output conv only).")
flags.DEFINE_integer("seed", _DEFAULTS.seed, "Seed for init, shuffling and augmentation.")
flags.DEFINE_enum("mixed_precision", _DEFAULTS.mixed_precision,
                  ["float32", "mixed_float16", "mixed_bfloat16"], "Keras dtype policy.")
flags.DEFINE_bool("jit_compile", _DEFAULTS.jit_compile, "XLA-compile the train steps.")
flags.DEFINE_enum("strategy", _DEFAULTS.strategy, ["default", "mirrored", "multi_worker", "tpu"],
                  "tf.distribute strategy (multi_worker reads TF_CONFIG).")
flags.DEFINE_integer("checkpoint_every_steps", _DEFAULTS.checkpoint_every_steps,
                     "Checkpoint interval in steps (a checkpoint is also written each epoch).")
flags.DEFINE_integer("max_checkpoints", _DEFAULTS.max_checkpoints, "Checkpoints kept.")
flags.DEFINE_integer("steps_per_epoch", _DEFAULTS.steps_per_epoch,
                     "Cap on steps per epoch (0: one pass over the data).")
flags.DEFINE_integer("num_sample_maps", _DEFAULTS.num_sample_maps,
                     "Predicted maps shown in TensorBoard and written to samples/.")
flags.DEFINE_integer("demo_examples", _DEFAULTS.demo_examples,
                     "Size of the synthetic set for --train_data=demo.")
flags.DEFINE_integer("log_every_steps", _DEFAULTS.log_every_steps, "Log interval in steps.")
flags.DEFINE_bool("debug", False, "Run tf.functions eagerly (step-by-step debugging).")

FLAGS = flags.FLAGS


def config_from_flags():
    """The TrainConfig the flags describe."""
    fields = config_lib.TrainConfig.__dataclass_fields__
    values = {name: FLAGS[name].value for name in fields}
    values["downsample"] = int(values["downsample"])
    return config_lib.TrainConfig(**values).validate()


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    import tensorflow as tf  # after flag parsing, so --help is fast

    from salgan_tf import encoder_weights
    from salgan_tf import init_from
    from salgan_tf import train_lib
    from salgan_tf.data import shards

    if FLAGS.debug:
        tf.config.run_functions_eagerly(True)
    try:
        config = config_from_flags()
    except ValueError as error:
        raise app.UsageError(str(error)) from error
    logging.info("config:\n%s", config.to_json())
    try:
        result = train_lib.train(config)
    except (encoder_weights.EncoderWeightsError, FileNotFoundError, shards.ManifestError,
            init_from.InitFromError, train_lib.RunSettingsError, FloatingPointError) as error:
        print(f"error: {error}", file=sys.stderr)  # bad input or a diverged run: says which
        return 1
    except train_lib.TrainingInterrupted as interrupted:  # SIGTERM/Ctrl-C after the save
        print(str(interrupted), file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # Ctrl-C before the first step: nothing to save
        print("interrupted before training started; nothing saved", file=sys.stderr)
        return 1
    logging.info("done: %s", result)


def run():
    """The `salgan-train` console script."""
    cli.run(main, __name__)


if __name__ == "__main__":
    run()
