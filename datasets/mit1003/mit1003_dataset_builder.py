"""MIT1003 (Judd et al. 2009): 1003 images with eye fixations of 15 observers, TFDS builder.

    tfds build datasets/mit1003 --manual_dir=<folder with ALLSTIMULI/ and ALLFIXATIONMAPS/>

Reuses `salgan_tf.data.readers.mit1003`: the release's continuous fixation maps are the
`saliency` feature as is; fixation points come from the binary `*_fixPts.jpg` images (or
`FIXATIONLOCS/*.mat` in the benchmark layout), observer unknown (-1). The cvzoya/saliency ICCV
subset layout (`100_ICCV_STIMULI/`) is read too (maps only, no points).
"""
import tensorflow_datasets as tfds

from salgan_tf.data import readers
from salgan_tf.data import tfds_features


class Builder(tfds.core.GeneratorBasedBuilder):
    """DatasetBuilder for MIT1003."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release."}
    MANUAL_DOWNLOAD_INSTRUCTIONS = """
    Download ALLSTIMULI.zip and ALLFIXATIONMAPS.zip from the MIT1003 page
    (http://people.csail.mit.edu/tjudd/WherePeopleLook/), unzip both into one folder and pass it
    as `--manual_dir`.
    """

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(
            features=tfds_features.features(),
            supervised_keys=("image", "saliency"),
            homepage="http://people.csail.mit.edu/tjudd/WherePeopleLook/",
        )

    def _split_generators(self, dl_manager: tfds.download.DownloadManager):
        return {"train": self._generate_examples(dl_manager.manual_dir)}

    def _generate_examples(self, path):
        raw = readers.mit1003.read(str(path))
        yield from tfds_features.generate_examples(raw, readers.mit1003.NAME)
