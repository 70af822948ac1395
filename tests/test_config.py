"""TrainConfig is the one source of the training flags: names, defaults, help, choices."""
import dataclasses
import pathlib
import re
import subprocess
import sys
import typing

import pytest
from absl import flags

from salgan_tf import config as config_lib

REPO = pathlib.Path(__file__).resolve().parents[1]
FIELDS = dataclasses.fields(config_lib.TrainConfig)
TYPES = typing.get_type_hints(config_lib.TrainConfig)

# A value other than the default for every field (valid together).
NON_DEFAULT = dict(
    output_dir="/tmp/run", train_data="a/*.tfrecord,b/*.tfrecord", val_data="v/*.tfrecord",
    select_metric="nss", val_limit=5, image_height=32, image_width=48, resize_mode="letterbox",
    flip=False, batch_size=2, bce_epochs=1, gan_epochs=2, learning_rate=1e-3, alpha=0.5,
    adversarial_weight=0.01, balance="adaptive", balance_ratio=0.3, weight_decay=0.0,
    downsample=8, content_loss="mse",
    d_map_input="raw", encoder_weights="imagenet", init_from="runs/x/checkpoints/ckpt-3",
    trainable="output", seed=7, mixed_precision="mixed_bfloat16", jit_compile=True,
    strategy="mirrored", checkpoint_every_steps=5, max_checkpoints=1, steps_per_epoch=3,
    num_sample_maps=1, demo_examples=8, log_every_steps=2, stop_at_step=500)


def _flag_values():
    flag_values = flags.FlagValues()
    config_lib.define_flags(flag_values)
    return flag_values


def test_every_field_has_a_flag_with_its_default_help_and_type():
    flag_values = _flag_values()
    assert {field.name for field in FIELDS} == set(flag_values)
    flag_values(["train", "--output_dir=/tmp/run"])
    for field in FIELDS:
        flag = flag_values[field.name]
        assert field.metadata["help"].strip(), field.name
        assert flag.help.endswith(field.metadata["help"]), field.name  # enums: "<a|b>: " first
        choices = field.metadata["choices"]
        if choices is not None:  # absl enums hold strings
            assert flag.parser.enum_values == [str(c) for c in choices], field.name
        else:
            assert type(flag.value) is TYPES[field.name], field.name
    assert flag_values["output_dir"].default is None  # required: no default
    assert config_lib.from_flags(flag_values) == config_lib.TrainConfig(output_dir="/tmp/run")


def test_output_dir_is_required():
    with pytest.raises(flags.IllegalFlagValueError, match="output_dir"):
        _flag_values()(["train", "--batch_size=4"])


def test_config_round_trips_through_flags():
    assert {field.name for field in FIELDS} == set(NON_DEFAULT)
    defaults = config_lib.TrainConfig(output_dir="")
    for name, value in NON_DEFAULT.items():
        assert value != getattr(defaults, name), name
    config = config_lib.TrainConfig(**NON_DEFAULT).validate()
    argv = ["train"] + [f"--{name}={value}" for name, value in dataclasses.asdict(config).items()]
    flag_values = _flag_values()
    flag_values(argv)
    from_flags = config_lib.from_flags(flag_values)
    assert from_flags == config
    assert type(from_flags.downsample) is int  # the enum's string converted back
    assert config_lib.TrainConfig.from_json(from_flags.to_json()) == config


@pytest.mark.parametrize("path", sorted((REPO / "configs").glob("*.flags")), ids=lambda p: p.name)
def test_every_configs_flags_file_parses_into_a_train_config(path):
    flag_values = _flag_values()
    flag_values(["train", f"--flagfile={path}"])
    config = config_lib.from_flags(flag_values)
    named = re.findall(r"^--(?:no)?(\w+)", path.read_text(), flags=re.MULTILINE)
    assert named and set(named) <= {field.name for field in FIELDS}
    assert all(flag_values[name].present for name in named)
    output_dir = re.search(r"^--output_dir=(.*)$", path.read_text(), flags=re.MULTILINE)[1]
    assert config.output_dir == output_dir


@pytest.mark.parametrize("name,value", [("content_loss", "l1"), ("d_map_input", "minmax"),
                                        ("downsample", 3), ("strategy", "horovod"),
                                        ("resize_mode", "crop"), ("trainable", "all"),
                                        ("mixed_precision", "float16")])
def test_a_value_outside_the_choices_is_refused_naming_the_field(name, value):
    with pytest.raises(ValueError, match=f"{name} must be one of .*got {value!r}"):
        config_lib.TrainConfig(output_dir="", **{name: value}).validate()


def test_the_modules_use_the_config_choice_lists():
    from salgan_tf import discriminator
    from salgan_tf import losses

    assert losses.CONTENT_LOSSES == {"bce": losses.binary_cross_entropy,
                                     "mse": losses.mean_squared_error}
    for map_input in config_lib.MAP_INPUTS:
        discriminator.build_discriminator((32, 48), map_input=map_input)
    with pytest.raises(ValueError, match="map_input must be one of"):
        discriminator.build_discriminator((32, 48), map_input="minmax")


@pytest.mark.parametrize("help_flag", ["--help", "--helpfull"])
def test_help_shows_every_setting_and_help_without_loading_tensorflow(help_flag):
    result = subprocess.run([sys.executable, "-m", "salgan_tf.train", help_flag], cwd=REPO,
                            capture_output=True, text=True, timeout=120)
    assert "Trains SalGAN" in result.stdout, result.stderr[-2000:]  # (absl exits 1 after help)
    # absl wraps and indents the help text: compare without whitespace.
    shown = re.sub(r"\s", "", result.stdout)
    for field in FIELDS:
        assert re.search(rf"--(\[no\])?{field.name}\b", result.stdout), field.name
        assert re.sub(r"\s", "", field.metadata["help"]) in shown, field.name
    imports = subprocess.run(
        [sys.executable, "-c", "import sys, salgan_tf.train; print('tensorflow' in sys.modules)"],
        cwd=REPO, capture_output=True, text=True, timeout=120)
    assert imports.stdout.strip() == "False", imports.stderr[-2000:]
