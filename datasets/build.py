"""Builds one of the TFDS datasets in this folder without the `tfds` CLI.

    python datasets/build.py osie --manual_dir=../shared/data/osie [--data_dir=DIR]

Same result as `tfds build datasets/osie --manual_dir=...`. Use it when the CLI cannot start:
tensorflow-datasets 4.9.10's `tfds` command imports apache_beam at start-up (its `convert_format`
sub-command subclasses `beam.DoFn` at import time), so it fails with "No module named
'apache_beam'" unless apache-beam is installed; these builders themselves do not need Beam.
"""
import argparse
import importlib
import os
import sys

import tensorflow_datasets as tfds

HERE = os.path.dirname(os.path.abspath(__file__))


def load_builder_class(name):
    """`datasets/<name>/<name>_dataset_builder.py`'s `Builder` class."""
    path = os.path.join(HERE, name, f"{name}_dataset_builder.py")
    if not os.path.exists(path):
        folders = sorted(d for d in os.listdir(HERE) if os.path.isdir(os.path.join(HERE, d)))
        raise SystemExit(f"{path}: no such builder (folders: {folders})")
    # TFDS finds a builder's files (checksums, README) through its package: import it as
    # `<name>.<name>_dataset_builder` with this folder on the path, as `tfds build` does.
    if HERE not in sys.path:
        sys.path.insert(0, HERE)
    return importlib.import_module(f"{name}.{name}_dataset_builder").Builder


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("name", help="dataset folder name, e.g. osie")
    parser.add_argument("--manual_dir", required=True)
    parser.add_argument("--data_dir", default=None)
    args = parser.parse_args()
    builder = load_builder_class(args.name)(data_dir=args.data_dir)
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(manual_dir=args.manual_dir))
    print(builder.info)
    return 0


if __name__ == "__main__":
    sys.exit(main())
