"""The two SalGAN training steps: BCE-only bootstrap, and the alternating adversarial step.

Batches are dicts from `salgan_tf.data.pipeline.make_dataset`:
  image      [B, H, W, 3] float32, caffe preprocessed
  map        [B, H, W, 1] float32 in [0, 1]  (ground truth at network size, for D)
  map_small  [B, H/f, W/f, 1] float32 in [0, 1]  (ground truth for the content loss, f = downsample)

Both steps run under any `tf.distribute` strategy: per-example losses are averaged over the
global batch and the L2 term is divided by the number of replicas, so summing replica losses gives
the single-device loss. Every scalar a step returns is summed over replicas; a scalar that is a
per-replica mean is divided by the number of replicas where it is made (`_replica_mean`), as
`compute_average_loss` does for the losses. Gradients go through `optimizer.scale_loss` and
`optimizer.apply`, which makes a `LossScaleOptimizer` (mixed_float16) scale and unscale them.

The balance of G's two loss terms (`balance`): "fixed" weighs -log D by `adversarial_weight`
(paper: 1); "adaptive" weighs it, at every G step, so that its gradient on G's last layer is
`balance_ratio` times the gradient of alpha * content there (`losses.adaptive_adversarial_weight`).
"""
from __future__ import annotations

import keras
import tensorflow as tf

from salgan_tf import config as config_lib
from salgan_tf import generator as generator_lib
from salgan_tf import losses

# Gradient norms (diagnostics) are summed over replicas: each replica's norm of its share of the
# gradient, so the sum bounds the global norm from above and equals it on one replica.


def _replica_mean(value):
    """`value`, a mean over this replica's examples, divided so that the replicas' sum is the mean
    over the global batch (equal shares per replica)."""
    return value / tf.distribute.get_replica_context().num_replicas_in_sync


def _unscaled_norm(gradients, optimizer):
    """Global norm of gradients of a loss the optimizer scaled (mixed_float16), unscaled.

    A loss-scaled step whose gradients overflow is skipped by the LossScaleOptimizer; its norm
    is reported as 0 rather than inf, so a skipped step is not mistaken for divergence.
    """
    scale = tf.cast(optimizer.scale_loss(tf.constant(1.0)), tf.float32)
    norm = tf.linalg.global_norm([tf.cast(g, tf.float32) for g in gradients]) / scale
    if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        norm = tf.where(tf.math.is_finite(norm), norm, 0.0)
    return norm


class SalGANSteps:
    """Holds both nets and optimizers and builds the `tf.function` train steps."""

    def __init__(self, generator, discriminator, g_optimizer, d_optimizer, *, alpha=0.05,
                 weight_decay=1e-4, downsample=4, content_loss="bce", adversarial_weight=1.0,
                 balance="fixed", balance_ratio=0.1, strategy=None, jit_compile=False):
        self.generator = generator
        self.discriminator = discriminator
        self.g_optimizer = g_optimizer
        self.d_optimizer = d_optimizer
        self.alpha = alpha
        self.adversarial_weight = adversarial_weight
        if balance not in config_lib.BALANCES:
            raise ValueError(f"balance must be one of {config_lib.BALANCES}, got {balance!r}")
        self.balance = balance
        self.balance_ratio = balance_ratio
        self.weight_decay = weight_decay
        self.downsample = downsample
        self.content_loss = content_loss
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
        # Diagnostics run at log steps only: G's gradient split into its two loss terms.
        self.gradient_terms = self._distributed(self._generator_gradient_terms)

    # -- per-replica steps ---------------------------------------------------------------------

    def _l2(self, model):
        return tf.nn.scale_regularization_loss(
            losses.l2_penalty(model.trainable_variables, self.weight_decay))

    @staticmethod
    def _apply(tape, scaled_loss, model, optimizer):
        """Applies d(scaled_loss)/d(trainable vars); returns the unscaled gradients' global norm.

        The optimizer unscales the gradients itself (LossScaleOptimizer); the norm is divided by
        the same scale, so it is the norm of d(loss)/d(vars) under every precision policy.
        """
        variables = model.trainable_variables
        gradients = tape.gradient(scaled_loss, variables)
        optimizer.apply(gradients, variables)
        return _unscaled_norm(gradients, optimizer)

    def _content(self, batch, predicted):
        return losses.content_loss(batch["map_small"], predicted, self.downsample,
                                   self.content_loss)

    def _bce_step(self, batch):
        """Bootstrap step (Sec. 4.2): generator trained on the content loss of ×4 maps + L2."""
        with tf.GradientTape() as tape:
            predicted = self.generator(batch["image"], training=True)
            content = tf.nn.compute_average_loss(self._content(batch, predicted))
            l2 = self._l2(self.generator)
            loss = content + l2
            scaled = self.g_optimizer.scale_loss(loss)  # inside the tape, so it is differentiated
        g_grad_norm = self._apply(tape, scaled, self.generator, self.g_optimizer)
        return {"g_loss": loss, "content_loss": content, "g_l2": l2, "g_grad_norm": g_grad_norm}

    def _discriminator_update(self, batch):
        """D half of the adversarial iteration: D learns human maps (1) from predicted ones (0)."""
        image, target = batch["image"], batch["map"]
        predicted = self.generator(image, training=False)
        with tf.GradientTape() as tape:
            real_logits = self.discriminator([image, target], training=True)
            fake_logits = self.discriminator([image, predicted], training=True)
            d_data = tf.nn.compute_average_loss(losses.discriminator_loss(real_logits,
                                                                          fake_logits))
            d_l2 = self._l2(self.discriminator)
            d_loss = d_data + d_l2
            scaled = self.d_optimizer.scale_loss(d_loss)
        d_grad_norm = self._apply(tape, scaled, self.discriminator, self.d_optimizer)
        real_accuracy, fake_accuracy = losses.discriminator_accuracies(real_logits, fake_logits)
        return {
            "d_loss": d_loss,
            "d_l2": d_l2,
            "d_grad_norm": d_grad_norm,
            "d_accuracy": _replica_mean(0.5 * (real_accuracy + fake_accuracy)),
            "d_accuracy_real": _replica_mean(real_accuracy),
            "d_accuracy_fake": _replica_mean(fake_accuracy),
            "d_real": _replica_mean(tf.reduce_mean(tf.sigmoid(tf.cast(real_logits, tf.float32)))),
            "d_fake": _replica_mean(tf.reduce_mean(tf.sigmoid(tf.cast(fake_logits, tf.float32)))),
        }

    def _adversarial_weight(self, tape, batch, predicted, fake_logits):
        """The weight of -log D in this G step: `adversarial_weight`, or the adaptive λ.

        Adaptive: the gradients of alpha * content and of -log D on G's last layer (the 1×1
        output conv: the extra cost is two short backward passes), summed over replicas so every
        replica uses the same λ, and unscaled (mixed_float16) before their norms are taken. Must
        be called while `tape` (persistent) records, after `predicted` and `fake_logits`.
        """
        if self.balance == "fixed":
            return tf.constant(self.adversarial_weight, tf.float32)
        terms = (self.alpha * tf.nn.compute_average_loss(self._content(batch, predicted)),
                 tf.nn.compute_average_loss(losses.adversarial_generator_loss(fake_logits)))
        scaled = [self.g_optimizer.scale_loss(term) for term in terms]
        kernel = self.generator.get_layer(generator_lib.OUTPUT_LOGITS_LAYER).kernel
        replica = tf.distribute.get_replica_context()
        with tape.stop_recording():
            content_norm, adversarial_norm = (
                _unscaled_norm([replica.all_reduce(tf.distribute.ReduceOp.SUM,
                                                   tape.gradient(term, kernel))], self.g_optimizer)
                for term in scaled)
        return losses.adaptive_adversarial_weight(content_norm, adversarial_norm,
                                                  self.balance_ratio)

    def _generator_update(self, batch):
        """G half: alpha * content(×4 maps) - w log D(I, Ŝ) + L2, D held fixed (Sec. 3.3, Eq. 4).

        w is `adversarial_weight` (fixed balance) or the adaptive λ of this batch.
        """
        image = batch["image"]
        # Persistent under the adaptive balance: its weight takes two gradients before the update.
        with tf.GradientTape(persistent=self.balance == "adaptive") as tape:
            predicted = self.generator(image, training=True)
            fake_logits = self.discriminator([image, predicted], training=False)
            weight = self._adversarial_weight(tape, batch, predicted, fake_logits)
            total, content = losses.salgan_generator_loss(
                batch["map_small"], predicted, fake_logits, self.alpha, self.downsample,
                self.content_loss, weight)
            g_l2 = self._l2(self.generator)
            g_loss = tf.nn.compute_average_loss(total) + g_l2
            scaled = self.g_optimizer.scale_loss(g_loss)
        g_grad_norm = self._apply(tape, scaled, self.generator, self.g_optimizer)
        del tape
        return {
            "g_adversarial_weight": _replica_mean(weight),
            "g_loss": g_loss,
            "content_loss": tf.nn.compute_average_loss(content),
            "g_adversarial_loss": tf.nn.compute_average_loss(
                losses.adversarial_generator_loss(fake_logits)),
            "g_l2": g_l2,
            "g_grad_norm": g_grad_norm,
        }

    def _generator_gradient_terms(self, batch):
        """Norms of G's gradient from alpha * content and from -w log D, separately (no update).

        w as in the G step (`_adversarial_weight`), so under the adaptive balance the ratio of the
        two norms is the realised ratio on the whole generator.

        The first diagnostic of a GAN (big_vision logs per-term gradient norms): if the
        adversarial norm is ~0 beside the content norm, G is trained by the content loss alone.
        """
        image = batch["image"]
        with tf.GradientTape(persistent=True) as tape:
            predicted = self.generator(image, training=False)
            fake_logits = self.discriminator([image, predicted], training=False)
            weight = self._adversarial_weight(tape, batch, predicted, fake_logits)
            content = self.alpha * tf.nn.compute_average_loss(self._content(batch, predicted))
            adversarial = weight * tf.nn.compute_average_loss(
                losses.adversarial_generator_loss(fake_logits))
            scaled = [self.g_optimizer.scale_loss(content),
                      self.g_optimizer.scale_loss(adversarial)]
        variables = self.generator.trainable_variables
        norms = [_unscaled_norm(tape.gradient(term, variables), self.g_optimizer)
                 for term in scaled]
        del tape
        return {"g_content_grad_norm": norms[0], "g_adversarial_grad_norm": norms[1]}

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
            return {name: self.strategy.reduce(tf.distribute.ReduceOp.SUM, value, axis=None)
                    for name, value in per_replica.items()}

        return step
