"""Importers of outside weights; their console scripts start here, TensorFlow's log hidden first.

`salgan-import-salgan` and `salgan-import-vgg16` call these runners, which load TensorFlow
quietly (`salgan_tf.cli.quiet_start_from_argv`) before importing the tool, whose module imports
Keras at its top.
"""
import importlib

from salgan_tf import cli


def _run_tool(name):
    cli.quiet_start_from_argv()
    importlib.import_module(f"salgan_tf.tools.{name}").run()


def run_import_salgan():
    """`salgan-import-salgan`: the authors' Theano/Lasagne generator as Keras weights."""
    _run_tool("import_salgan")


def run_import_vgg16():
    """`salgan-import-vgg16`: ImageNet VGG-16 weights for the encoder, offline."""
    _run_tool("import_vgg16")
