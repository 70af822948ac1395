"""Scene saliency on 500 SUN2012 images (Liang et al.), eye fixations of up to 12 observers, TFDS.

    tfds build datasets/sun500 --manual_dir=<folder with data/stimuli and data/tidy>

Reuses `salgan_tf.data.readers.sun500` ([row, col] continuous 1-based -> 0-based pixels) and the
converter's maps (Gaussian, sigma = 3% of the longer image side, docs/data.md). Images have 130
sizes, up to 3648 px.
"""
import tensorflow_datasets as tfds

from salgan_tf.data import readers
from salgan_tf.data import tfds_features


class Builder(tfds.core.GeneratorBasedBuilder):
    """DatasetBuilder for the Scene SUN500 saliency dataset."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release."}
    MANUAL_DOWNLOAD_INSTRUCTIONS = """
    Get `data/stimuli/*.jpg`, `data/tidy/fixations.mat` and `data/tidy/imgInfo.mat` from the
    GitHub repository Yanakz/Scene and pass the folder that contains `data/` as `--manual_dir`.
    """

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(
            features=tfds_features.features(),
            supervised_keys=("image", "saliency"),
            homepage="https://github.com/Yanakz/Scene",
        )

    def _split_generators(self, dl_manager: tfds.download.DownloadManager):
        return {"train": self._generate_examples(dl_manager.manual_dir)}

    def _generate_examples(self, path):
        raw = readers.sun500.read(str(path))
        yield from tfds_features.generate_examples(raw, readers.sun500.NAME)
