"""sun500 dataset: TFDS's own builder checks over the tiny dummy data."""
import tensorflow_datasets as tfds

from . import sun500_dataset_builder


class Sun500Test(tfds.testing.DatasetBuilderTestCase):
    """Tests for the SUN500 builder (2 dummy images of different sizes)."""
    DATASET_CLASS = sun500_dataset_builder.Builder
    SPLITS = {"train": 2}
    SKIP_CHECKSUMS = True


if __name__ == "__main__":
    tfds.testing.test_main()
