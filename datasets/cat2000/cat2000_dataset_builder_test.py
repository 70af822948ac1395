"""cat2000 dataset: TFDS's own builder checks over the tiny dummy data."""
import tensorflow_datasets as tfds

from . import cat2000_dataset_builder


class Cat2000Test(tfds.testing.DatasetBuilderTestCase):
    """Tests for the CAT2000 builder (2 categories, 3 dummy images)."""
    DATASET_CLASS = cat2000_dataset_builder.Builder
    SPLITS = {"train": 3}
    SKIP_CHECKSUMS = True


if __name__ == "__main__":
    tfds.testing.test_main()
