"""A short training run on real eye-tracking data (OSIE) lowers the training BCE."""
import numpy as np

from salgan_tf import config as config_lib
from salgan_tf import train_lib
from salgan_tf.data import converter


def test_three_epochs_on_osie_subset_lower_training_bce(shared_data, tmp_path, read_epoch_log):
    records = tmp_path / "osie"
    converter.convert("osie", str(shared_data / "osie"), str(records), limit=12, resize=(48, 64),
                      workers=1, progress=False, log=lambda message: None)
    config = config_lib.TrainConfig(
        output_dir=str(tmp_path / "run"), train_data=str(records / "*.tfrecord"),
        image_height=48, image_width=64, batch_size=4, bce_epochs=3, gan_epochs=0,
        checkpoint_every_steps=1000, num_sample_maps=2, flip=False)
    train_lib.train(config)
    bce = [epoch["content_loss"] for epoch in read_epoch_log(tmp_path / "run")]
    assert len(bce) == 3 and all(np.isfinite(bce))
    assert bce[0] > bce[1] > bce[2], bce
