"""The two SalGAN training steps: BCE-only bootstrap, and the alternating adversarial step.

Batches are dicts from `salgan_tf.data.pipeline.make_dataset`:
  image      [B, H, W, 3] float32, caffe preprocessed
  map        [B, H, W, 1] float32 in [0, 1]  (ground truth at network size, for D)
  map_small  [B, H/4, W/4, 1] float32 in [0, 1]  (ground truth for the BCE content loss)

Both steps run under any `tf.distribute` strategy: per-example losses are averaged over the
global batch and the L2 term is divided by the number of replicas, so summing replica losses gives
the single-device loss. Gradients go through `optimizer.scale_loss` and `optimizer.apply`, which
makes a `LossScaleOptimizer` (mixed_float16) scale and unscale them.
"""
from __future__ import annotations

import tensorflow as tf

from salgan_tf import losses

# Scalars that are means over replicas; every other returned scalar is summed over replicas.
_MEAN_OVER_REPLICAS = ("d_accuracy", "d_real", "d_fake")


class SalGANSteps:
    """Holds both nets and optimizers and builds the `tf.function` train steps."""

    def __init__(self, generator, discriminator, g_optimizer, d_optimizer, *, alpha=0.05,
                 weight_decay=1e-4, downsample=4, strategy=None, jit_compile=False):
        self.generator = generator
        self.discriminator = discriminator
        self.g_optimizer = g_optimizer
        self.d_optimizer = d_optimizer
        self.alpha = alpha
        self.weight_decay = weight_decay
        self.downsample = downsample
        self.strategy = strategy or tf.distribute.get_strategy()
        self.jit_compile = jit_compile
        # Optimizer slots must exist before the first traced step: a distributed step may not
        # create variables (they would be built inside a cond on each replica).
        with self.strategy.scope():
            for optimizer, model in ((g_optimizer, generator), (d_optimizer, discriminator)):
                if not optimizer.built:
                    optimizer.build(model.trainable_variables)
        self.bce_step = self._distributed(self._bce_step)
        self.adversarial_step = self._distributed(self._adversarial_step)
        # The two halves of the adversarial step, exposed so each can be run (and tested) alone.
        self.discriminator_step = self._distributed(self._discriminator_update)
        self.generator_step = self._distributed(self._generator_update)

    # -- per-replica steps ---------------------------------------------------------------------

    def _l2(self, model):
        return tf.nn.scale_regularization_loss(
            losses.l2_penalty(model.trainable_variables, self.weight_decay))

    @staticmethod
    def _apply(tape, scaled_loss, model, optimizer):
        """Applies d(scaled_loss)/d(trainable vars); the optimizer unscales (LossScaleOptimizer)."""
        variables = model.trainable_variables
        optimizer.apply(tape.gradient(scaled_loss, variables), variables)

    def _bce_step(self, batch):
        """Bootstrap step (Sec. 4.2): generator trained on BCE of ×4-downsampled maps + L2."""
        with tf.GradientTape() as tape:
            predicted = self.generator(batch["image"], training=True)
            content = tf.nn.compute_average_loss(
                losses.content_loss(batch["map_small"], predicted, self.downsample))
            l2 = self._l2(self.generator)
            loss = content + l2
            scaled = self.g_optimizer.scale_loss(loss)  # inside the tape, so it is differentiated
        self._apply(tape, scaled, self.generator, self.g_optimizer)
        return {"g_loss": loss, "content_loss": content, "g_l2": l2}

    def _discriminator_update(self, batch):
        """D half of the adversarial iteration: D learns human maps (1) from predicted ones (0)."""
        image, target = batch["image"], batch["map"]
        predicted = self.generator(image, training=False)
        with tf.GradientTape() as tape:
            d_real = self.discriminator([image, target], training=True)
            d_fake = self.discriminator([image, predicted], training=True)
            d_data = tf.nn.compute_average_loss(losses.discriminator_loss(d_real, d_fake))
            d_l2 = self._l2(self.discriminator)
            d_loss = d_data + d_l2
            scaled = self.d_optimizer.scale_loss(d_loss)
        self._apply(tape, scaled, self.discriminator, self.d_optimizer)
        return {
            "d_loss": d_loss,
            "d_l2": d_l2,
            "d_accuracy": losses.discriminator_accuracy(d_real, d_fake),
            "d_real": tf.reduce_mean(tf.cast(d_real, tf.float32)),
            "d_fake": tf.reduce_mean(tf.cast(d_fake, tf.float32)),
        }

    def _generator_update(self, batch):
        """G half: alpha * BCE(×4 maps) - log D(I, Ŝ) + L2, D held fixed (Sec. 3.3, Eq. 4)."""
        image = batch["image"]
        with tf.GradientTape() as tape:
            predicted = self.generator(image, training=True)
            d_on_predicted = self.discriminator([image, predicted], training=False)
            total, content = losses.salgan_generator_loss(
                batch["map_small"], predicted, d_on_predicted, self.alpha, self.downsample)
            g_l2 = self._l2(self.generator)
            g_loss = tf.nn.compute_average_loss(total) + g_l2
            scaled = self.g_optimizer.scale_loss(g_loss)
        self._apply(tape, scaled, self.generator, self.g_optimizer)
        return {
            "g_loss": g_loss,
            "content_loss": tf.nn.compute_average_loss(content),
            "g_adversarial_loss": tf.nn.compute_average_loss(
                losses.adversarial_generator_loss(d_on_predicted)),
            "g_l2": g_l2,
        }

    def _adversarial_step(self, batch):
        """One adversarial iteration (Sec. 3.3): update D on this batch, then G on the same batch."""
        scalars = self._discriminator_update(batch)
        scalars.update(self._generator_update(batch))
        return scalars

    # -- distribution ----------------------------------------------------------------------------

    def _distributed(self, replica_fn):
        replica_fn = tf.function(replica_fn, jit_compile=True) if self.jit_compile else replica_fn

        @tf.function
        def step(batch):
            per_replica = self.strategy.run(replica_fn, args=(batch,))
            return {
                name: self.strategy.reduce(
                    tf.distribute.ReduceOp.MEAN if name in _MEAN_OVER_REPLICAS
                    else tf.distribute.ReduceOp.SUM, value, axis=None)
                for name, value in per_replica.items()
            }

        return step
