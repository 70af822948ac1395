"""SALICON (Jiang et al. 2015), 2015 JSON release: MS COCO images with mouse "fixations", TFDS.

    tfds build datasets/salicon --manual_dir=<folder with annotations/ and images/>

Reuses `salgan_tf.data.readers.salicon2015` ([row, col] 1-based -> 0-based; observer = AMT
worker id) and the converter's maps (Gaussian, sigma = 19 px, as salicon-api). Splits are the
annotation files present: `fixations_train2014.json` -> "train", `fixations_val2014.json` ->
"validation", any other `fixations_<name>.json` -> "<name>" (e.g. "train2014examples").
"""
import tensorflow_datasets as tfds

from salgan_tf.data import readers
from salgan_tf.data import tfds_features

SPLIT_NAMES = {"train2014": "train", "val2014": "validation"}


class Builder(tfds.core.GeneratorBasedBuilder):
    """DatasetBuilder for SALICON (2015 JSON layout)."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release."}
    MANUAL_DOWNLOAD_INSTRUCTIONS = """
    Download the SALICON 2015 images (MS COCO train2014/val2014) and the fixation annotation
    files from http://salicon.net and lay them out as salicon-api does:
    `annotations/fixations_train2014.json`, `images/train2014/*.jpg` (same for val2014).
    Pass that folder as `--manual_dir`.
    """

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(
            features=tfds_features.features(),
            supervised_keys=("image", "saliency"),
            homepage="http://salicon.net",
        )

    def _split_generators(self, dl_manager: tfds.download.DownloadManager):
        manual_dir = str(dl_manager.manual_dir)
        splits = readers.salicon2015.available_splits(manual_dir)
        if not splits:
            raise FileNotFoundError(f"{manual_dir}: no annotations/fixations_*.json; "
                                    f"{self.MANUAL_DOWNLOAD_INSTRUCTIONS}")
        return {SPLIT_NAMES.get(split, split): self._generate_examples(manual_dir, split)
                for split in splits}

    def _generate_examples(self, path, split):
        raw = readers.salicon2015.read(str(path), split)
        yield from tfds_features.generate_examples(raw, readers.salicon2015.NAME)
