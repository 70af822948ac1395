"""Shipped models: a packaged folder loads by name everywhere, checked by its sha256.

The stand-in model is the tiny test generator (conftest.tiny_generator, 32x32) packaged by the
same tool the real model goes through (salgan_tf.tools.package_model); `shipped.MODELS_DIR` points
at a temporary folder, or, for the install test, the stand-in is packaged into a copy of the
source tree that is built as a wheel.
"""
import json
import os
import pathlib
import shutil
import subprocess
import sys
import zipfile

import numpy as np
import pytest

import salgan_tf
from salgan_tf import checkpoints
from salgan_tf import config as config_lib
from salgan_tf import generator as generator_lib
from salgan_tf import init_from
from salgan_tf import inference
from salgan_tf import shipped
from salgan_tf.tools import package_model

REPO = pathlib.Path(__file__).resolve().parents[1]
NAME = "stand-in"
SIZE = (32, 32)
# float16 weights (relative rounding <= 2**-11) through the 27 convs of the tiny generator, whose
# output conv is scaled up ~1e4 (conftest) and so magnifies every earlier rounding: its maps (in
# [0, 1]) measured 2.4e-3 and 7.7e-3 from the float32 ones on these two images; bound ~2.5x that.
# (The tool prints the figure of the model it packages: `package_model` "float16 round trip".)
ROUND_TRIP_TOLERANCE = 2e-2


def _run_dir(path, generator):
    """A run dir holding `generator` as its best epoch (as a finished training leaves it)."""
    path.mkdir(parents=True)
    config_lib.save(config_lib.TrainConfig(output_dir=str(path), image_height=SIZE[0],
                                           image_width=SIZE[1]), str(path))
    generator.save_weights(str(path / package_model.BEST_WEIGHTS))
    (path / package_model.BEST_EPOCH).write_text(json.dumps(
        {"epoch": 3, "phase": "bce", "metric": "cc", "value": 0.5, "higher_is_better": True,
         "scores": {"cc": 0.5}}))
    return path


@pytest.fixture(scope="module")
def source(tmp_path_factory, util):
    """(float32 generator, its run dir) of the stand-in."""
    generator = util.tiny_generator(SIZE)
    return generator, _run_dir(tmp_path_factory.mktemp("source") / "run", generator)


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory, source):
    """A models folder holding the stand-in, packaged by the tool."""
    folder = tmp_path_factory.mktemp("models")
    package_model.package(str(source[1]), folder / NAME, name=NAME,
                          training_command="salgan-train --flagfile=tiny.flags", echo=lambda _: 0)
    return folder


@pytest.fixture
def shipped_here(models_dir, monkeypatch):
    monkeypatch.setattr(shipped, "MODELS_DIR", str(models_dir))
    return models_dir / NAME


def _images(util):
    return [util.random_rgb(40, 56, seed=1), util.random_rgb(32, 32, seed=2)]


def test_the_packaged_folder_holds_float16_weights_and_their_checksum(shipped_here, source):
    spec = json.loads((shipped_here / shipped.MODEL_JSON).read_text())
    weights = shipped_here / shipped.WEIGHTS_FILE
    assert spec["weights"]["sha256"] == shipped.sha256_of(weights)
    assert spec["weights"]["bytes"] == weights.stat().st_size
    assert (spec["image_height"], spec["image_width"], spec["resize_mode"],
            spec["postprocess"]) == (32, 32, "stretch", "none")
    assert spec["source"]["training_command"] == "salgan-train --flagfile=tiny.flags"
    assert spec["source"]["best_epoch"]["epoch"] == 3
    assert spec["source"]["training_config"]["image_height"] == 32
    generator = source[0]
    with np.load(weights) as stored:
        assert list(stored.keys()) == [v.path for v in generator.weights]  # generator's order
        for variable in generator.weights:
            assert stored[variable.path].dtype == np.float16
            np.testing.assert_array_equal(stored[variable.path],
                                          variable.numpy().astype(np.float16))
    card = (shipped_here / shipped.CARD_FILE).read_text()
    for heading in ("## What it is", "## Training data", "## Recipe and command",
                    "## Input size and preprocessing", "## Intended use", "## Limits",
                    "### OSIE 1001-1100", "## Reproducing every number"):
        assert heading in card
    assert spec["weights"]["sha256"] in card


def test_a_shipped_name_loads_in_every_loader_within_the_float16_tolerance(
        shipped_here, source, util, tmp_path):
    generator = source[0]
    assert shipped.names() == [NAME]
    model = salgan_tf.load(NAME)
    assert model.predictor.path == str(shipped_here)
    float32 = inference.Predictor(
        lambda batch: util.keras_saliency(generator, batch)[..., 0], kind="checkpoint",
        path="float32", image_size=SIZE, resize_mode="stretch", batch_size=8)
    rounded = util.tiny_generator(SIZE)  # the same weights, rounded to float16 and back
    rounded.set_weights([w.astype(np.float16).astype(np.float32) for w in generator.get_weights()])
    for image in _images(util):
        difference = np.abs(model.predict(image) - float32.predict(image)).max()
        assert difference <= ROUND_TRIP_TOLERANCE, difference
        # Loading restores exactly the float16 values, computed in float32.
        np.testing.assert_allclose(model.predict(image), inference.Predictor(
            lambda batch: util.keras_saliency(rounded, batch)[..., 0], kind="checkpoint",
            path="rounded", image_size=SIZE, resize_mode="stretch", batch_size=8).predict(image),
            atol=1e-5)
    restored, config = checkpoints.load_generator(NAME)  # salgan-export --checkpoint
    assert config.image_size == SIZE
    fresh = generator_lib.build_generator((64, 48))  # --init_from: any size of the new run
    assert "packaged model" in init_from.load_into(NAME, fresh)
    for a, b in zip(fresh.get_weights(), restored.get_weights()):
        np.testing.assert_array_equal(a, b)
    from salgan_tf.export import saved_model

    exported = saved_model.export_checkpoint(NAME, str(tmp_path / "export" / "1"))
    assert inference.load_predictor(exported).image_size == SIZE


def test_a_local_path_wins_over_a_shipped_name(shipped_here, util, tmp_path, monkeypatch):
    other = util.tiny_generator(SIZE, seed=5)
    monkeypatch.chdir(tmp_path)
    util.write_training_run(NAME, other)  # a run dir called like the shipped model
    image = util.random_rgb(32, 32, seed=3)
    local = salgan_tf.load(NAME)
    assert local.predictor.path == NAME
    expected = util.keras_saliency(other, image[None].astype(np.float32))[0, ..., 0]
    np.testing.assert_allclose(local.predict(image), expected, atol=1e-5)


def test_an_unknown_name_lists_the_shipped_ones(shipped_here):
    with pytest.raises(FileNotFoundError, match=r"^nope: not a training run dir.*; nor a shipped "
                                                r"model name \(stand-in\)$"):
        salgan_tf.load("nope")
    with pytest.raises(FileNotFoundError, match=r"nor a shipped model name \(stand-in\)$"):
        checkpoints.load_generator("nope")


@pytest.fixture
def damaged(models_dir, tmp_path, monkeypatch):
    """A copy of the stand-in's folder, shipped under its name, and its expected sha256."""
    folder = tmp_path / "models" / NAME
    shutil.copytree(models_dir / NAME, folder)
    monkeypatch.setattr(shipped, "MODELS_DIR", str(folder.parent))
    return folder, json.loads((folder / shipped.MODEL_JSON).read_text())["weights"]["sha256"]


def test_a_flipped_byte_fails_the_checksum_in_one_line(damaged, tmp_path):
    folder, expected = damaged
    weights = folder / shipped.WEIGHTS_FILE
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0x01
    weights.write_bytes(bytes(data))
    message = (f"{weights}: weights file damaged: sha256 {shipped.sha256_of(weights)}, expected "
               f"{expected}; reinstall salgan_tf or repackage the model")
    for load in (salgan_tf.load, checkpoints.load_generator):
        with pytest.raises(shipped.ModelFileError) as error:
            load(NAME)
        assert str(error.value) == message
    with pytest.raises(init_from.InitFromError, match="weights file damaged"):
        init_from.load_into(NAME, generator_lib.build_generator(SIZE))
    # The CLI, given the folder's path: one line, no traceback.
    image = tmp_path / "a.png"
    image.write_bytes(b"")
    result = subprocess.run(
        [sys.executable, "-m", "salgan_tf.predict", f"--model={folder}", f"--input={image}",
         f"--output={tmp_path / 'maps'}"], cwd=REPO, capture_output=True, text=True)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert [line for line in result.stderr.splitlines() if "weights.npz" in line] == [
        f"error: {message}"], result.stderr


def test_a_missing_weights_file_names_it_and_the_expected_checksum(damaged):
    folder, expected = damaged
    (folder / shipped.WEIGHTS_FILE).unlink()
    with pytest.raises(shipped.ModelFileError) as error:
        salgan_tf.load(NAME)
    assert str(error.value) == (f"{folder / shipped.WEIGHTS_FILE}: weights file missing (expected "
                                f"sha256 {expected}); reinstall salgan_tf or repackage the model")


def test_the_tool_keeps_the_card_and_refuses_what_it_cannot_package(models_dir, source,
                                                                    tmp_path):
    folder = tmp_path / NAME
    shutil.copytree(models_dir / NAME, folder)
    with pytest.raises(package_model.PackageError, match="already exists; pass --overwrite"):
        package_model.package(str(source[1]), folder, name=NAME, echo=lambda _: 0)
    (folder / shipped.CARD_FILE).write_text("# measured by hand\n")
    lines = []
    package_model.package(str(source[1]), folder, name=NAME, overwrite=True, echo=lines.append)
    assert (folder / shipped.CARD_FILE).read_text() == "# measured by hand\n"
    assert "float16 round trip: max |map - float32 map| = " in lines[1]
    (source[1] / "other").mkdir()
    config_lib.save(config_lib.TrainConfig(output_dir="x"), str(source[1] / "other"))
    with pytest.raises(package_model.PackageError, match="no best_generator.weights.h5"):
        package_model.package(str(source[1] / "other"), tmp_path / "new", name="x")


@pytest.mark.slow
def test_a_non_editable_install_carries_the_model_and_resolves_its_name(source, tmp_path):
    # Built from a copy of the source tree with the stand-in packaged in, as the real one is.
    tree = tmp_path / "source"
    tree.mkdir()
    for name in ("setup.py", "setup.cfg", "README.md"):
        shutil.copy(REPO / name, tree / name)
    shutil.copytree(REPO / "salgan_tf", tree / "salgan_tf",
                    ignore=shutil.ignore_patterns("__pycache__", "models"))
    package_model.package(str(source[1]), tree / "salgan_tf" / "models" / NAME, name=NAME,
                          echo=lambda _: 0)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "--quiet", "-w", str(tmp_path / "wheel"), str(tree)], check=True,
                   capture_output=True)
    (wheel,) = (tmp_path / "wheel").glob("salgan_tf-*.whl")
    target = tmp_path / "installed"
    with zipfile.ZipFile(wheel) as archive:
        for file in (shipped.WEIGHTS_FILE, shipped.MODEL_JSON, shipped.CARD_FILE):
            assert f"salgan_tf/models/{NAME}/{file}" in archive.namelist()
        archive.extractall(target)  # what `pip install` puts in site-packages
    env = {**os.environ, "PYTHONPATH": str(target)}
    script = ("import numpy as np, salgan_tf; print(salgan_tf.__file__); "
              f"print(salgan_tf.load({NAME!r}).predict(np.zeros((50, 70, 3))).shape)")
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env,
                            capture_output=True, text=True, check=True)
    assert result.stdout.splitlines() == [str(target / "salgan_tf" / "__init__.py"), "(50, 70)"]
