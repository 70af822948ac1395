"""The shipped flag files (configs/*.flags) parse into valid training configs."""
import pathlib

import pytest
from absl import flags

from salgan_tf import config as config_lib

CONFIGS = pathlib.Path(__file__).resolve().parents[1] / "configs"


def parse_flag_file(path):
    """The TrainConfig that `train --flagfile=path` starts from."""
    values = flags.FlagValues()
    config_lib.define_flags(values)
    values(["train", f"--flagfile={path}"])
    return config_lib.from_flags(values)


@pytest.mark.parametrize("name", sorted(p.name for p in CONFIGS.glob("*.flags")))
def test_flag_file_gives_a_valid_config(name):
    config = parse_flag_file(CONFIGS / name)
    assert config.output_dir.startswith("runs/")


def test_paper_recipe_uses_the_balance_shown_not_to_end_below_its_bootstrap():
    # README "Quality": with the adaptive balance r = 0.1 the adversarial phase kept validation
    # CC above its bootstrap's; the paper's fixed alpha 0.05 / w 1 made G chase D.
    path = CONFIGS / "salicon_paper.flags"
    config = parse_flag_file(path)
    assert (config.balance, config.balance_ratio, config.alpha) == ("adaptive", 0.1, 1.0)
    assert "alpha = 0.05" in path.read_text()  # the paper's values stay named
