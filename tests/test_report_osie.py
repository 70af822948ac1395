"""The acceptance case on real data: the centre-bias report on the first OSIE images (1001-...).

Converts a few OSIE images with `python -m salgan_tf.convert`, runs `python -m salgan_tf.evaluate
--baseline --report` and checks that the page's table equals the CLI's and that every image of the
data is in the gallery with its thumbnails. Skips without ../shared/data (tests/conftest.py).
"""
import json
import subprocess
import sys

import pytest

from test_report import PageParser, _assert_offline_and_local, _markdown_cells

IMAGES = 12  # a few suffice; docs/report.md has the command for all of 1001-1100


def test_center_bias_report_on_osie_equals_the_cli_table(shared_data, tmp_path):
    osie = shared_data / "osie"
    if not osie.is_dir():
        pytest.skip(f"{osie} not found")
    records = tmp_path / "records"
    convert = subprocess.run(
        [sys.executable, "-m", "salgan_tf.convert", "--dataset=osie", f"--input={osie}",
         f"--output={records}", f"--limit={IMAGES}"], capture_output=True, text=True, timeout=600)
    assert convert.returncode == 0, convert.stderr[-2000:]
    out, report_dir = tmp_path / "out", tmp_path / "report"
    result = subprocess.run(
        [sys.executable, "-m", "salgan_tf.evaluate", f"--data={records}/osie-all-*.tfrecord",
         "--baseline", f"--output_dir={out}", f"--report={report_dir}"],
        capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    parser = PageParser()
    parser.feed((report_dir / "index.html").read_text(encoding="utf-8"))
    _assert_offline_and_local(parser, report_dir)
    assert [row["cells"] for row in parser.tables["summary"]] == _markdown_cells(result.stdout)
    payload = json.loads((out / "summary.json").read_text())
    assert json.loads(parser.scripts["summary-json"]) == payload["summary"]
    gallery = parser.tables["gallery"][1:]
    assert sorted(row["attrs"]["data-image"] for row in gallery) == \
        [str(1001 + i) for i in range(IMAGES)]
    nss = {r["image"]: r["nss"] for r in payload["per_image"]}
    assert [row["attrs"]["data-image"] for row in gallery] == sorted(nss, key=nss.get)
    # 800x600 images -> 256x192 thumbnails, 4 per image (stimulus, GT, map, overlay).
    assert len(list((report_dir / "images").iterdir())) == 4 * IMAGES
