"""SalGAN training loop: bootstrap with BCE, then adversarial training; resumable at any step.

`train(config)` is the whole job; `salgan_tf.train` only turns flags into a `TrainConfig`.
Epochs `0 … bce_epochs-1` run the BCE step, the rest the adversarial step (Sec. 4.2). The run's
position (epoch, step in epoch, global step) is saved with both nets and both optimizers, and each
epoch's data order depends only on (seed, epoch), so a rerun with the same output directory skips
the batches already trained on and continues exactly where the last checkpoint left off.
"""
from __future__ import annotations

import atexit
import contextlib
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
from salgan_tf import generator as generator_lib
from salgan_tf import init_from as init_from_lib
from salgan_tf import optimizers
from salgan_tf import precision
from salgan_tf import run_dir
from salgan_tf import steps as steps_lib
from salgan_tf import strategy as strategy_lib
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
    """Stops the loop after a step, with a checkpoint: SIGTERM, Ctrl-C or --stop_at_step."""


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
    try:
        previous = config_lib.load(output_dir)
    except config_lib.ConfigFileError as error:
        raise RunSettingsError(f"{error}; fix it, or use a new --output_dir") from None
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
    latest = manager.latest_checkpoint
    if latest and checkpoints.saved_position(latest) == checkpoints.position(checkpoint.progress):
        return latest  # e.g. Ctrl-C right after a save: the same state is not written twice
    return run_dir.save_checkpoint(manager, step)


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


def _write_scalars(writer, step, prefix, scalars):
    """Writes `{name: value}` to TensorBoard as `<prefix>/<name>` at `step`."""
    with writer.as_default(step=step):
        for name, value in scalars.items():
            tf.summary.scalar(f"{prefix}/{name}", value)


def _is_time(step, every):
    """True at every `every`-th global step (the log and checkpoint schedules)."""
    return step % every == 0


class _Meter:
    """This process's step count and clocks (speed, ETA), and the running sums of one epoch.

    Step scalars are summed as tensors (no host sync); the gradient-norm diagnostics, measured at
    log steps only, are summed separately and averaged over the log steps of the epoch.
    """

    def __init__(self, total_steps):
        self.total_steps = total_steps
        self.start = self.last_log_time = time.time()
        self.steps = self.last_log_steps = 0
        self.start_epoch()

    def start_epoch(self):
        self.epoch_start = time.time()
        self.sums, self.count = {}, 0
        self.term_sums, self.term_count = {}, 0

    def add_step(self, step_scalars):
        self.steps += 1
        self.count += 1
        for name, value in step_scalars.items():
            self.sums[name] = self.sums[name] + value if name in self.sums else value

    def add_terms(self, terms):
        self.term_count += 1
        for name, value in terms.items():
            self.term_sums[name] = self.term_sums.get(name, 0.0) + value

    def epoch_means(self):
        """`(step scalar means, gradient-term means)` of the epoch so far."""
        return ({k: float(v) / max(self.count, 1) for k, v in self.sums.items()},
                {k: v / self.term_count for k, v in self.term_sums.items()})

    def epoch_seconds(self):
        return time.time() - self.epoch_start

    def steps_per_second_since_log(self):
        now = time.time()
        rate = (self.steps - self.last_log_steps) / max(now - self.last_log_time, 1e-9)
        self.last_log_time, self.last_log_steps = now, self.steps
        return rate

    def seconds_left(self, global_step):
        """Steps still to run at this process's mean seconds per step (checkpoints included)."""
        return (time.time() - self.start) / max(self.steps, 1) * (self.total_steps - global_step)


@dataclasses.dataclass
class _Run:
    """What one training run holds: built by `_open_run`, read and advanced by the phases."""

    config: config_lib.TrainConfig
    strategy: tf.distribute.Strategy
    chief: bool
    records: shards.RecordSet  # checked once; every epoch's dataset reads these files
    steps_per_epoch: int
    checkpoint: tf.train.Checkpoint
    manager: tf.train.CheckpointManager
    steps: steps_lib.SalGANSteps
    writer: object
    samples: dict
    validator: validation.Validator | None = None
    keeper: validation.BestEpoch | None = None

    @property
    def progress(self):
        return self.checkpoint.progress

    @property
    def generator(self):
        return self.checkpoint.generator

    @property
    def global_step(self):
        return int(self.progress.global_step)

    def phase(self, epoch):
        """"bce" for the bootstrap epochs (0-based), "gan" after (Sec. 4.2)."""
        return "bce" if epoch < self.config.bce_epochs else "gan"

    def save(self):
        return _save_checked(self.manager, self.checkpoint, self.samples["image"],
                             self.global_step)


def _build_checkpoint(config, strategy, checkpoint_dir, resuming):
    """Both nets, both optimizers (slots built) and the progress counters, in one checkpoint."""
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
    checkpoint = checkpoints.make_checkpoint(generator, discriminator, g_optimizer, d_optimizer,
                                             checkpoints.TrainingProgress())
    manager = tf.train.CheckpointManager(checkpoint, checkpoint_dir,
                                         max_to_keep=config.max_checkpoints)
    return checkpoint, manager


def _restore_or_initialise(config, checkpoint, manager):
    """Resumes from the newest checkpoint, else starts from --init_from (fine-tuning) if given."""
    progress = checkpoint.progress
    if manager.latest_checkpoint:
        checkpoint.restore(manager.latest_checkpoint).assert_consumed()
        for optimizer in (checkpoint.g_optimizer, checkpoint.d_optimizer):
            optimizer.learning_rate = config.learning_rate  # this run's rate, not the saved one
        logging.info("resumed from %s at epoch %d, step %d of the epoch (global step %d)",
                     manager.latest_checkpoint, int(progress.epoch), int(progress.step_in_epoch),
                     int(progress.global_step))
    elif config.init_from:  # only a new run: a rerun resumes the fine-tuning run itself
        logging.info("initialised %s", init_from_lib.load_into(
            config.init_from, checkpoint.generator, checkpoint.discriminator))


def _open_run(config, strategy, chief):
    """Checks the settings and data, builds or restores the state, and returns the `_Run`."""
    output_dir = config.output_dir
    checkpoint_dir = os.path.join(output_dir, checkpoints.CHECKPOINT_SUBDIR)
    _check_resume_config(config, output_dir, checkpoint_dir)
    records = resolve_train_files(config)
    val_files = shards.glob_records(config.val_data, label="--val_data") if config.val_data else []
    val_records = shards.check_records(val_files) if val_files else None  # checked once
    steps_per_epoch = max(records.num_examples // config.batch_size, 1)  # a partial batch if few
    if config.steps_per_epoch:
        steps_per_epoch = min(steps_per_epoch, config.steps_per_epoch)
    logging.info("run %s: %s", output_dir, _non_default_settings(config))
    logging.info("training on %d examples from %d file(s); %d steps/epoch of batch %d, %d "
                 "steps in all; %d replica(s)", records.num_examples, len(records.files),
                 steps_per_epoch, config.batch_size, config.total_epochs * steps_per_epoch,
                 strategy.num_replicas_in_sync)

    if not chief:  # other workers write to a scratch copy, as TF's multi-worker guide does
        checkpoint_dir = tempfile.mkdtemp(prefix="salgan_worker_ckpt_")
        atexit.register(shutil.rmtree, checkpoint_dir, ignore_errors=True)  # never read back
    else:
        run_dir.remove_partial_checkpoints(checkpoint_dir)
        run_dir.set_aside_corrupt_checkpoints(checkpoint_dir)
    resuming = tf.train.latest_checkpoint(checkpoint_dir) is not None
    checkpoint, manager = _build_checkpoint(config, strategy, checkpoint_dir, resuming)
    _restore_or_initialise(config, checkpoint, manager)
    _adapt_position(checkpoint.progress, batch_size=config.batch_size,
                    steps_per_epoch=steps_per_epoch, records=records, output_dir=output_dir)
    if chief:  # only now: a run that failed before this point leaves the directory reusable
        config_lib.save(config, output_dir)

    run = _Run(
        config=config, strategy=strategy, chief=chief, records=records,
        steps_per_epoch=steps_per_epoch,
        checkpoint=checkpoint, manager=manager,
        steps=steps_lib.SalGANSteps(
            checkpoint.generator, checkpoint.discriminator, checkpoint.g_optimizer,
            checkpoint.d_optimizer, alpha=config.alpha, weight_decay=config.weight_decay,
            downsample=config.downsample, content_loss=config.content_loss,
            adversarial_weight=config.adversarial_weight, balance=config.balance,
            balance_ratio=config.balance_ratio, strategy=strategy,
            jit_compile=config.jit_compile),
        writer=(tf.summary.create_file_writer(os.path.join(output_dir, "tensorboard")) if chief
                else tf.summary.create_noop_writer()),
        samples=next(iter(pipeline.make_dataset(
            records, image_size=config.image_size, batch_size=config.num_sample_maps,
            training=False, resize_mode=config.resize_mode, downsample=config.downsample))))
    if val_records and chief:
        run.validator = validation.Validator(
            val_records, image_size=config.image_size, resize_mode=config.resize_mode,
            downsample=config.downsample, batch_size=config.batch_size,
            limit=config.val_limit or None)
        run.keeper = validation.BestEpoch(output_dir, config.select_metric,
                                          metric_names=run.validator.metric_names)
    return run


def _validate(run, epochs_done):
    """Scores the generator on --val_data, records the epoch, keeps the best weights."""
    scores = run.validator(run.generator)
    phase = "start" if epochs_done == 0 else run.phase(epochs_done - 1)
    if run.keeper.update(epochs_done, phase, scores, run.generator):
        logging.info("epoch %d is the best so far: %s=%.4f", epochs_done,
                     run.config.select_metric, scores[run.config.select_metric])
    _write_scalars(run.writer, run.global_step, "val", scores)
    return scores


def _catch_up_validation(run, *, fine_tuning_start):
    """Scores what the best-epoch keeper has not seen yet, before any training step.

    Fine-tuning: the starting model is "epoch 0", so no epoch that scores worse on validation
    becomes best_generator.weights.h5. A run killed between an epoch-end checkpoint and its
    validation gets that epoch scored here.
    """
    if run.validator is None:
        return
    if fine_tuning_start:
        _validate(run, 0)
    epoch = int(run.progress.epoch)
    if int(run.progress.step_in_epoch) == 0 and run.keeper.last_epoch < epoch:
        _validate(run, epoch)


def _epoch_dataset(run, epoch, skip):
    """The epoch's batches after the first `skip`, in an order fixed by (seed, epoch)."""
    config = run.config
    ds = pipeline.make_dataset(
        run.records, image_size=config.image_size, batch_size=config.batch_size, training=True,
        flip=config.flip, resize_mode=config.resize_mode, seed=config.seed + epoch,
        deterministic=True, repeat=True,
        drop_remainder=run.records.num_examples >= config.batch_size,
        downsample=config.downsample)
    ds = ds.skip(skip).take(run.steps_per_epoch - skip).map(
        lambda batch: {k: batch[k] for k in ("image", "map", "map_small")})  # no strings: XLA
    return run.strategy.experimental_distribute_dataset(ds)


def _checked_scalars(run, step_scalars, step):
    """The step's scalars as floats (a host sync), or FloatingPointError if one is not finite."""
    scalars = {k: float(v) for k, v in step_scalars.items()}
    if not all(np.isfinite(v) for v in scalars.values()):
        raise FloatingPointError(f"non-finite loss at global step {step}: {scalars}; "
                                 f"{_resume_advice(run.manager)}")
    return scalars


def _log_step(run, meter, batch, scalars, epoch, phase):
    """The log step: G's per-term gradient norms (GAN phase), TensorBoard and a progress line."""
    if phase == "gan":
        terms = {k: float(v) for k, v in run.steps.gradient_terms(batch).items()}
        terms["g_adversarial_to_content_grad_ratio"] = (
            terms["g_adversarial_grad_norm"] / max(terms["g_content_grad_norm"], 1e-30))
        meter.add_terms(terms)
        scalars = {**scalars, **terms}
    _write_scalars(run.writer, run.global_step, phase, scalars)
    logging.info(_progress_line(
        f"epoch {epoch + 1}/{run.config.total_epochs} [{phase}] step "
        f"{int(run.progress.step_in_epoch)}/{run.steps_per_epoch}", scalars, phase,
        steps_per_second=meter.steps_per_second_since_log(),
        eta_seconds=meter.seconds_left(run.global_step)))


def _run_epoch(run, meter, stop_signals):
    """Trains the rest of the current epoch; logs and checkpoints on their step schedules.

    Only log and checkpoint steps read values back from the device. The epoch's last step is
    checkpointed by `_end_epoch` (once, with the epoch counted done), not here.
    """
    config, progress = run.config, run.progress
    epoch = int(progress.epoch)
    phase = run.phase(epoch)
    step_fn = run.steps.bce_step if phase == "bce" else run.steps.adversarial_step
    meter.start_epoch()
    for batch in _epoch_dataset(run, epoch, int(progress.step_in_epoch)):
        if config.stop_at_step and run.global_step >= config.stop_at_step:
            raise TrainingInterrupted(f"--stop_at_step={config.stop_at_step}")
        step_scalars = step_fn(batch)  # tensors: no host sync until a log step
        progress.step_in_epoch.assign_add(1)
        progress.global_step.assign_add(1)
        meter.add_step(step_scalars)
        step = run.global_step
        log_now = _is_time(step, config.log_every_steps)
        save_now = (_is_time(step, config.checkpoint_every_steps)
                    and int(progress.step_in_epoch) < run.steps_per_epoch)
        if log_now or save_now:
            scalars = _checked_scalars(run, step_scalars, step)
            if save_now:
                run.save()
            if log_now:
                _log_step(run, meter, batch, scalars, epoch, phase)
        stop_signals.check()


def _end_epoch(run, meter):
    """Closes the epoch: means, checkpoint, validation (best epoch), epochs.jsonl, TensorBoard."""
    config, progress = run.config, run.progress
    epoch = int(progress.epoch)
    phase = run.phase(epoch)
    means, terms = meter.epoch_means()
    if not all(np.isfinite(v) for v in means.values()):
        raise FloatingPointError(f"non-finite loss in epoch {epoch + 1}: {means}")
    means.update(terms)
    progress.epoch.assign_add(1)
    progress.step_in_epoch.assign(0)
    run.save()
    if run.validator is not None:  # after the save: a recorded epoch is never rolled back
        means.update({f"val_{k}": v for k, v in _validate(run, epoch + 1).items()})
    if run.chief:
        _append_epoch_log(config.output_dir, epoch, phase, means)
    _write_scalars(run.writer, run.global_step, "epoch", means)
    with run.writer.as_default(step=run.global_step):
        tf.summary.image("predicted_maps", run.generator(run.samples["image"], training=False),
                         max_outputs=config.num_sample_maps)
        tf.summary.image("ground_truth_maps", run.samples["map"],
                         max_outputs=config.num_sample_maps)
    epoch_seconds = meter.epoch_seconds()
    position = (f"epoch {epoch + 1}/{config.total_epochs} [{phase}] done in "
                f"{_format_seconds(epoch_seconds)}")
    if run.validator is not None:
        metric = f"val_{config.select_metric}"
        position += f", {metric}={means[metric]:.4g}"
    logging.info(_progress_line(position, means, phase,
                                steps_per_second=meter.count / max(epoch_seconds, 1e-9),
                                eta_seconds=meter.seconds_left(run.global_step)))


def _save_on_interrupt(run, interrupt):
    """Checkpoints the current step (unless it is saved already) and says how to continue."""
    step = run.global_step
    saved = run.save()
    if str(interrupt).startswith("--stop_at_step"):
        return TrainingInterrupted(f"stopped at global step {step} ({interrupt}): saved {saved}; "
                                   "rerun with a larger --stop_at_step, or without it, to go on")
    return TrainingInterrupted(f"interrupted ({str(interrupt) or 'Ctrl-C'}) at global step "
                               f"{step}: saved {saved}; rerun the same command to resume")


def _finish(run, meter):
    """Writes the final generator weights and sample maps; returns the run's summary."""
    run.writer.flush()
    if run.chief:
        run.generator.save_weights(os.path.join(run.config.output_dir, checkpoints.FINAL_WEIGHTS))
        _save_sample_maps(run.generator, run.samples,
                          os.path.join(run.config.output_dir, "samples"))
    logging.info("finished %d epochs (global step %d) in %s; checkpoints in %s",
                 run.config.total_epochs, run.global_step,
                 _format_seconds(time.time() - meter.start), run.manager.directory)
    return {"global_step": run.global_step, "output_dir": run.config.output_dir}


def train(config):
    """Runs (or resumes) the SalGAN training run that `config` describes.

    Outline: resolve `--mixed_precision=auto` (salgan_tf.precision; logged first), open the run
    (check settings and data; build, restore or initialise both nets), score what validation has
    not seen, then per epoch train its steps and end it (checkpoint, validate, keep the best
    epoch, log), and finish with the final weights. SIGTERM/Ctrl-C or
    --stop_at_step stop after a step with a checkpoint (TrainingInterrupted says where).

    Returns:
      dict with the final `global_step` and the `output_dir`; per-epoch means are in
      `<output_dir>/epochs.jsonl`.
    """
    config.validate()
    os.makedirs(config.output_dir, exist_ok=True)
    config, reason = precision.resolve(config)  # config.json gets the resolved policy
    logging.info("precision policy %s (%s)", config.mixed_precision, reason)
    keras.mixed_precision.set_global_policy(config.mixed_precision)
    keras.utils.set_random_seed(config.seed)
    strategy = strategy_lib.make_strategy(config.strategy)
    chief = strategy_lib.is_chief(strategy)
    # One writer per run directory; other workers of a multi-worker run write elsewhere.
    with run_dir.locked(config.output_dir) if chief else contextlib.nullcontext():
        run = _open_run(config, strategy, chief)
        _catch_up_validation(run, fine_tuning_start=bool(config.init_from)
                             and not run.manager.latest_checkpoint)
        meter = _Meter(total_steps=config.total_epochs * run.steps_per_epoch)
        try:
            with _StopSignals() as stop_signals:
                while int(run.progress.epoch) < config.total_epochs:
                    _run_epoch(run, meter, stop_signals)
                    _end_epoch(run, meter)
        except (KeyboardInterrupt, TrainingInterrupted) as interrupt:
            raise _save_on_interrupt(run, interrupt) from None
        return _finish(run, meter)
