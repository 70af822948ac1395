"""How every command-line tool starts: a quiet TensorFlow, and `--help` as under `python -m`.

Every CLI (train, convert, evaluate, predict, export, serve, the importers) starts through `run`.
At the default verbosity its log holds the tool's own lines: TensorFlow's C++ start-up log
(oneDNN, `cudart_stub ... Could not find cuda drivers`, `failed call to cuInit`) and the INFO
records TensorFlow and Keras write through absl are hidden; `--verbosity=1` brings them back.
TF_CPP_MIN_LOG_LEVEL is read when TensorFlow loads, so a CLI module imports TensorFlow only
inside `main` (or after `quiet_start`), never at its top; `salgan-export`, which imports its
format module before the flags are parsed, and the modules that import Keras at their top (the
importers, the export formats run alone) call `quiet_start_from_argv` first: their console
scripts through `salgan_tf.tools`' runners, `python -m` through a guard above their imports.
"""
import contextlib
import importlib.util
import logging as std_logging
import os
import re
import sys
import tempfile

# TF's C++ log while quiet: FATAL only. TF's C++ errors still reach the tool as Python
# exceptions; on a CPU-only machine the one ERROR line is "failed call to cuInit".
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

    They log through absl like the tools do (functional_saver.py: "Sharding callback duration"
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


def _hide_library_info():
    """Drops the Python INFO records of TensorFlow and Keras from absl's log handler."""
    from absl import logging

    logging.get_absl_handler().addFilter(_HideLibraryInfo(("tensorflow", "keras")))


@contextlib.contextmanager
def _quiet_tensorflow_loading(python_info=True):
    """Hides TensorFlow's INFO/WARNING log; use around the first `import tensorflow`.

    TF_CPP_MIN_LOG_LEVEL (read when TF loads; a value the user set wins) filters TF's C++ log,
    except the lines its libraries write while loading, before absl::InitializeLog (oneDNN, CUDA
    stub: each shared library that TF loads writes them, so twice per import), which go straight
    to stderr at any level. So stderr is captured while TF loads and passed on without the C++
    log lines below that level. With `python_info`, TF's and Keras's Python INFO records are
    dropped too, by a filter on absl's log handler.
    """
    min_level = int(os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", _QUIET_TF_CPP_MIN_LOG_LEVEL))
    if python_info:
        _hide_library_info()
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


def requested_verbosity(argv):
    """absl's `--verbosity`/`-v` as given in `argv` (or a --flagfile), before the flags are parsed.

    Read with a throw-away absl parser, so every spelling absl accepts counts; a malformed value
    reads as the default (-1) and is reported by the real parse.
    """
    from absl import flags

    probe = flags.FlagValues()
    flags.DEFINE_integer("verbosity", -1, "absl's log verbosity", short_name="v",
                         flag_values=probe)
    try:
        probe(list(argv), known_only=True)
    except flags.Error:
        return -1
    return probe.verbosity


def quiet_start(verbosity):
    """Loads TensorFlow with its log hidden unless absl's `verbosity` is 1 or more.

    Call before anything imports TensorFlow (`run` does, once the flags are parsed, before the
    CLI's `main`). When TensorFlow is already loaded its start-up lines are out; only its Python
    INFO log is hidden then. Returns True when the log is hidden.
    """
    if verbosity >= 1:
        return False
    if "tensorflow" in sys.modules:  # imported at the CLI module's top: only its Python log
        _hide_library_info()        # can still be hidden
        return True
    with _quiet_tensorflow_loading():
        import tensorflow  # noqa: F401  (loaded here, under the quiet log level)
    return True


def quiet_import():
    """Loads TensorFlow with its C++ start-up log hidden (oneDNN, CUDA stub, `failed call to
    cuInit` on a CPU machine), for the Python API (`salgan_tf.load`), which has no --verbosity.

    A TF_CPP_MIN_LOG_LEVEL the user set is kept (and applied to the start-up lines too); nothing
    is done when TensorFlow is already loaded. The user's Python logging is left alone.
    """
    if "tensorflow" not in sys.modules:
        with _quiet_tensorflow_loading(python_info=False):
            import tensorflow  # noqa: F401  (loaded here, under the quiet log level)


def quiet_start_from_argv():
    """`quiet_start` at the verbosity `sys.argv` asks for, before the flags are parsed: for an
    entry point whose module imports TensorFlow at its top (the importers, the export formats)."""
    return quiet_start(requested_verbosity(sys.argv))


def run(main, module_name):
    """`absl.app.run(main)`, TensorFlow loaded by `quiet_start` between flag parsing and `main`.

    `--help` and flag errors stay fast (TensorFlow is not loaded for them). absl's `--help`
    prints `__main__`'s docstring and the flags defined in `sys.argv[0]`; under a console script
    both belong to pip's wrapper, so they are taken from `module_name` instead.
    """
    from absl import app, flags

    module = sys.modules[module_name]
    main_module = sys.modules["__main__"]
    if module is not main_module:
        for flag in flags.FLAGS.get_key_flags_for_module(module.__name__):
            flags.FLAGS.register_key_flag_for_module(sys.argv[0], flag)
        main_module.__doc__ = module.__doc__

    def quiet_main(argv):
        quiet_start(flags.FLAGS.verbosity)
        return main(argv)

    app.run(quiet_main)
