"""A hand-edited run directory's config.json (issue 23): every reader refuses a bad one in one
line naming the file and the key, instead of a traceback or silent defaults.

The rules come from the TrainConfig fields (type, choices) and `TrainConfig.validate` (ranges),
so a new field is checked without a new rule here.
"""
import json
import os
import subprocess
import sys

import pytest

from salgan_tf import config as config_lib

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# (what a user typed into config.json, the message expected after "<file>: ")
EDITS = {
    "a string height": ({"image_height": "192"}, 'image_height must be an integer, got "192"'),
    "a float": ({"batch_size": 2.5}, "batch_size must be an integer, got 2.5"),
    "null": ({"resize_mode": None}, "resize_mode must be a string, got null"),
    "a list": ({"learning_rate": [0.1]}, r"learning_rate must be a number, got \[0.1\]"),
    "a misspelt key": ({"resize_mod": "letterbox"},
                       "unknown key 'resize_mod' \\(did you mean 'resize_mode'\\?\\)"),
    "a choice": ({"downsample": 3}, r"downsample must be one of \(1, 2, 4, 8\), got 3"),
    "a range": ({"batch_size": 0}, "batch_size must be positive, got 0"),
    "a bool as a number": ({"flip": 1}, "flip must be true or false, got 1"),
    "NaN": ({"alpha": float("nan")}, "alpha must be a finite number, got nan"),
}


def _write_config(run_dir, edit=None, text=None):
    """config.json of a default 32x48 run, with `edit` applied (or replaced by `text`)."""
    os.makedirs(run_dir, exist_ok=True)
    values = json.loads(config_lib.TrainConfig(output_dir=str(run_dir), image_height=32,
                                               image_width=48).to_json())
    values.update(edit or {})
    path = os.path.join(run_dir, config_lib.CONFIG_FILENAME)
    with open(path, "w") as handle:
        handle.write(text if text is not None else json.dumps(values))
    return path


@pytest.mark.parametrize("case", sorted(EDITS))
def test_a_hand_edited_config_json_is_refused_naming_the_file_and_the_key(tmp_path, case):
    edit, expected = EDITS[case]
    path = _write_config(tmp_path, edit)
    with pytest.raises(config_lib.ConfigFileError, match=f"^{path}: {expected}$"):
        config_lib.load(str(tmp_path))


@pytest.mark.parametrize("text,expected", [("{\"image_height\": 32,", "not valid JSON"),
                                           ("[1, 2]", "expected a JSON object of settings"),
                                           ("{}", "missing key 'output_dir'")])
def test_a_config_json_that_is_no_settings_object_is_refused_naming_the_file(tmp_path, text,
                                                                             expected):
    path = _write_config(tmp_path, text=text)
    with pytest.raises(config_lib.ConfigFileError) as failure:
        config_lib.load(str(tmp_path))
    assert str(failure.value).startswith(f"{path}: {expected}") and "\n" not in str(failure.value)


def test_a_config_json_of_an_older_version_takes_the_new_fields_defaults(tmp_path):
    _write_config(tmp_path)
    path = os.path.join(tmp_path, config_lib.CONFIG_FILENAME)
    values = json.load(open(path))
    del values["log_every_steps"], values["val_limit"]
    with open(path, "w") as handle:
        json.dump(values, handle)
    config = config_lib.load(str(tmp_path))
    assert config.image_size == (32, 48) and config.log_every_steps == 10


def _run_with_a_checkpoint(run_dir, edit):
    """A run directory whose checkpoints/ holds a (tiny) checkpoint and whose config.json has
    `edit`: the readers look at config.json before they build or restore a network."""
    import tensorflow as tf

    _write_config(run_dir, edit)
    tf.train.CheckpointManager(tf.train.Checkpoint(v=tf.Variable(1.0)),
                               os.path.join(run_dir, "checkpoints"), 1).save()
    return str(run_dir)


def test_every_reader_of_a_run_refuses_a_bad_config_json(tmp_path):
    """predict/evaluate/serve (`load_predictor`), export (`load_generator`), a weights file
    beside config.json, and a resumed training."""
    from salgan_tf import checkpoints
    from salgan_tf import inference
    from salgan_tf import train_lib

    run_dir = _run_with_a_checkpoint(tmp_path / "run", {"resize_mod": "letterbox"})
    expected = f"{os.path.join(run_dir, config_lib.CONFIG_FILENAME)}: unknown key 'resize_mod'"
    weights = os.path.join(run_dir, checkpoints.FINAL_WEIGHTS)
    open(weights, "wb").close()
    for read in (lambda: inference.load_predictor(run_dir),
                 lambda: checkpoints.load_generator(run_dir),
                 lambda: checkpoints.load_generator(weights)):
        with pytest.raises(config_lib.ConfigFileError, match=expected):
            read()
    config = config_lib.TrainConfig(output_dir=run_dir, image_height=32, image_width=48)
    with pytest.raises(train_lib.RunSettingsError, match=f"{expected}.*; fix it, or use a new "
                                                         "--output_dir"):
        train_lib.train(config)


def test_predict_cli_refuses_a_bad_config_json_in_one_line(tmp_path):
    run_dir = _run_with_a_checkpoint(tmp_path / "run", {"image_height": "32"})
    (tmp_path / "in").mkdir()
    result = subprocess.run(
        [sys.executable, "-m", "salgan_tf.predict", f"--model={run_dir}",
         f"--input={tmp_path / 'in'}", f"--output={tmp_path / 'out'}"],
        cwd=REPO, capture_output=True, text=True, timeout=300,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr[-3000:]
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: {os.path.join(run_dir, 'config.json')}: image_height must be an integer, "
        'got "32"')
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("how", ["truncated", "bit-flipped"])
def test_predicting_from_a_run_with_a_damaged_checkpoint_is_one_line_naming_it(tmp_path, util,
                                                                               how):
    """A damaged checkpoint read by predict/evaluate/export gave an IndexError/DataLossError."""
    import shutil

    from salgan_tf import inference

    _, source, _ = util.exported_model()
    run_dir = shutil.copytree(source, tmp_path / "run")
    (data,) = (run_dir / "checkpoints").glob("ckpt-1.data-*")
    damaged = data.read_bytes()
    middle = len(damaged) // 2
    data.write_bytes(damaged[:middle] if how == "truncated" else
                     damaged[:middle] + bytes([damaged[middle] ^ 0x10]) + damaged[middle + 1:])
    with pytest.raises(ValueError) as failure:
        inference.load_predictor(str(run_dir))
    message = str(failure.value)
    assert message.startswith(f"{run_dir / 'checkpoints' / 'ckpt-1'}: the checkpoint does not "
                              "read back (") and "\n" not in message
    assert ("truncated" if how == "truncated" else "Checksum does not match") in message
