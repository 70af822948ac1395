"""Training configuration: one frozen dataclass, and the absl flags generated from it.

Each field holds its default (the paper's recipe, Pan et al. 2017, Sec. 4.2; the section is cited
in the help), its `--flag` help text and, for a choice, the allowed values: adding a setting is
one field here. `salgan_tf.train` defines the flags with `define_flags` and builds the config with
`from_flags`; libraries take the config, never absl FLAGS.
"""
from __future__ import annotations

import dataclasses
import difflib
import json
import math
import os
import typing

from absl import flags

from salgan_tf import atomic

CONFIG_FILENAME = "config.json"

# The allowed values of each choice setting, defined here only (this module imports no
# TensorFlow, so `--help` is fast and the log level can be set before TF loads).
RESIZE_MODES = ("stretch", "letterbox")
DOWNSAMPLE_FACTORS = (1, 2, 4, 8)  # Table 2
CONTENT_LOSSES = ("bce", "mse")  # Sec. 3.1 Eq. 2; Table 3's MSE baseline (salgan_tf.losses)
MAP_INPUTS = ("raw", "standardized")  # salgan_tf.discriminator
TRAINABLE_CHOICES = ("paper", "decoder", "output")  # salgan_tf.init_from.set_trainable
# "auto": the machine's fastest (salgan_tf.precision); config.json holds the resolved one.
PRECISION_POLICIES = ("auto", "float32", "mixed_float16", "mixed_bfloat16")
STRATEGIES = ("default", "mirrored", "multi_worker", "tpu")  # salgan_tf.strategy
BALANCES = ("fixed", "adaptive")  # salgan_tf.steps: weight of -log D in the generator loss


def _setting(default, help_text, choices=None):
    """A TrainConfig field: default, `--flag` help text and, for a choice, the allowed values."""
    return dataclasses.field(default=default, metadata={"help": help_text, "choices": choices})


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Everything a training run needs; libraries take this, never absl FLAGS."""

    output_dir: str = dataclasses.field(metadata={
        "help": "Run directory: config.json, checkpoints/, tensorboard/, samples/. Reusing it "
                "resumes training.", "choices": None})
    train_data: str = _setting(
        "demo", "TFRecord glob(s), comma-separated, written by `python -m salgan_tf.convert` "
        "(docs/data.md), or 'demo' for the bundled synthetic set.")
    val_data: str = _setting(
        "", "Optional TFRecord glob: after every epoch the saliency metrics (AUC-Judd, AUC-Borji, "
        "sAUC, NSS, CC, KLD, SIM, IG) and the content loss on it go to TensorBoard and "
        "val_metrics.csv; the best epoch's generator is kept (docs/training.md).")
    # CC: invariant to the map's scale and defined for records without fixations.
    select_metric: str = _setting(
        "cc", "Validation metric that picks the best epoch (best_generator.weights.h5).")
    val_limit: int = _setting(0, "Validate on the first N --val_data records (0: all).")
    image_height: int = _setting(
        192, "Network input height (px, multiple of 16; Sec. 4.1: 256x192 WxH).")
    image_width: int = _setting(256, "Network input width (px, multiple of 16).")
    resize_mode: str = _setting(
        "stretch", "How images reach the network size: stretch (paper) or letterbox (keep "
        "aspect).", RESIZE_MODES)
    flip: bool = _setting(True, "Random horizontal flips (image, map and fixations together).")
    batch_size: int = _setting(32, "Global batch size (paper: 32, Sec. 4.2).")
    bce_epochs: int = _setting(15, "Epochs of BCE-only bootstrap (paper: 15, Sec. 4.2).")
    gan_epochs: int = _setting(
        105, "Epochs of adversarial training after the bootstrap (paper: ~105, Sec. 4.2: ~120 "
        "epochs in all).")
    learning_rate: float = _setting(3e-4, "AdaGrad learning rate (paper: 3e-4, Sec. 4.2).")
    alpha: float = _setting(
        0.05, "Weight of the content (BCE) loss in the generator loss (paper: 0.05, Sec. 3.3).")
    adversarial_weight: float = _setting(
        1.0, "Weight of -log D in the generator loss (paper: 1, Sec. 3.3 Eq. 4). The ratio "
        "adversarial_weight / alpha sets the balance (docs/discriminator.md).")
    # The adversarial balance (docs/discriminator.md "A balance that holds at any scale").
    balance: str = _setting(
        "fixed", "Weight of -log D in the generator loss: fixed (--adversarial_weight, the "
        "paper's Eq. 4) or adaptive (set each G step so that its gradient on G's last layer is "
        "--balance_ratio times alpha*content's; VQGAN's adaptive weight).", BALANCES)
    balance_ratio: float = _setting(
        0.1, "--balance=adaptive: wanted |grad of weighted -log D| / |grad of alpha*content| on "
        "G's last layer (docs/discriminator.md: D kept ahead at measured ratios .05-.4).")
    weight_decay: float = _setting(
        1e-4, "L2 weight regularisation on both nets' kernels (paper: 1e-4, Sec. 4.2).")
    downsample: int = _setting(
        4, "Content loss computed on maps average-pooled by this (paper: 4, Sec. 3.3; Table 2).",
        DOWNSAMPLE_FACTORS)
    content_loss: str = _setting(
        "bce", "Content loss: bce (paper Eq. 2) or mse (Table 3's MSE baseline).", CONTENT_LOSSES)
    # The one departure that makes D learn (docs/discriminator.md).
    d_map_input: str = _setting(
        "standardized", "How the map enters D: raw [0, 1] (paper) or standardized per map (mean "
        "0, std 1). See docs/discriminator.md.", MAP_INPUTS)
    encoder_weights: str = _setting(
        "none", "'imagenet' (Keras download), a local VGG-16 weights file (.h5/.weights.h5/.keras, "
        "see `python -m salgan_tf.tools.import_vgg16`), or 'none'.")
    init_from: str = _setting(
        "", "Fine-tune: start from a trained run dir, ckpt-N, generator .weights.h5 (e.g. from "
        "salgan_tf.tools.import_salgan) or a shipped model's name (salgan-osie) with fresh "
        "optimizers; a rerun resumes the new run.")
    trainable: str = _setting(
        "paper", "Generator layers that train: paper (VGG blocks 4-5 + decoder, Sec. 4.2), "
        "decoder (decoder + output conv: fine-tuning on few images), output (the 1x1 output conv "
        "only).", TRAINABLE_CHOICES)
    seed: int = _setting(0, "Seed for init, shuffling and augmentation.")
    # float32, not auto, by default: the tests' and the demo's tiny runs stay the same on every
    # machine; the recipe configs (configs/osie_cpu.flags, salicon_paper.flags) say auto.
    mixed_precision: str = _setting(
        "float32", "Keras dtype policy, or auto: mixed_bfloat16 on a TPU or a CPU with "
        "avx512_bf16/amx_bf16, mixed_float16 on GPUs of compute capability >= 7.0, float32 "
        "otherwise (salgan_tf.precision); config.json records the resolved policy and a resumed "
        "run keeps it.", PRECISION_POLICIES)
    jit_compile: bool = _setting(False, "XLA-compile the train steps.")
    strategy: str = _setting(
        "default", "tf.distribute strategy (multi_worker reads TF_CONFIG).", STRATEGIES)
    checkpoint_every_steps: int = _setting(
        200, "Checkpoint interval in steps (a checkpoint is also written each epoch).")
    max_checkpoints: int = _setting(3, "Checkpoints kept.")
    steps_per_epoch: int = _setting(
        0, "Cap on steps per epoch (0: one pass over the data; >0: quick runs).")
    num_sample_maps: int = _setting(
        4, "Predicted maps shown in TensorBoard and written to samples/.")
    demo_examples: int = _setting(32, "Size of the synthetic set for --train_data=demo.")
    stop_at_step: int = _setting(
        0, "Stop with a checkpoint once the global step reaches this (0: run every epoch); a "
        "rerun with a larger value or without it goes on: a long run in slices that fit a time "
        "slot.")
    log_every_steps: int = _setting(
        10, "Interval in steps of the progress line (losses, steps/s, ETA) and the TensorBoard "
        "scalars.")

    @property
    def image_size(self):
        """`(height, width)` of the network input."""
        return (self.image_height, self.image_width)

    @property
    def total_epochs(self):
        return self.bce_epochs + self.gan_epochs

    def validate(self):
        """Raises ValueError naming the first bad field."""
        for field in dataclasses.fields(self):
            choices, value = field.metadata["choices"], getattr(self, field.name)
            if choices is not None and value not in choices:
                raise ValueError(f"{field.name} must be one of {choices}, got {value!r}")
        # Every DOWNSAMPLE_FACTORS entry divides 16, so the map pools evenly too.
        if self.image_height % 16 or self.image_width % 16:
            raise ValueError(f"image size {self.image_height}x{self.image_width} (HxW) must be "
                             "multiples of 16")
        for name in ("batch_size", "checkpoint_every_steps", "max_checkpoints", "log_every_steps"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        for name in ("bce_epochs", "gan_epochs", "steps_per_epoch", "weight_decay", "alpha",
                     "adversarial_weight", "val_limit", "stop_at_step"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        types = typing.get_type_hints(TrainConfig)
        for name in (field.name for field in dataclasses.fields(self)):
            if types[name] is float and not math.isfinite(getattr(self, name)):
                raise ValueError(f"{name} must be a finite number, got {getattr(self, name)}")
        if self.balance_ratio <= 0:
            raise ValueError(f"balance_ratio must be positive, got {self.balance_ratio}")
        if self.learning_rate <= 0:
            raise ValueError(f"learning_rate must be positive, got {self.learning_rate}")
        return self

    def to_json(self):
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text):
        """The validated config a `to_json` text holds; ValueError naming the key otherwise.

        Keys are checked against the fields (a misspelt key is an error, not a default), values
        against each field's type and choices, then `validate` checks the ranges. A key missing
        (a config.json written before the field existed) takes the field's default.
        """
        try:
            values = json.loads(text)
        except json.JSONDecodeError as error:
            raise ValueError(f"not valid JSON ({error})") from None
        if not isinstance(values, dict):
            raise ValueError("expected a JSON object of settings, got "
                             f"{json.dumps(values)[:60]}")
        fields = {field.name: field for field in dataclasses.fields(cls)}
        types = typing.get_type_hints(cls)
        for key, value in values.items():
            if key not in fields:
                close = difflib.get_close_matches(key, fields, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise ValueError(f"unknown key {key!r}{hint}")
            if not _has_type(value, types[key]):
                raise ValueError(f"{key} must be {_TYPE_NAMES[types[key]]}, got "
                                 f"{json.dumps(value)[:60]}")
        missing = [name for name, field in fields.items()
                   if name not in values and field.default is dataclasses.MISSING]
        if missing:
            raise ValueError(f"missing key {missing[0]!r}")
        return cls(**{key: types[key](value) for key, value in values.items()}).validate()


# JSON value -> field type: JSON has one number type, so an integral float field may hold 3.
_TYPE_NAMES = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}


def _has_type(value, field_type):
    """True if a JSON value can stand for a field of `field_type` (bool is no number here)."""
    if isinstance(value, bool) or field_type is bool:
        return isinstance(value, bool) and field_type is bool
    if field_type is float:
        return isinstance(value, (int, float))
    return isinstance(value, field_type)


_DEFINE_BY_TYPE = {bool: flags.DEFINE_bool, int: flags.DEFINE_integer,
                   float: flags.DEFINE_float, str: flags.DEFINE_string}


def define_flags(flag_values):
    """Defines one absl flag per TrainConfig field on `flag_values`: same name, default, help.

    A choice field becomes an enum flag (absl enums hold strings; `from_flags` converts back);
    a field without default becomes a required flag.
    """
    types = typing.get_type_hints(TrainConfig)
    for field in dataclasses.fields(TrainConfig):
        default = None if field.default is dataclasses.MISSING else field.default
        help_text, choices = field.metadata["help"], field.metadata["choices"]
        if choices is not None:
            flags.DEFINE_enum(field.name, str(default), [str(c) for c in choices], help_text,
                              flag_values=flag_values)
        else:
            _DEFINE_BY_TYPE[types[field.name]](field.name, default, help_text,
                                               flag_values=flag_values)
        if default is None:
            flags.mark_flag_as_required(field.name, flag_values=flag_values)


def from_flags(flag_values):
    """The validated TrainConfig that parsed flags (defined by `define_flags`) describe."""
    types = typing.get_type_hints(TrainConfig)
    return TrainConfig(**{field.name: types[field.name](flag_values[field.name].value)
                          for field in dataclasses.fields(TrainConfig)}).validate()


def from_flag_file(path):
    """The validated TrainConfig that `train --flagfile=path` starts from (absl parses the file:
    comments, nested --flagfile, the last value of a flag wins)."""
    flag_values = flags.FlagValues()
    define_flags(flag_values)
    flag_values(["train", f"--flagfile={path}"])
    return from_flags(flag_values)


def save(config, directory):
    """Writes `config.json` into `directory` (atomically)."""
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, CONFIG_FILENAME)
    with atomic.open_replaced(path) as handle:
        handle.write(config.to_json())
    return path


class ConfigFileError(ValueError):
    """A config.json that is not valid JSON or holds an unknown key or a bad value."""


def load(directory):
    """The validated TrainConfig of `config.json` in a training output directory.

    Every reader of a run (predict, export, evaluate, serve, init_from, a resumed training)
    loads it here.

    Raises:
      FileNotFoundError: no config.json in `directory`.
      ConfigFileError: invalid JSON, an unknown key or a bad value; the message names the file
        and the key.
    """
    path = os.path.join(directory, CONFIG_FILENAME)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: no training config here (is {directory} a salgan_tf "
                                "training output directory?)")
    with open(path) as f:
        text = f.read()
    try:
        return TrainConfig.from_json(text)
    except ValueError as error:
        raise ConfigFileError(f"{path}: {error}") from None
