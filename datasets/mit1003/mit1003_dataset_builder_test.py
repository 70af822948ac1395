"""mit1003 dataset: TFDS's own builder checks over the tiny dummy data."""
import tensorflow_datasets as tfds

from . import mit1003_dataset_builder


class Mit1003Test(tfds.testing.DatasetBuilderTestCase):
    """Tests for the MIT1003 builder (2 dummy images in the official release layout)."""
    DATASET_CLASS = mit1003_dataset_builder.Builder
    SPLITS = {"train": 2}
    SKIP_CHECKSUMS = True


if __name__ == "__main__":
    tfds.testing.test_main()
