"""salgan_tf.predict / predict_lib: PNG maps at the original size, overlays, per-file errors."""
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from salgan_tf import inference
from salgan_tf import predict_lib
from salgan_tf.data import images


def _folder_with_good_and_bad_images(util, root):
    (root / "sub").mkdir(parents=True)
    Image.fromarray(util.random_rgb(33, 47, seed=1)).save(root / "odd.png")
    Image.fromarray(util.random_rgb(40, 20, seed=2)[..., 0]).save(root / "sub" / "gray.jpg")
    Image.fromarray(np.dstack([util.random_rgb(9, 13, seed=3),
                               np.full((9, 13), 128, np.uint8)])).save(root / "rgba.png")
    (root / "empty.jpg").write_bytes(b"")
    (root / "broken.png").write_bytes(util.encode(util.random_rgb(30, 30))[:50])
    (root / "readme.txt").write_text("not an image")


def test_predict_files_writes_original_size_pngs_and_reports_bad_files(util, tmp_path):
    _, run_dir, _ = util.exported_model()
    _folder_with_good_and_bad_images(util, tmp_path / "in")
    predictor = inference.load_predictor(run_dir, batch_size=2)
    root, paths = predict_lib.find_images(tmp_path / "in")
    assert len(paths) == 5  # readme.txt is not an image
    calls = []
    report = predict_lib.predict_files(predictor, paths, str(tmp_path / "out"), root=root,
                                       with_overlay=True, progress=lambda d, t: calls.append(d))
    assert calls[-1] == 5
    failed = dict(report.failed)
    assert sorted(os.path.basename(p) for p in failed) == ["broken.png", "empty.jpg"]
    assert all(path in message for path, message in failed.items())
    expected_sizes = {"odd.png": (33, 47), "sub/gray.png": (40, 20), "rgba.png": (9, 13)}
    assert len(report.written) == 3
    for name, (height, width) in expected_sizes.items():
        with Image.open(tmp_path / "out" / name) as saved:
            assert saved.mode == "L" and saved.size == (width, height)
            saved_map = np.asarray(saved)
        overlay_name = os.path.splitext(name)[0] + ".jpg"
        with Image.open(tmp_path / "out" / "overlays" / overlay_name) as overlay:
            assert overlay.mode == "RGB" and overlay.size == (width, height)
    # The PNG is the predictor's map, quantised to 8 bits.
    image = np.asarray(Image.open(tmp_path / "in" / "odd.png"))
    np.testing.assert_allclose(np.asarray(Image.open(tmp_path / "out" / "odd.png")) / 255.0,
                               predictor.predict(image), atol=0.5 / 255 + 1e-6)
    assert saved_map.dtype == np.uint8
    assert "2 image(s) failed" in report.summary()


def test_huge_image_is_refused_from_its_header(tmp_path):
    path = tmp_path / "huge.png"
    Image.new("L", (5000, 4000)).save(path)  # 20 MP, a few KB on disk
    with pytest.raises(ValueError, match="larger than the limit of 1000000 pixels"):
        images.decode_image(str(path), max_pixels=1_000_000)


def test_overlay_and_colormap():
    saliency = np.linspace(0, 1, 12, dtype=np.float32).reshape(3, 4)
    colors = predict_lib.jet_colormap(saliency)
    assert colors.shape == (3, 4, 3) and colors.dtype == np.uint8
    assert tuple(colors[0, 0]) == (0, 0, 128) and tuple(colors[-1, -1]) == (128, 0, 0)
    rgb = np.full((3, 4, 3), 200, np.uint8)
    blended = predict_lib.overlay(rgb, saliency)
    np.testing.assert_array_equal(blended[0, 0], rgb[0, 0])  # zero saliency: image unchanged
    assert not np.array_equal(blended[-1, -1], rgb[-1, -1])


def _run_predict(model, input_path, output):
    return subprocess.run(
        [sys.executable, "-m", "salgan_tf.predict", f"--model={model}", f"--input={input_path}",
         f"--output={output}"], capture_output=True, text=True, timeout=300)


def test_cli_missing_model_or_input_is_a_one_line_error(util, tmp_path):
    (tmp_path / "in").mkdir()
    missing_model = _run_predict(tmp_path / "nope", tmp_path / "in", tmp_path / "out")
    assert missing_model.returncode == 1 and "Traceback" not in missing_model.stderr
    assert f"error: {tmp_path / 'nope'}: not a training run dir" in missing_model.stderr
    _, _, version_dir = util.exported_model()
    missing_input = _run_predict(version_dir, tmp_path / "none", tmp_path / "out")
    assert missing_input.returncode == 1 and "Traceback" not in missing_input.stderr
    assert f"error: {tmp_path / 'none'}: no such image file or folder" in missing_input.stderr


def test_cli_on_sun500_large_odd_size_image(util, shared_data, tmp_path):
    source = shared_data / "scene_sun500" / "data" / "stimuli" / "494.jpg"
    if not source.is_file():
        pytest.skip(f"{source} not found")
    _, run_dir, version_dir = util.exported_model()
    (tmp_path / "in").mkdir()
    os.symlink(source, tmp_path / "in" / "494.jpg")
    (tmp_path / "in" / "bad.jpg").write_bytes(b"\xff\xd8\xff garbage")
    result = subprocess.run(
        [sys.executable, "-m", "salgan_tf.predict", f"--model={version_dir}",
         f"--input={tmp_path / 'in'}", f"--output={tmp_path / 'out'}", "--overlay"],
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 1, result.stderr[-2000:]  # one bad file -> exit status 1
    assert "1 map(s) written, 1 image(s) failed" in result.stdout
    assert "bad.jpg" in result.stdout
    with Image.open(tmp_path / "out" / "494.png") as saved:
        assert saved.size == (3648, 2736) and saved.mode == "L"
    with Image.open(tmp_path / "out" / "overlays" / "494.jpg") as overlay:
        assert overlay.size == (3648, 2736)

