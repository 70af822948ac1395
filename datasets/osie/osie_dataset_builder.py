"""OSIE (Xu et al. 2014): 700 images with eye fixations of 15 observers, TFDS builder.

    tfds build datasets/osie --manual_dir=../shared/data/osie

Reuses `salgan_tf.data.readers.osie` (fixations: 1-based continuous -> 0-based pixels as the
source code does) and the converter's ground-truth maps (Gaussian, sigma = 24 px).
"""
import tensorflow_datasets as tfds

from salgan_tf.data import readers
from salgan_tf.data import tfds_features


class Builder(tfds.core.GeneratorBasedBuilder):
    """DatasetBuilder for OSIE."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release."}
    MANUAL_DOWNLOAD_INSTRUCTIONS = """
    Get `data/stimuli/` and `data/eye/fixations.mat` from the GitHub repository
    NUS-VIP/predicting-human-gaze-beyond-pixels and pass the folder that contains `data/` as
    `--manual_dir` (e.g. ../shared/data/osie).
    """

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(
            features=tfds_features.features(),
            supervised_keys=("image", "saliency"),
            homepage="https://github.com/NUS-VIP/predicting-human-gaze-beyond-pixels",
        )

    def _split_generators(self, dl_manager: tfds.download.DownloadManager):
        # OSIE has no official split: everything is "train"; use tfds split slicing
        # (e.g. "train[:600]", "train[600:]") for a held-out set.
        return {"train": self._generate_examples(dl_manager.manual_dir)}

    def _generate_examples(self, path):
        raw = readers.osie.read(str(path))
        yield from tfds_features.generate_examples(raw, readers.osie.NAME)
