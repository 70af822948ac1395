"""Starting a command-line tool the same way as `python -m salgan_tf.X` or as `salgan-X`."""
import sys


def run(main, module_name):
    """`absl.app.run(main)` with `--help` showing the CLI module's docstring and flags.

    absl's `--help` prints `__main__`'s docstring and the flags defined in `sys.argv[0]`; under a
    console script both belong to pip's wrapper, so they are taken from `module_name` instead.
    """
    from absl import app, flags

    module = sys.modules[module_name]
    main_module = sys.modules["__main__"]
    if module is not main_module:
        for flag in flags.FLAGS.get_key_flags_for_module(module.__name__):
            flags.FLAGS.register_key_flag_for_module(sys.argv[0], flag)
        main_module.__doc__ = module.__doc__
    app.run(main)
