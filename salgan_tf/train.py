"""Trains SalGAN: `python -m salgan_tf.train --flagfile=configs/demo.flags`.

The flags are generated from `TrainConfig` (salgan_tf/config.py: each field's default, help and
choices, the defaults citing the paper) and become one config; the loop is
`salgan_tf.train_lib.train`. Rerunning with the same --output_dir resumes from the last checkpoint
(phase, epoch, step, optimizer state). The log holds the run's own lines (progress, ETA, warnings,
errors); TensorFlow's internal log comes back with --verbosity=1.
"""
import contextlib
import importlib.util
import logging as std_logging
import os
import re
import sys
import tempfile

from absl import app
from absl import flags
from absl import logging

from salgan_tf import cli
from salgan_tf import config as config_lib

config_lib.define_flags(flags.FLAGS)
flags.adopt_module_key_flags(config_lib)  # `--help` lists them as this program's flags
flags.DEFINE_bool("debug", False, "Run tf.functions eagerly (step-by-step debugging).")

FLAGS = flags.FLAGS

# TF's C++ log while quiet: FATAL only. TF's C++ errors still reach the run as Python exceptions;
# on a CPU-only machine the one ERROR line is "failed call to cuInit".
_QUIET_TF_CPP_MIN_LOG_LEVEL = "3"
# A line of absl's C++ log ("I0000 00:00:1796118396.108569    7646 port.cc:153] ..."); the group
# is the severity, indexed as TF_CPP_MIN_LOG_LEVEL counts (INFO 0, WARNING 1, ERROR 2, FATAL 3).
_CPP_LOG_LINE = re.compile(r"([IWEF])\d{4} [\d:.]+ +\d+ [^ ]+:\d+\] ")
_CPP_SEVERITIES = "IWEF"
_CPP_EARLY_LOG_BANNER = "WARNING: All log messages before absl::InitializeLog() is called"


def _shown(line, min_level):
    """Whether a stderr line written while TensorFlow loads passes the C++ log level."""
    if line.startswith(_CPP_EARLY_LOG_BANNER):
        return False
    match = _CPP_LOG_LINE.match(line)
    return match is None or _CPP_SEVERITIES.index(match.group(1)) >= min_level


class _HideLibraryInfo(std_logging.Filter):
    """Drops Python log records below WARNING that TensorFlow or Keras code logs.

    They log through absl like this run does (functional_saver.py: "Sharding callback duration"
    at every checkpoint), so the record's source file tells them apart.
    """

    def __init__(self, packages):
        super().__init__()
        specs = [importlib.util.find_spec(package) for package in packages]
        self._directories = tuple(os.path.join(directory, "") for spec in specs if spec
                                  for directory in spec.submodule_search_locations)

    def filter(self, record):
        return record.levelno >= std_logging.WARNING or not record.pathname.startswith(
            self._directories)


@contextlib.contextmanager
def _quiet_tensorflow_loading():
    """Hides TensorFlow's INFO/WARNING log; use around the first `import tensorflow`.

    TF_CPP_MIN_LOG_LEVEL (read when TF loads; a value the user set wins) filters TF's C++ log,
    except the lines its libraries write while loading, before absl::InitializeLog (oneDNN,
    CUDA stub): those go straight to stderr. So stderr is captured while TF loads and passed on
    without the C++ log lines below that level. TF's and Keras's Python INFO records are dropped
    by a filter on absl's log handler.
    """
    min_level = int(os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", _QUIET_TF_CPP_MIN_LOG_LEVEL))
    logging.get_absl_handler().addFilter(_HideLibraryInfo(("tensorflow", "keras")))
    sys.stderr.flush()
    saved_stderr = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved_stderr, 2)
            os.close(saved_stderr)
            captured.seek(0)
            for line in captured.read().decode(errors="replace").splitlines(keepends=True):
                if _shown(line, min_level):
                    sys.stderr.write(line)
            sys.stderr.flush()


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    try:
        config = config_lib.from_flags(FLAGS)
    except ValueError as error:
        raise app.UsageError(str(error)) from error
    quiet = FLAGS.verbosity < 1
    with _quiet_tensorflow_loading() if quiet else contextlib.nullcontext():
        import tensorflow as tf  # after flag parsing: --help is fast, the log level is known

        from salgan_tf import encoder_weights
        from salgan_tf import init_from
        from salgan_tf import train_lib
        from salgan_tf.data import shards
    if quiet:
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
