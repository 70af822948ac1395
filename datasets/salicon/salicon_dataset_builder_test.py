"""salicon dataset: TFDS's own builder checks over the tiny dummy data."""
import tensorflow_datasets as tfds

from . import salicon_dataset_builder


class SaliconTest(tfds.testing.DatasetBuilderTestCase):
    """Tests for the SALICON builder (2 train + 1 val dummy images of 24x32)."""
    DATASET_CLASS = salicon_dataset_builder.Builder
    SPLITS = {"train": 2, "validation": 1}
    SKIP_CHECKSUMS = True


if __name__ == "__main__":
    tfds.testing.test_main()
