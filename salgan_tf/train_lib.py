"""SalGAN training loop: bootstrap with BCE, then adversarial training; resumable at any step.

`train(config)` is the whole job; `salgan_tf.train` only turns flags into a `TrainConfig`.
Epochs `0 … bce_epochs-1` run the BCE step, the rest the adversarial step (Sec. 4.2). The run's
position (epoch, step in epoch, global step) is saved with both nets and both optimizers, and each
epoch's data order depends only on (seed, epoch), so a rerun with the same output directory skips
the batches already trained on and continues exactly where the last checkpoint left off.
"""
from __future__ import annotations

import atexit
import dataclasses
import json
import os
import shutil
import signal
import tempfile
import time

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from salgan_tf import atomic
from salgan_tf import checkpoints
from salgan_tf import config as config_lib
from salgan_tf import discriminator as discriminator_lib
from salgan_tf import distribution
from salgan_tf import generator as generator_lib
from salgan_tf import init_from as init_from_lib
from salgan_tf import optimizers
from salgan_tf import steps as steps_lib
from salgan_tf import validation
from salgan_tf.data import images
from salgan_tf.data import pipeline
from salgan_tf.data import shards
from salgan_tf.data import synthetic

# Config fields a resumed run must share with the run that wrote the checkpoint.
_FIXED_ON_RESUME = ("image_height", "image_width", "downsample", "content_loss", "resize_mode",
                    "train_data", "select_metric", "trainable")
DEMO_DATA_SUBDIR = "demo_data"
EPOCH_LOG = "epochs.jsonl"  # one line of mean scalars per finished epoch


class RunSettingsError(ValueError):
    """--output_dir already holds a run trained with settings that cannot change on resume."""


class TrainingInterrupted(Exception):
    """Stops the loop (SIGTERM/Ctrl-C at the next step, or an on_step hook) after a save."""


def resolve_train_files(config):
    """The checked training records (`shards.RecordSet`, see `shards.check_records`).

    For `train_data == "demo"` the bundled synthetic set is written (whole or not at all) to
    `<output_dir>/demo_data` on first use.

    Raises:
      FileNotFoundError: a glob matches nothing (naming it).
      shards.ManifestError: the files do not match their manifest.json.
    """
    pattern = config.train_data
    if config.train_data == "demo":
        demo_dir = os.path.join(config.output_dir, DEMO_DATA_SUBDIR)
        pattern = os.path.join(demo_dir, "*.tfrecord")
        if not os.path.isdir(demo_dir):
            with atomic.replaced_directory(demo_dir) as staging:
                synthetic.write_synthetic_tfrecords(
                    staging, n=config.demo_examples, height=config.image_height,
                    width=config.image_width, seed=config.seed)
    return shards.check_records(shards.glob_records(pattern, label="--train_data"))


def _check_resume_config(config, output_dir, checkpoint_dir):
    """Refuses settings that cannot change on resume; a run without checkpoint may change all."""
    if (tf.train.latest_checkpoint(checkpoint_dir) is None
            or not os.path.isfile(os.path.join(output_dir, config_lib.CONFIG_FILENAME))):
        return
    previous = config_lib.load(output_dir)
    changed = [name for name in _FIXED_ON_RESUME
               if getattr(previous, name) != getattr(config, name)]
    if changed:
        details = ", ".join(f"{n}: {getattr(previous, n)!r} -> {getattr(config, n)!r}"
                            for n in changed)
        raise RunSettingsError(f"{output_dir} holds a run with other settings ({details}); use "
                               "a new --output_dir or the same flags to resume")


def _append_epoch_log(output_dir, epoch, phase, means):
    """Appends the epoch's mean scalars as one JSON line to `<output_dir>/epochs.jsonl`."""
    with open(os.path.join(output_dir, EPOCH_LOG), "a") as f:
        f.write(json.dumps({"epoch": epoch + 1, "phase": phase, **means}, sort_keys=True) + "\n")


def read_epoch_log(output_dir):
    """The per-epoch records written by `train` (one dict per finished epoch)."""
    path = os.path.join(output_dir, EPOCH_LOG)
    if not os.path.isfile(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def _adapt_position(progress, *, batch_size, steps_per_epoch, records, output_dir):
    """Puts a restored in-epoch position into this run's epoch layout, or refuses.

    `step_in_epoch` counts batches of the batch size the checkpoint was saved with. Each epoch's
    example order depends only on (seed, epoch), and batches are cut after shuffling, so
    `step × saved batch` examples are done in any layout: with another batch size the run
    resumes at the batch holding that example (re-training fewer than one batch), and an epoch
    made shorter (`--steps_per_epoch`) than the position counts as done. Other training data
    than the checkpoint's (same glob, other content) is refused.
    """
    saved_data = progress.data_fingerprint.numpy().decode()
    if saved_data and saved_data != records.fingerprint:
        raise RunSettingsError(
            f"{output_dir} was trained on other data than --train_data holds now (the records' "
            "checksums differ from the checkpoint's); restore that data or use a new --output_dir")
    step, saved_batch = int(progress.step_in_epoch), int(progress.batch_size)
    if step and saved_batch and saved_batch != batch_size:
        logging.warning("batch size %d -> %d: step %d of the epoch becomes step %d", saved_batch,
                        batch_size, step, step * saved_batch // batch_size)
        step = step * saved_batch // batch_size
    progress.step_in_epoch.assign(min(step, steps_per_epoch))
    progress.batch_size.assign(batch_size)
    progress.data_fingerprint.assign(records.fingerprint)


def _restore(checkpoint, prefix):
    """Restores every object, also from checkpoints written before the layout counters.

    Those lack `progress/batch_size` and `progress/data_fingerprint`: they restore through a
    checkpoint of the older shape, leaving the counters unset (0 and "", read as unknown).
    """
    if any(name.startswith("progress/batch_size/") for name, _ in tf.train.list_variables(prefix)):
        checkpoint.restore(prefix).assert_consumed()
        return
    progress = checkpoint.progress
    older = tf.train.Checkpoint(
        generator=checkpoint.generator, discriminator=checkpoint.discriminator,
        g_optimizer=checkpoint.g_optimizer, d_optimizer=checkpoint.d_optimizer,
        progress=tf.train.Checkpoint(epoch=progress.epoch, step_in_epoch=progress.step_in_epoch,
                                     global_step=progress.global_step))
    older.restore(prefix).assert_consumed()


def _resume_advice(manager):
    last = manager.latest_checkpoint
    if last is None:
        return "no checkpoint was written; rerun with a lower --learning_rate"
    return (f"the last good checkpoint is {last}: rerun with a lower --learning_rate and the same "
            "--output_dir to resume from it")


def _save_checked(manager, checkpoint, images, step):
    """Saves a checkpoint of a sane state only, else raises naming the last good checkpoint.

    Sane: every weight and optimizer slot finite, and so are the generator's and the
    discriminator's outputs on `images`. A diverged update can leave its own step's loss finite
    (the loss is computed before the update): at --learning_rate=1e10 the weights after step 1
    are ~1e10, finite, and only the next forward pass overflows. Checking here keeps every
    checkpoint one that a rerun can resume from.
    """
    generator, discriminator = checkpoint.generator, checkpoint.discriminator
    predicted = generator(images, training=False)
    tensors = [v for owner in (generator, discriminator, checkpoint.g_optimizer,
                               checkpoint.d_optimizer)
               for v in owner.variables if tf.as_dtype(v.dtype).is_floating]
    tensors += [predicted, discriminator([images, predicted], training=False)]
    finite = [tf.reduce_all(tf.math.is_finite(t)) for t in tensors]
    if not bool(tf.reduce_all(finite)):
        bad = next(t for t, ok in zip(tensors, finite) if not bool(ok))
        raise FloatingPointError(
            f"diverged at global step {step}: non-finite "
            f"{getattr(bad, 'path', None) or 'output on the sample images'}, not checkpointed; "
            f"{_resume_advice(manager)}")
    return manager.save(checkpoint_number=step)


# Scalars of the progress lines, per phase: the losses, and D's accuracy and the ratio of G's
# gradient norms from -log D and from alpha*content (README "Watching the GAN"). Every scalar goes
# to TensorBoard and epochs.jsonl.
_PROGRESS_SCALARS = {
    "bce": ("g_loss", "content_loss"),
    "gan": ("g_loss", "content_loss", "d_loss", "d_accuracy",
            "g_adversarial_to_content_grad_ratio"),
}


def _non_default_settings(config):
    """`name=value` of every config field that differs from its default, for the log."""
    defaults = config_lib.TrainConfig(output_dir=config.output_dir)
    return " ".join(f"{field.name}={getattr(config, field.name)}"
                    for field in dataclasses.fields(config)
                    if getattr(config, field.name) != getattr(defaults, field.name)) or "defaults"


def _progress_line(position, scalars, phase, *, steps_per_second, eta_seconds):
    """One log line: where the run is, the phase's main scalars, speed and time left."""
    shown = " ".join(f"{k}={scalars[k]:.4g}" for k in _PROGRESS_SCALARS[phase] if k in scalars)
    return (f"{position} | {shown} | {steps_per_second:.3g} steps/s, "
            f"ETA {_format_seconds(eta_seconds)}")


def _format_seconds(seconds):
    seconds = int(max(seconds, 0))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}h{rest // 60:02d}m{rest % 60:02d}s" if hours else f"{rest // 60}m{rest % 60:02d}s"


def _save_sample_maps(generator, samples, directory):
    """Writes predicted and ground-truth maps of the sample images as 8-bit PNGs."""
    os.makedirs(directory, exist_ok=True)
    predicted = generator(samples["image"], training=False).numpy()
    for i, name in enumerate(samples["name"].numpy()):
        stem = os.path.splitext(os.path.basename(name.decode()))[0] or f"sample{i}"
        for suffix, maps in (("pred", predicted), ("gt", samples["map"].numpy())):
            png = images.encode_map_png(maps[i, :, :, 0].astype(np.float32), scale_to_max=False)
            with atomic.open_replaced(os.path.join(directory, f"{stem}_{suffix}.png"), "wb") as f:
                f.write(png)


class _StopSignals:
    """SIGTERM and Ctrl-C (SIGINT) ask the loop to stop at the next step boundary.

    The handler only records the signal: raising from it could land inside logging (which
    swallows exceptions) or a TensorFlow call. `check()` raises TrainingInterrupted at a safe
    point, so the run saves a checkpoint first. A second signal gets the previous handler back
    (a second Ctrl-C interrupts at once). Main thread only; elsewhere signals keep their defaults.
    """

    _SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __enter__(self):
        self.received, self._previous = None, {}
        try:
            for signum in self._SIGNALS:
                self._previous[signum] = signal.signal(signum, self._record)
        except ValueError:  # not the main thread (e.g. some test runners)
            pass
        return self

    def _record(self, signum, frame):
        self.received = signum
        self._restore()

    def _restore(self):
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous = {}

    def check(self):
        if self.received is not None:
            raise TrainingInterrupted(f"signal {self.received}")

    def __exit__(self, *exc):
        self._restore()
        return False


def train(config, on_step=None):
    """Runs (or resumes) a SalGAN training run described by `config`.

    Args:
      config: the TrainConfig.
      on_step: optional callable `(global_step, scalars)` run after every step (hooks, tests); it
        may raise `TrainingInterrupted` to stop the run after a checkpoint is saved.

    Returns:
      dict with the per-epoch mean content (BCE) loss `epoch_content_loss`, the final
      `global_step` and the `output_dir`.
    """
    config.validate()
    output_dir = config.output_dir
    os.makedirs(output_dir, exist_ok=True)
    _check_resume_config(config, output_dir,
                         os.path.join(output_dir, checkpoints.CHECKPOINT_SUBDIR))
    keras.mixed_precision.set_global_policy(config.mixed_precision)
    keras.utils.set_random_seed(config.seed)
    strategy = distribution.make_strategy(config.strategy)
    chief = distribution.is_chief(strategy)

    records = resolve_train_files(config)
    files = list(records.files)
    val_files = shards.glob_records(config.val_data, label="--val_data") if config.val_data else []
    if val_files:
        shards.check_records(val_files)
    num_examples = records.num_examples
    global_batch = config.batch_size
    steps_per_epoch = max(num_examples // global_batch, 1)  # one partial batch if fewer examples
    if config.steps_per_epoch:
        steps_per_epoch = min(steps_per_epoch, config.steps_per_epoch)
    logging.info("run %s: %s", output_dir, _non_default_settings(config))
    logging.info("training on %d examples from %d file(s); %d steps/epoch of batch %d, %d "
                 "steps in all; %d replica(s)", num_examples, len(files), steps_per_epoch,
                 global_batch, config.total_epochs * steps_per_epoch,
                 strategy.num_replicas_in_sync)

    checkpoint_dir = os.path.join(output_dir, checkpoints.CHECKPOINT_SUBDIR)
    if not chief:  # other workers write to a scratch copy, as TF's multi-worker guide does
        checkpoint_dir = tempfile.mkdtemp(prefix="salgan_worker_ckpt_")
        atexit.register(shutil.rmtree, checkpoint_dir, ignore_errors=True)  # never read back
    resuming = tf.train.latest_checkpoint(checkpoint_dir) is not None

    with strategy.scope():
        generator = generator_lib.build_generator(
            config.image_size,
            encoder_weights="none" if resuming or config.init_from else config.encoder_weights)
        discriminator = discriminator_lib.build_discriminator(config.image_size,
                                                              map_input=config.d_map_input)
        init_from_lib.set_trainable(generator, config.trainable)  # before the optimizer's slots
        g_optimizer = optimizers.make_optimizer(config)
        d_optimizer = optimizers.make_optimizer(config)
        g_optimizer.build(generator.trainable_variables)
        d_optimizer.build(discriminator.trainable_variables)
    progress = checkpoints.TrainingProgress()  # plain host variables, read from Python
    checkpoint = checkpoints.make_checkpoint(generator, discriminator, g_optimizer, d_optimizer,
                                             progress)
    manager = tf.train.CheckpointManager(checkpoint, checkpoint_dir,
                                         max_to_keep=config.max_checkpoints)
    if manager.latest_checkpoint:
        _restore(checkpoint, manager.latest_checkpoint)
        for optimizer in (g_optimizer, d_optimizer):  # the rate of this run, not the saved one
            optimizer.learning_rate = config.learning_rate
        logging.info("resumed from %s at epoch %d, step %d of the epoch (global step %d)",
                     manager.latest_checkpoint, int(progress.epoch), int(progress.step_in_epoch),
                     int(progress.global_step))
    elif config.init_from:  # only a new run: a rerun resumes the fine-tuning run itself
        logging.info("initialised %s", init_from_lib.load_into(config.init_from, generator,
                                                               discriminator))
    _adapt_position(progress, batch_size=global_batch, steps_per_epoch=steps_per_epoch,
                    records=records, output_dir=output_dir)
    if chief:  # only now: a run that failed before this point leaves the directory reusable
        config_lib.save(config, output_dir)
    starting_model_to_score = config.init_from and not manager.latest_checkpoint
    if config.init_from and not val_files:
        logging.warning("fine-tuning without --val_data: no held-out images choose the epoch or "
                        "keep the starting model when fine-tuning makes it worse")

    salgan_steps = steps_lib.SalGANSteps(
        generator, discriminator, g_optimizer, d_optimizer, alpha=config.alpha,
        weight_decay=config.weight_decay,
        downsample=config.downsample, content_loss=config.content_loss,
        adversarial_weight=config.adversarial_weight, balance=config.balance,
        balance_ratio=config.balance_ratio, strategy=strategy,
        jit_compile=config.jit_compile)
    writer = (tf.summary.create_file_writer(os.path.join(output_dir, "tensorboard")) if chief
              else tf.summary.create_noop_writer())
    validator = keeper = None
    if val_files and chief:
        validator = validation.Validator(
            val_files, image_size=config.image_size, resize_mode=config.resize_mode,
            downsample=config.downsample, batch_size=config.batch_size,
            limit=config.val_limit or None)
        keeper = validation.BestEpoch(output_dir, config.select_metric,
                                      metric_names=validator.metric_names)

    def validate(epochs_done):
        """Scores the generator on --val_data, records the epoch, keeps the best weights."""
        scores = validator(generator)
        phase = ("start" if epochs_done == 0 else
                 "bce" if epochs_done <= config.bce_epochs else "gan")
        if keeper.update(epochs_done, phase, scores, generator):
            logging.info("epoch %d is the best so far: %s=%.4f", epochs_done,
                         config.select_metric, scores[config.select_metric])
        with writer.as_default(step=int(progress.global_step)):
            for name, value in scores.items():
                tf.summary.scalar(f"val/{name}", value)
        return scores

    # Fine-tuning: the starting model is "epoch 0", so no epoch that scores worse on validation
    # becomes best_generator.weights.h5 (README "Fine-tune on your own eye-tracking data").
    if validator is not None and starting_model_to_score:
        validate(0)
    # A run killed between an epoch-end checkpoint and its validation catches up here.
    if (validator is not None and int(progress.step_in_epoch) == 0
            and keeper.last_epoch < int(progress.epoch)):
        validate(int(progress.epoch))
    samples = next(iter(pipeline.make_dataset(
        files, image_size=config.image_size, batch_size=config.num_sample_maps, training=False,
        resize_mode=config.resize_mode, downsample=config.downsample)))

    def epoch_dataset(epoch, skip):
        ds = pipeline.make_dataset(
            files, image_size=config.image_size, batch_size=global_batch, training=True,
            flip=config.flip, resize_mode=config.resize_mode, seed=config.seed + epoch,
            deterministic=True, repeat=True, drop_remainder=num_examples >= global_batch,
            downsample=config.downsample)
        ds = ds.skip(skip).take(steps_per_epoch - skip).map(
            lambda batch: {k: batch[k] for k in ("image", "map", "map_small")})  # no strings: XLA
        return strategy.experimental_distribute_dataset(ds)

    epoch_content_loss = []
    grad_sums, grad_count = {}, 0  # per-term gradient norms, measured at log steps
    run_start, run_steps = time.time(), 0  # this process's steps: the ETA's speed
    last_log_time, last_log_steps = run_start, 0  # the steps/s of a progress line

    def seconds_left():
        """Steps still to run at this run's mean seconds per step (checkpoints included)."""
        remaining = config.total_epochs * steps_per_epoch - int(progress.global_step)
        return (time.time() - run_start) / max(run_steps, 1) * remaining

    try:
        with _StopSignals() as stop_signals:
            while int(progress.epoch) < config.total_epochs:
                epoch = int(progress.epoch)
                phase = "bce" if epoch < config.bce_epochs else "gan"
                step_fn = (salgan_steps.bce_step if phase == "bce"
                           else salgan_steps.adversarial_step)
                sums, count = {}, 0
                epoch_start = time.time()
                for batch in epoch_dataset(epoch, int(progress.step_in_epoch)):
                    step_scalars = step_fn(batch)  # tensors: no host sync until a log step
                    progress.step_in_epoch.assign_add(1)
                    progress.global_step.assign_add(1)
                    run_steps += 1
                    count += 1
                    for k, v in step_scalars.items():
                        sums[k] = sums[k] + v if k in sums else v
                    step = int(progress.global_step)
                    log_now = step % config.log_every_steps == 0
                    checkpoint_now = step % config.checkpoint_every_steps == 0
                    if not (log_now or checkpoint_now or on_step is not None):
                        stop_signals.check()
                        continue
                    scalars = {k: float(v) for k, v in step_scalars.items()}
                    if not all(np.isfinite(v) for v in scalars.values()):
                        raise FloatingPointError(f"non-finite loss at global step {step}: "
                                                 f"{scalars}; {_resume_advice(manager)}")
                    if phase == "gan" and log_now:
                        terms = {k: float(v) for k, v in salgan_steps.gradient_terms(batch).items()}
                        terms["g_adversarial_to_content_grad_ratio"] = (
                            terms["g_adversarial_grad_norm"]
                            / max(terms["g_content_grad_norm"], 1e-30))
                        scalars.update(terms)
                        for k, v in terms.items():
                            grad_sums[k] = grad_sums.get(k, 0.0) + v
                        grad_count += 1
                    if log_now:
                        with writer.as_default(step=step):
                            for k, v in scalars.items():
                                tf.summary.scalar(f"{phase}/{k}", v)
                    if checkpoint_now:
                        _save_checked(manager, checkpoint, samples["image"], step)
                    if on_step is not None:
                        on_step(step, scalars)
                    if log_now:
                        now = time.time()
                        logging.info(_progress_line(
                            f"epoch {epoch + 1}/{config.total_epochs} [{phase}] step "
                            f"{int(progress.step_in_epoch)}/{steps_per_epoch}", scalars, phase,
                            steps_per_second=(run_steps - last_log_steps) / max(
                                now - last_log_time, 1e-9),
                            eta_seconds=seconds_left()))
                        last_log_time, last_log_steps = now, run_steps
                    stop_signals.check()
                epoch_seconds = time.time() - epoch_start
                means = {k: float(v) / max(count, 1) for k, v in sums.items()}
                if not all(np.isfinite(v) for v in means.values()):
                    raise FloatingPointError(f"non-finite loss in epoch {epoch + 1}: {means}")
                means.update({k: v / grad_count for k, v in grad_sums.items()})
                grad_sums, grad_count = {}, 0
                if "content_loss" in means:
                    epoch_content_loss.append(means["content_loss"])
                progress.epoch.assign_add(1)
                progress.step_in_epoch.assign(0)
                _save_checked(manager, checkpoint, samples["image"], int(progress.global_step))
                if validator is not None:  # after the save: a recorded epoch is never rolled back
                    means.update({f"val_{k}": v for k, v in validate(epoch + 1).items()})
                if chief:
                    _append_epoch_log(output_dir, epoch, phase, means)
                with writer.as_default(step=int(progress.global_step)):
                    for k, v in means.items():
                        tf.summary.scalar(f"epoch/{k}", v)
                    maps = generator(samples["image"], training=False)
                    tf.summary.image("predicted_maps", maps, max_outputs=config.num_sample_maps)
                    tf.summary.image("ground_truth_maps", samples["map"],
                                     max_outputs=config.num_sample_maps)
                position = (f"epoch {epoch + 1}/{config.total_epochs} [{phase}] done in "
                            f"{_format_seconds(epoch_seconds)}")
                if validator is not None:
                    metric = f"val_{config.select_metric}"
                    position += f", {metric}={means[metric]:.4g}"
                logging.info(_progress_line(position, means, phase,
                                            steps_per_second=count / max(epoch_seconds, 1e-9),
                                            eta_seconds=seconds_left()))
    except (KeyboardInterrupt, TrainingInterrupted) as interrupt:
        step = int(progress.global_step)
        saved = _save_checked(manager, checkpoint, samples["image"], step)
        reason = str(interrupt) or "Ctrl-C"
        raise TrainingInterrupted(f"interrupted ({reason}) at global step {step}: saved {saved}; "
                                  "rerun the same command to resume") from None
    writer.flush()
    if chief:
        generator.save_weights(os.path.join(output_dir, checkpoints.FINAL_WEIGHTS))
        _save_sample_maps(generator, samples, os.path.join(output_dir, "samples"))
    logging.info("finished %d epochs (global step %d) in %s; checkpoints in %s",
                 config.total_epochs, int(progress.global_step),
                 _format_seconds(time.time() - run_start), checkpoint_dir)
    return {"epoch_content_loss": epoch_content_loss, "global_step": int(progress.global_step),
            "output_dir": output_dir}

