"""The shipped flag files (configs/*.flags) parse into valid training configs."""
import pathlib

import pytest

from salgan_tf import config as config_lib

CONFIGS = pathlib.Path(__file__).resolve().parents[1] / "configs"


@pytest.mark.parametrize("name", sorted(p.name for p in CONFIGS.glob("*.flags")))
def test_flag_file_gives_a_valid_config(name):
    config = config_lib.from_flag_file(CONFIGS / name)
    assert config.output_dir.startswith("runs/")


def test_paper_recipe_uses_the_balance_shown_not_to_end_below_its_bootstrap():
    # README "Quality": with the adaptive balance r = 0.1 the adversarial phase kept validation
    # CC above its bootstrap's; the paper's fixed alpha 0.05 / w 1 made G chase D.
    path = CONFIGS / "salicon_paper.flags"
    config = config_lib.from_flag_file(path)
    assert (config.balance, config.balance_ratio, config.alpha) == ("adaptive", 0.1, 1.0)
    assert "alpha = 0.05" in path.read_text()  # the paper's values stay named


def test_flag_file_last_value_wins_and_missing_flags_keep_their_defaults(tmp_path):
    path = tmp_path / "recipe.flags"
    path.write_text("--output_dir=runs/x\n# --image_height=1 in a comment\n--image_height=48\n"
                    "--image_width=64\n"
                    "--image_height=144\n")
    config = config_lib.from_flag_file(path)
    assert (config.image_height, config.image_width) == (144, 64)
    assert config.batch_size == config_lib.TrainConfig.batch_size
