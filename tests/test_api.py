"""salgan_tf.load / Model: README's Python example as pasted, every model kind, the three calls."""
import os
import pathlib
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import salgan_tf
from salgan_tf import crop
from salgan_tf import inference

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]


def readme_python_example():
    """The first ```python block of README.md."""
    text = (REPO_ROOT / "README.md").read_text()
    match = re.search(r"```python\n(.*?)```", text, re.DOTALL)
    assert match, "README.md has no ```python block"
    return match.group(1)


def test_readme_example_runs_as_pasted(shared_data, monkeypatch, capsys):
    # As pasted in the repo's root: the shipped model, OSIE 1001 from the shared data beside it.
    example = readme_python_example()
    path = re.search(r'image = "([^"]+)"', example).group(1)
    if not (REPO_ROOT / path).is_file():
        pytest.skip(f"README's image {path} not found beside the repo")
    monkeypatch.chdir(REPO_ROOT)
    namespace = {}
    exec(compile(example, "README.md", "exec"), namespace)
    image = salgan_tf.read_image(path)
    saliency = namespace["saliency"]
    assert saliency.shape == image.shape[:2] == (600, 800) and saliency.dtype == np.float32
    assert saliency.max() - saliency.min() > 0.3  # a real map, not the flat one of an untrained net
    assert namespace["heat"].shape == image.shape and namespace["heat"].dtype == np.uint8
    assert isinstance(namespace["box"], crop.Box)
    assert namespace["thumbnail"].shape == (namespace["box"].height, namespace["box"].width, 3)
    assert "Box(" in capsys.readouterr().out


def test_import_salgan_tf_does_not_load_tensorflow():
    code = "import sys, salgan_tf; salgan_tf.load; print('tensorflow' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env=dict(os.environ, PYTHONPATH=str(REPO_ROOT)), timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_predict_takes_paths_pil_arrays_and_lists(util, tmp_path):
    _, run_dir, _ = util.exported_model()
    model = salgan_tf.load(run_dir)
    predictor = inference.load_predictor(run_dir)
    rgb = util.random_rgb(27, 41, seed=5)
    Image.fromarray(rgb).save(tmp_path / "a.png")
    expected = predictor.predict(rgb)
    for image in (rgb, Image.fromarray(rgb), str(tmp_path / "a.png"), tmp_path / "a.png"):
        np.testing.assert_allclose(model.predict(image), expected, atol=1e-6)
    gray = rgb[..., 0]
    np.testing.assert_allclose(model.predict(Image.fromarray(gray)),
                               predictor.predict(np.stack([gray] * 3, -1)), atol=1e-6)
    maps = model.predict([rgb, util.random_rgb(50, 20, seed=6)])
    assert [m.shape for m in maps] == [(27, 41), (50, 20)]
    with pytest.raises(ValueError, match="missing.png"):
        model.predict(str(tmp_path / "missing.png"))


def test_overlay_and_crop_use_the_predicted_map(util):
    _, run_dir, _ = util.exported_model()
    model = salgan_tf.load(run_dir)
    rgb = util.random_rgb(30, 60, seed=7)
    saliency = model.predict(rgb)
    np.testing.assert_array_equal(model.overlay(rgb), salgan_tf.api.heatmap.overlay(rgb, saliency))
    assert model.crop(rgb, "1:1") == crop.best_box(saliency, "1:1")
    assert model.crop(rgb, "9:16", scale=0.5) == crop.best_box(saliency, "9:16", scale=0.5)
    # A given map is used as is: a blob at the right edge puts the box there.
    blob = np.zeros((30, 60), np.float32)
    blob[10:20, 55:60] = 1.0
    assert model.crop(rgb, "1:1", saliency=blob) == crop.Box(0, 30, 30, 30)


def test_load_options_reach_the_predictor(util):
    _, run_dir, _ = util.exported_model()
    model = salgan_tf.load(run_dir, resize_mode="letterbox", postprocess="paper", batch_size=3)
    assert (model.predictor.resize_mode, model.predictor.postprocess,
            model.predictor.batch_size) == ("letterbox", "paper", 3)
    with pytest.raises(FileNotFoundError, match="nowhere"):
        salgan_tf.load("nowhere")


@pytest.mark.slow
def test_load_accepts_every_model_kind(util, tmp_path):
    """Run dir, ckpt-N, weights file, SavedModel; .tflite and .onnx are loaded by
    tests/test_export_tflite.py and tests/test_export_onnx.py, on the files they convert once
    (a conversion here would keep GBs of converter state in this test process)."""
    generator, run_dir, version_dir = util.exported_model()
    weights = str(tmp_path / "g.weights.h5")
    generator.save_weights(weights)
    shutil.copy(os.path.join(run_dir, "config.json"), tmp_path)  # its image size, beside it
    paths = {"run dir": run_dir, "checkpoints/ckpt-1": os.path.join(run_dir, "checkpoints",
                                                                     "ckpt-1"),
             "weights file": weights, "SavedModel version": version_dir,
             "SavedModel base": os.path.dirname(version_dir)}
    rgb = util.random_rgb(20, 30, seed=8)
    reference = salgan_tf.load(run_dir).predict(rgb)
    for name, path in paths.items():
        saliency = salgan_tf.load(path).predict(rgb)
        assert saliency.shape == (20, 30), name
        assert np.abs(saliency - reference).max() < 1e-3, name
