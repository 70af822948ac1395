"""Saliency-map operations shared by the data layer and the losses.

Maps are `[B, H, W, 1]` float32 in [0, 1] (docs/conventions.md). The pipeline computes the
content-loss target `map_small` here; `salgan_tf.losses` pools the generator's output with the same
function, so target and prediction are downsampled identically. Nothing under `salgan_tf/data/`
imports the training side (losses, steps, train_lib, ...): the dependency points one way
(tests/test_data_layers.py).
"""
import tensorflow as tf


def downsample_maps(maps, factor=4):
    """Average-pools `[B, H, W, 1]` maps by `factor` (Sec. 3.3: BCE on maps downsampled ×4).

    Average pooling of a map in [0, 1] stays in [0, 1]; for 192×256 inputs it gives 48×64.
    """
    maps = tf.cast(maps, tf.float32)
    if factor == 1:
        return maps
    return tf.nn.avg_pool2d(maps, ksize=factor, strides=factor, padding="VALID")
