"""Tests for salgan_tf.report and `python -m salgan_tf.evaluate --report` on tiny synthetic data
(tests/conftest.py's `records`: 4 images)."""
import dataclasses
import html
import html.parser
import json
import math
import pathlib
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from salgan_tf import evaluate_lib
from salgan_tf import heatmap
from salgan_tf import map_sources
from salgan_tf import report
from salgan_tf.data import eval_examples

FAST = evaluate_lib.EvalConfig(n_splits=10)


class PageParser(html.parser.HTMLParser):
    """Collects every table's rows (cell texts + <tr>/<td> attributes) and every src/href."""

    def __init__(self):
        super().__init__()
        self.tables = {}
        self.links = []
        self.scripts = {}
        self._table = self._row = self._cell = self._script = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for key in ("src", "href"):
            if key in attrs:
                self.links.append(attrs[key])
        if tag == "table":
            self._table = self.tables.setdefault(attrs.get("id"), [])
        elif tag == "tr" and self._table is not None:
            self._row = {"attrs": attrs, "cells": [], "cell_attrs": []}
            self._table.append(self._row)
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []
            self._row["cell_attrs"].append(attrs)
        elif tag == "script":
            self._script = attrs.get("id")
            self.scripts[self._script] = ""

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self._row["cells"].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr":
            self._row = None
        elif tag == "table":
            self._table = None
        elif tag == "script":
            self._script = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)
        if self._script is not None:
            self.scripts[self._script] += data


def _parse(path):
    parser = PageParser()
    parser.feed(pathlib.Path(path).read_text(encoding="utf-8"))
    return parser


def _markdown_cells(table_text):
    lines = [l for l in table_text.splitlines() if l.startswith("| ")]
    return [[c.strip() for c in l.strip().strip("|").split("|")] for l in lines]


def _assert_offline_and_local(page, report_dir):
    text = (report_dir / "index.html").read_text(encoding="utf-8")
    assert "http://" not in text and "https://" not in text and "//cdn" not in text
    assert page.links, "the page references no images"
    for link in page.links:
        assert not link.startswith(("/", "file:", "data:")), link
        assert (report_dir / link).is_file(), f"index.html references missing {link}"


def test_cli_baseline_report_numbers_equal_the_cli_table(records, tmp_path):
    out, report_dir = tmp_path / "out", tmp_path / "report"
    result = subprocess.run(
        [sys.executable, "-m", "salgan_tf.evaluate", f"--data={records}", "--baseline",
         "--n_splits=10", f"--output_dir={out}", f"--report={report_dir}", "--report_sort=cc"],
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    page = _parse(report_dir / "index.html")
    _assert_offline_and_local(page, report_dir)
    # The HTML table holds exactly the cells the CLI printed ...
    html_cells = [row["cells"] for row in page.tables["summary"]]
    assert html_cells == _markdown_cells(result.stdout)
    # ... and its exact values are summary.json's means.
    payload = json.loads((out / "summary.json").read_text())
    summary = payload["summary"]["center_bias"]
    header = html_cells[0]
    for attrs, name in zip(page.tables["summary"][1]["cell_attrs"][1:], header[1:]):
        metric = name.split()[0]
        assert float(attrs["data-value"]) == summary[metric]["mean"], metric
    assert json.loads(page.scripts["summary-json"]) == payload["summary"]
    # Baseline only: the gallery shows the centre-bias maps, sorted worst-first by CC.
    gallery = page.tables["gallery"]
    assert "center_bias map" in gallery[0]["cells"]
    cc_by_image = {r["image"]: r["cc"] for r in payload["per_image"]}
    order = [row["attrs"]["data-image"] for row in gallery[1:]]
    assert sorted(order) == sorted(cc_by_image)
    assert order == sorted(cc_by_image, key=cc_by_image.get)
    assert [row["cells"][0] for row in gallery[1:]] == [str(i) for i in range(1, 5)]


class BrightnessPredictor:
    """Fake salgan_tf.inference predictor: the image's brightness, at the image's size."""

    def predict(self, rgb):
        grey = rgb.astype(np.float32).mean(axis=-1)
        return grey / max(grey.max(), 1.0)


def _run_with_report(records, report_dir, sources, *, gallery_sources=None, size=40):
    examples = lambda: eval_examples.read_tfrecord_examples(records)  # noqa: E731
    thumbnails = report.ThumbnailWriter(
        report_dir, gallery_sources=gallery_sources or report.default_gallery_sources(sources),
        size=size)
    rows, summary, table = evaluate_lib.run(examples, sources, config=FAST, on_map=thumbnails)
    return rows, summary, table, thumbnails, list(examples())


def test_model_report_gallery_shows_the_model_and_sorts_lower_is_better_metrics(records,
                                                                                tmp_path):
    sources = {"model": map_sources.predictor_source(BrightnessPredictor()),
               "center_bias": map_sources.center_bias_source(FAST)}
    rows, summary, table, thumbnails, examples = _run_with_report(records, tmp_path, sources)
    assert thumbnails.gallery_sources == ["model"]  # the centre bias is the same map everywhere
    index = report.write_report(tmp_path, rows, summary, metric_names=FAST.metrics,
                                thumbnails=thumbnails, sort_metric="kld")
    page = _parse(index)
    _assert_offline_and_local(page, tmp_path)
    assert [row["cells"] for row in page.tables["summary"]] == _markdown_cells(table)
    assert [r["cells"][0] for r in page.tables["summary"][1:]] == ["model", "center_bias"]
    # KLD: lower is better, so worst first = descending.
    kld = {r["image"]: r["kld"] for r in rows if r["source"] == "model"}
    order = [row["attrs"]["data-image"] for row in page.tables["gallery"][1:]]
    assert order == sorted(kld, key=kld.get, reverse=True)
    assert float(page.tables["gallery"][1]["attrs"]["data-s0kld"]) == max(kld.values())
    # Thumbnails: longest side = size, at the image's aspect; stimulus is the record's RGB.
    files = thumbnails.files[examples[0].name]
    assert set(files) == {"stimulus", "gt", ("model", "map"), ("model", "overlay")}
    height, width = examples[0].shape
    with Image.open(tmp_path / files["stimulus"]) as stimulus:
        assert stimulus.size == (40, round(40 * height / width))
        expected = np.asarray(Image.fromarray(examples[0].image).resize(stimulus.size,
                                                                        Image.BILINEAR))
        assert np.abs(np.asarray(stimulus, np.float64) - expected).mean() < 6  # JPEG noise
    with Image.open(tmp_path / files[("model", "map")]) as model_map:
        grey = examples[0].image.astype(np.float64).mean(axis=-1)
        expected = np.asarray(Image.fromarray((grey / grey.max()).astype(np.float32), "F")
                              .resize(model_map.size, Image.BILINEAR)) * 255
        assert np.abs(np.asarray(model_map, np.float64) - expected).max() <= 1.0


def test_ground_truth_thumbnail_dots_the_fixations(records, tmp_path):
    sources = {"center_bias": map_sources.center_bias_source(FAST)}
    _, _, _, thumbnails, examples = _run_with_report(records, tmp_path, sources, size=96)
    example = examples[2]
    with Image.open(tmp_path / thumbnails.files[example.name]["gt"]) as gt:
        rgb = np.asarray(gt.convert("RGB")).astype(int)
    red = (rgb[..., 0] > 200) & (rgb[..., 1] < 90) & (rgb[..., 2] < 90)
    scale = 96 / max(example.shape)
    for row, col in example.fixations:
        y, x = int((row + 0.5) * scale), int((col + 0.5) * scale)
        assert red[max(0, y - 1):y + 2, max(0, x - 1):x + 2].any(), (row, col)
    # Away from every fixation the thumbnail is the grey GT map (R == G == B).
    far = np.ones(red.shape, bool)
    for row, col in example.fixations:
        y, x = (row + 0.5) * scale, (col + 0.5) * scale
        far[max(0, int(y) - 3):int(y) + 4, max(0, int(x) - 3):int(x) + 4] = False
    assert not red[far].any()
    assert (rgb[far][:, 0] == rgb[far][:, 1]).all()


HOSTILE = '<script>alert("x")</script>&.jpg'


def test_names_from_the_data_are_shown_as_text_never_run(records, tmp_path):
    # Image, source, title and detail strings come from files and flags: a name holding HTML
    # must reach the page as text (escaped), in cells, attributes and the embedded JSON.
    examples = [dataclasses.replace(e, name=HOSTILE if i == 0 else e.name)
                for i, e in enumerate(eval_examples.read_tfrecord_examples(records))]
    source = "<b>model</b>"
    sources = {source: map_sources.predictor_source(BrightnessPredictor())}
    thumbnails = report.ThumbnailWriter(tmp_path, gallery_sources=[source], size=32)
    rows, summary, _ = evaluate_lib.run(lambda: iter(examples), sources, config=FAST,
                                        on_map=thumbnails)
    index = report.write_report(tmp_path, rows, summary, metric_names=FAST.metrics,
                                thumbnails=thumbnails, title=f"title {HOSTILE}",
                                details={"data": HOSTILE})
    text = index.read_text(encoding="utf-8")
    assert "<script>alert" not in text and "<b>model" not in text
    assert text.count("<script") == 2  # the summary JSON and the page's own JS
    page = _parse(index)
    names = {row["attrs"]["data-image"] for row in page.tables["gallery"][1:]}
    assert HOSTILE in names
    assert HOSTILE in {row["cells"][1] for row in page.tables["gallery"][1:]}
    assert page.tables["summary"][1]["cells"][0] == source
    assert f"{source} map" in page.tables["gallery"][0]["cells"]
    assert source in json.loads(page.scripts["summary-json"])
    _assert_offline_and_local(page, tmp_path)  # no file name is made from the hostile name


def test_sort_rows_puts_worst_first_and_nan_last():
    rows = [{"source": "m", "image": "a", "nss": 1.0, "kld": 0.5},
            {"source": "m", "image": "b", "nss": float("nan"), "kld": 2.0},
            {"source": "m", "image": "c", "nss": -0.5, "kld": 1.0},
            {"source": "cb", "image": "a", "nss": -9.0, "kld": 9.0}]
    assert report.sort_rows(rows, "m", "nss") == ["c", "a", "b"]
    assert report.sort_rows(rows, "m", "kld") == ["b", "c", "a"]


def test_overlay_and_display_scaling():
    rgb = np.full((4, 6, 3), 100, np.uint8)
    assert (heatmap.overlay(rgb, np.zeros((4, 6))) == rgb).all()  # nothing salient: unchanged
    hot = heatmap.overlay(rgb, np.ones((4, 6)), alpha=1.0)
    assert hot[0, 0, 0] > 100 and hot[0, 0, 2] < 100  # jet at 1.0 is dark red
    unit = report.map_to_unit(np.array([[-1.0, 0.0], [2.0, 4.0]]))
    assert unit.tolist() == [[0.0, 0.0], [0.5, 1.0]]
    assert report.map_to_unit(np.zeros((2, 2))).max() == 0.0


def test_bad_report_requests_are_named(records, tmp_path):
    sources = {"center_bias": map_sources.center_bias_source(FAST)}
    rows, summary, _, thumbnails, _ = _run_with_report(records, tmp_path, sources)
    with pytest.raises(ValueError, match="'emd' was not computed"):
        report.write_report(tmp_path, rows, summary, metric_names=FAST.metrics,
                            thumbnails=thumbnails, sort_metric="emd")
    with pytest.raises(ValueError, match="sort source 'model'"):
        report.write_report(tmp_path, rows, summary, metric_names=FAST.metrics,
                            thumbnails=thumbnails, sort_source="model")
    with pytest.raises(ValueError, match="no evaluation rows"):
        report.write_report(tmp_path, [], {}, metric_names=FAST.metrics, thumbnails=thumbnails)
    with pytest.raises(ValueError, match="thumbnail size"):
        report.ThumbnailWriter(tmp_path, gallery_sources=["x"], size=4)
    assert not math.isnan(summary["center_bias"]["nss"]["mean"])


CHROMIUM = "/usr/bin/chromium"
_CLICK_AND_REPORT = """<script>
function order() {
  return [].map.call(document.querySelectorAll('#gallery tbody tr'),
                     function (r) { return r.dataset.image; });
}
function shown() {  // the metric cell text visible in the first row's auc_judd column
  var spans = document.querySelector('#gallery tbody tr td.num').querySelectorAll('span');
  return [].filter.call(spans, function (s) { return getComputedStyle(s).display !== 'none'; })
           .map(function (s) { return s.className; });
}
var result = {opened: order(), shownOpened: shown()};
var th = document.querySelector('th[data-metric="auc_judd"]');
th.click(); result.worst = order();
th.click(); result.best = order();
var picker = document.getElementById('gallery-source');
picker.value = '1'; picker.dispatchEvent(new Event('change'));
result.baselineBest = order(); result.shownBaseline = shown();
result.state = document.getElementById('sort-state').textContent;
var pre = document.createElement('pre'); pre.id = 'result';
pre.textContent = JSON.stringify(result); document.body.appendChild(pre);
</script></body>"""


def test_clicking_headers_and_picking_a_source_sorts_the_gallery_in_chromium(records, tmp_path):
    if not pathlib.Path(CHROMIUM).is_file():
        pytest.skip(f"{CHROMIUM} not found (apt-get install -y chromium)")
    sources = {"model": map_sources.predictor_source(BrightnessPredictor()),
               "center_bias": map_sources.center_bias_source(FAST)}
    rows, summary, _, thumbnails, _ = _run_with_report(
        records, tmp_path / "report", sources, gallery_sources=["model", "center_bias"])
    index = report.write_report(tmp_path / "report", rows, summary, metric_names=FAST.metrics,
                                thumbnails=thumbnails, sort_metric="sim")
    probe = index.with_name("probe.html")  # the page plus a script that clicks and records
    probe.write_text(index.read_text(encoding="utf-8").replace("</body>", _CLICK_AND_REPORT))
    result = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", f"--user-data-dir={tmp_path / 'chromium'}", "--dump-dom",
         probe.as_uri()], capture_output=True, text=True, timeout=120)
    start = result.stdout.find('<pre id="result">')
    assert start >= 0, result.stderr[-2000:]
    dom = result.stdout[start + len('<pre id="result">'):]
    state = json.loads(html.unescape(dom[:dom.index("</pre>")]))

    def scores(source, metric):
        return {r["image"]: r[metric] for r in rows if r["source"] == source}

    sim, judd = scores("model", "sim"), scores("model", "auc_judd")
    cb_judd = scores("center_bias", "auc_judd")
    assert state["opened"] == sorted(sim, key=sim.get)  # the JS keeps the pre-sorted order
    assert state["shownOpened"] == ["s0"]
    assert state["worst"] == sorted(judd, key=judd.get)
    assert state["best"] == sorted(judd, key=judd.get, reverse=True)
    assert state["baselineBest"] == sorted(cb_judd, key=cb_judd.get, reverse=True)
    assert state["baselineBest"] != state["best"]  # the two sources really order differently
    assert state["shownBaseline"] == ["s1"]
    assert state["state"] == "center_bias auc_judd (best first)"
