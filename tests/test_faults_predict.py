"""predict under careless use (issue 23): an --output inside --input, long lists of clashing
paths. Each refusal comes before anything is written, in one line."""
import os
import subprocess
import sys

import pytest
from PIL import Image

from salgan_tf import predict_lib


def _run_predict(model, input_path, output):
    return subprocess.run(
        [sys.executable, "-m", "salgan_tf.predict", f"--model={model}", f"--input={input_path}",
         f"--output={output}"], capture_output=True, text=True, timeout=300)


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
        predict_lib.check_no_clashes(paths, str(tmp_path / "in"), str(tmp_path / "out"))
    message = str(failure.value)
    assert message.startswith("1000 map path(s) would be written by more than one input")
    assert "img0002.png <- " in message and " and 997 more)" in message
    assert "img0003" not in message and len(message) < 1000
    overwritten = [str(tmp_path / f"img{i:04d}.png") for i in range(1000)]
    with pytest.raises(ValueError) as failure:
        predict_lib.check_no_clashes(overwritten, str(tmp_path), str(tmp_path))
    assert " and 997 more); choose" in str(failure.value) and len(str(failure.value)) < 1000
