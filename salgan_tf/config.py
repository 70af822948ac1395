"""Training configuration: one frozen dataclass, filled from flags by `salgan_tf.train`.

Defaults are the paper's recipe (Pan et al. 2017, Sec. 4.2); the section is cited per field.
"""
from __future__ import annotations

import dataclasses
import json
import os

from salgan_tf import atomic

CONFIG_FILENAME = "config.json"
# Generator layers that train (`salgan_tf.init_from.set_trainable`).
TRAINABLE_CHOICES = ("paper", "decoder", "output")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Everything a training run needs; libraries take this, never absl FLAGS."""

    output_dir: str
    # TFRecord glob(s), comma-separated (see docs/data.md), or "demo" for the bundled synthetic set.
    train_data: str = "demo"
    val_data: str = ""
    image_height: int = 192  # Sec. 4.1: inputs resized to 256×192 (W×H).
    image_width: int = 256
    resize_mode: str = "stretch"  # "stretch" (paper) or "letterbox"
    flip: bool = True  # horizontal flip augmentation (image, map and fixations together)
    batch_size: int = 32  # Sec. 4.2
    bce_epochs: int = 15  # Sec. 4.2: 15 epochs of BCE-only bootstrap
    gan_epochs: int = 105  # Sec. 4.2: adversarial training, ~120 epochs in all
    learning_rate: float = 3e-4  # Sec. 4.2, AdaGrad
    alpha: float = 0.05  # Sec. 3.3, weight of the content (BCE) loss in the generator loss
    adversarial_weight: float = 1.0  # Sec. 3.3, Eq. 4: weight of -log D (1 in the paper)
    weight_decay: float = 1e-4  # Sec. 4.2, L2 on all trainable kernels of both nets
    downsample: int = 4  # Sec. 3.3: BCE computed on maps downsampled ×4 (Table 2: 1, 2, 4, 8)
    content_loss: str = "bce"  # Sec. 3.1: "bce" (Eq. 2) or "mse" (Table 3's MSE baseline)
    # How the map enters D: "raw" [0, 1] (paper) or "standardized" (per map mean 0, std 1): the
    # one departure that makes D learn (docs/discriminator.md).
    d_map_input: str = "standardized"
    encoder_weights: str = "none"  # "imagenet", a local VGG-16 weights file, or "none"
    # Fine-tuning: a trained run dir / ckpt-N / generator .weights.h5 to start from instead of
    # encoder_weights + a random decoder (salgan_tf.init_from); "" = train from scratch.
    init_from: str = ""
    # Generator layers that train (salgan_tf.init_from.set_trainable): "paper" = VGG blocks 4-5
    # and the decoder (Sec. 4.2), "decoder" = decoder and output conv, "output" = the 1x1 conv.
    trainable: str = "paper"
    seed: int = 0
    # Validation (docs/training.md): metric that picks the best epoch's weights (CC: invariant to
    # the map's scale and defined for records without fixations); 0 = every --val_data record.
    select_metric: str = "cc"
    val_limit: int = 0
    mixed_precision: str = "float32"  # "float32", "mixed_float16" or "mixed_bfloat16"
    jit_compile: bool = False
    strategy: str = "default"  # "default", "mirrored", "multi_worker" or "tpu"
    checkpoint_every_steps: int = 200  # also at each epoch end
    max_checkpoints: int = 3
    steps_per_epoch: int = 0  # 0: one pass over the data; >0 caps an epoch (quick runs)
    num_sample_maps: int = 4  # predicted maps written to TensorBoard and samples/
    demo_examples: int = 32  # size of the synthetic set when train_data == "demo"
    log_every_steps: int = 10

    @property
    def image_size(self):
        """`(height, width)` of the network input."""
        return (self.image_height, self.image_width)

    @property
    def total_epochs(self):
        return self.bce_epochs + self.gan_epochs

    def validate(self):
        """Raises ValueError naming the first bad field."""
        if self.image_height % 16 or self.image_width % 16:
            raise ValueError(f"image size {self.image_height}x{self.image_width} (HxW) must be "
                             "multiples of 16")
        if self.image_height % self.downsample or self.image_width % self.downsample:
            raise ValueError(f"image size must be a multiple of downsample={self.downsample}")
        if self.content_loss not in ("bce", "mse"):
            raise ValueError(f"content_loss must be 'bce' or 'mse', got {self.content_loss!r}")
        if self.d_map_input not in ("raw", "standardized"):
            raise ValueError(f"d_map_input must be 'raw' or 'standardized', got "
                             f"{self.d_map_input!r}")
        if self.trainable not in TRAINABLE_CHOICES:
            raise ValueError(f"trainable must be one of {TRAINABLE_CHOICES}, got "
                             f"{self.trainable!r}")
        if self.resize_mode not in ("stretch", "letterbox"):
            raise ValueError(f"resize_mode must be 'stretch' or 'letterbox', got {self.resize_mode!r}")
        if self.mixed_precision not in ("float32", "mixed_float16", "mixed_bfloat16"):
            raise ValueError(f"unknown mixed_precision policy {self.mixed_precision!r}")
        if self.strategy not in ("default", "mirrored", "multi_worker", "tpu"):
            raise ValueError(f"unknown strategy {self.strategy!r}")
        for name in ("batch_size", "checkpoint_every_steps", "max_checkpoints", "downsample"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        for name in ("bce_epochs", "gan_epochs", "steps_per_epoch", "weight_decay", "alpha",
                     "adversarial_weight", "val_limit"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.learning_rate <= 0:
            raise ValueError(f"learning_rate must be positive, got {self.learning_rate}")
        return self

    def to_json(self):
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text):
        fields = {f.name for f in dataclasses.fields(cls)}
        values = json.loads(text)
        return cls(**{k: v for k, v in values.items() if k in fields})


def save(config, directory):
    """Writes `config.json` into `directory` (atomically)."""
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, CONFIG_FILENAME)
    with atomic.open_replaced(path) as handle:
        handle.write(config.to_json())
    return path


def load(directory):
    """Reads `config.json` from a training output directory."""
    path = os.path.join(directory, CONFIG_FILENAME)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: no training config here (is {directory} a salgan_tf "
                                "training output directory?)")
    with open(path) as f:
        return TrainConfig.from_json(f.read())
