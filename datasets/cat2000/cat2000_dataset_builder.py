"""CAT2000 (Borji & Itti 2015) training set: 20 categories x 100 images, TFDS builder.

    tfds build datasets/cat2000 --manual_dir=<folder with trainSet/>

Reuses `salgan_tf.data.readers.cat2000`: the release's `FIXATIONMAPS` are the `saliency` feature
as is; fixation points are the nonzero pixels of `FIXATIONLOCS/*.mat` (`fixLocs`), observer -1.
Names are `<Category>_<NNN>`.
"""
import tensorflow_datasets as tfds

from salgan_tf.data import readers
from salgan_tf.data import tfds_features


class Builder(tfds.core.GeneratorBasedBuilder):
    """DatasetBuilder for the CAT2000 training set."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release."}
    MANUAL_DOWNLOAD_INSTRUCTIONS = """
    Download trainSet.zip from http://saliency.mit.edu (CAT2000), unzip it and pass the folder
    that contains `trainSet/` as `--manual_dir`.
    """

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(
            features=tfds_features.features(),
            supervised_keys=("image", "saliency"),
            homepage="http://saliency.mit.edu/datasets.html",
        )

    def _split_generators(self, dl_manager: tfds.download.DownloadManager):
        return {"train": self._generate_examples(dl_manager.manual_dir)}

    def _generate_examples(self, path):
        raw = readers.cat2000.read(str(path))
        yield from tfds_features.generate_examples(raw, readers.cat2000.NAME)
