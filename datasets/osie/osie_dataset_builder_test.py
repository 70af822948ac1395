"""osie dataset: TFDS's own builder checks over the tiny dummy data."""
import tensorflow_datasets as tfds

from . import osie_dataset_builder


class OsieTest(tfds.testing.DatasetBuilderTestCase):
    """Tests for the OSIE builder (2 dummy images of 24x32 in the release layout)."""
    DATASET_CLASS = osie_dataset_builder.Builder
    SPLITS = {"train": 2}
    SKIP_CHECKSUMS = True


if __name__ == "__main__":
    tfds.testing.test_main()
