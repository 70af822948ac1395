"""predict under careless use (issue 23): an --output inside --input, long lists of clashing
paths; (issue 29) crops over input photos, a crop and a map in one file, outputs that are hard
links to inputs. Each refusal comes before anything is written, in one line."""
import os
import re
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from salgan_tf import predict_lib


def _run_predict(model, input_path, output, *flags):
    return subprocess.run(
        [sys.executable, "-m", "salgan_tf.predict", f"--model={model}", f"--input={input_path}",
         f"--output={output}", *flags], capture_output=True, text=True, timeout=300)


def test_cli_refuses_an_output_inside_the_input_folder_before_writing(util, tmp_path):
    """Issue 23: maps written into the input tree became inputs of the rerun."""
    _, run_dir, _ = util.exported_model()
    (tmp_path / "in").mkdir()
    Image.fromarray(util.random_rgb(20, 30)).save(tmp_path / "in" / "a.jpg")
    result = _run_predict(run_dir, tmp_path / "in", tmp_path / "in" / "maps")
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr[-2000:]
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: --output={tmp_path / 'in' / 'maps'} is inside --input={tmp_path / 'in'}: the "
        "maps would be read as input images by the next run; choose an --output folder outside "
        "the input folder")
    assert sorted(os.listdir(tmp_path / "in")) == ["a.jpg"]  # nothing written
    os.symlink(tmp_path / "in", tmp_path / "link")  # the same folder by another name
    for output in (tmp_path / "in", tmp_path / "link" / "maps"):
        with pytest.raises(ValueError, match=f"--output={output} is inside"):
            predict_lib.find_images(tmp_path / "in", output_dir=output)
    assert predict_lib.find_images(tmp_path / "in", output_dir=tmp_path / "out")[1] == [
        str(tmp_path / "in" / "a.jpg")]
    image = str(tmp_path / "in" / "a.jpg")  # one file: its folder is not scanned
    assert predict_lib.find_images(image, output_dir=tmp_path / "in" / "maps")[1] == [image]


def test_a_long_list_of_clashing_paths_is_cut_in_the_one_line_error(tmp_path):
    """1000 clashing inputs gave a 40 KB 'one-line' error."""
    paths = [str(tmp_path / "in" / f"img{i:04d}{ext}") for i in range(1000)
             for ext in (".jpg", ".png")]
    with pytest.raises(ValueError) as failure:
        predict_lib.plan_outputs(paths, str(tmp_path / "in"), str(tmp_path / "out"))
    message = str(failure.value)
    assert message.startswith("1000 map path(s) would be written by more than one input")
    assert "img0002.png <- " in message and " and 997 more)" in message
    assert "img0003" not in message and len(message) < 1000
    overwritten = [str(tmp_path / f"img{i:04d}.png") for i in range(1000)]
    with pytest.raises(ValueError) as failure:
        predict_lib.plan_outputs(overwritten, str(tmp_path), str(tmp_path))
    assert " and 997 more); choose" in str(failure.value) and len(str(failure.value)) < 1000


def _tree(folder):
    """{relative path: bytes} of every file under `folder`."""
    return {os.path.relpath(os.path.join(directory, name), folder): open(
        os.path.join(directory, name), "rb").read()
        for directory, _, names in os.walk(folder) for name in names}


def test_cli_crop_never_overwrites_an_input_photo(util, tmp_path):
    """Issue 29: `--input=photos/crops --output=photos --crop=1:1` wrote each crop over its own
    input photo (exit 0): the map check never looked at the crop paths."""
    _, run_dir, _ = util.exported_model()
    (tmp_path / "crops").mkdir()
    Image.fromarray(util.random_rgb(20, 30, seed=1)).save(tmp_path / "crops" / "a.jpg")
    Image.fromarray(util.random_rgb(24, 16, seed=2)).save(tmp_path / "crops" / "b.png")
    before = _tree(tmp_path)
    result = _run_predict(run_dir, tmp_path / "crops", tmp_path, "--crop=1:1")
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr[-2000:]
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: the outputs would overwrite 2 input image(s) ({tmp_path / 'crops' / 'a.jpg'}, "
        f"{tmp_path / 'crops' / 'b.png'}); choose an --output folder apart from the inputs")
    assert _tree(tmp_path) == before  # the photos intact, nothing written


def test_no_two_outputs_share_a_file_and_no_output_is_an_input(fake_predictor, tmp_path):
    """Issue 29: the crop of `x.png` and the map of `crops/x.png` are one file (one lost, boxes.json
    naming a file holding the other); an output that is a hard link to an input was truncated."""
    (tmp_path / "in" / "crops").mkdir(parents=True)
    for name in ("x.png", "crops/x.png", "y.jpg"):
        Image.fromarray(np.full((8, 12, 3), 99, np.uint8)).save(tmp_path / "in" / name)
    paths = [str(tmp_path / "in" / name) for name in ("x.png", "crops/x.png")]
    with pytest.raises(ValueError) as failure:
        predict_lib.predict_files(fake_predictor(), paths, str(tmp_path / "out"),
                                  root=str(tmp_path / "in"), crop_aspect="1:1")
    assert str(failure.value) == (
        f"1 output path(s) would be written by more than one input or output "
        f"({tmp_path / 'out' / 'crops' / 'x.png'} <- {paths[0]} (crop), {paths[1]} (map)); rename "
        "the inputs or predict them into separate output folders")
    assert not (tmp_path / "out").exists()
    # Every kind is in the plan, the per-run boxes.json too.
    plan = predict_lib.plan_outputs([paths[0]], str(tmp_path / "in"), str(tmp_path / "out"),
                                    with_overlay=True, with_crop=True)
    assert sorted((os.path.relpath(path, tmp_path / "out"), kind) for path, kind, _ in
                  plan.files()) == [("crops/boxes.json", "boxes"), ("crops/x.png", "crop"),
                                    ("overlays/x.jpg", "overlay"), ("x.png", "map")]
    # An output folder holding a hard link to an input: writing the overlay would truncate it.
    (tmp_path / "out" / "overlays").mkdir(parents=True)
    os.link(tmp_path / "in" / "y.jpg", tmp_path / "out" / "overlays" / "y.jpg")
    before = _tree(tmp_path / "in")
    with pytest.raises(ValueError, match=r"^the outputs would overwrite 1 input image\(s\) "
                       + re.escape(f"({tmp_path / 'out' / 'overlays' / 'y.jpg'}); choose")):
        predict_lib.predict_files(fake_predictor(), [str(tmp_path / "in" / "y.jpg")],
                                  str(tmp_path / "out"), root=str(tmp_path / "in"),
                                  with_overlay=True)
    assert _tree(tmp_path / "in") == before
    assert sorted(os.listdir(tmp_path / "out")) == ["overlays"]
