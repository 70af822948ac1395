"""Dataset readers: one module per dataset, each with `NAME`, `read(input_dir, split)` and splits.

`READERS` maps the converter's `--dataset` names to the modules. Readers yield
`common.RawExample`s (paths + fixations in the project convention); the converter and the TFDS
builders decode and check the files.
"""
from salgan_tf.data.readers import cat2000
from salgan_tf.data.readers import mit1003
from salgan_tf.data.readers import osie
from salgan_tf.data.readers import salicon2015
from salgan_tf.data.readers import salicon2017
from salgan_tf.data.readers import sun500
from salgan_tf.data.readers.common import RawExample

READERS = {module.NAME: module for module in
           (osie, sun500, salicon2015, salicon2017, mit1003, cat2000)}


def get_reader(name):
    """The reader module for a dataset name; ValueError listing the known names otherwise."""
    if name not in READERS:
        raise ValueError(f"unknown dataset {name!r}; known: {sorted(READERS)}")
    return READERS[name]
