"""A self-contained HTML evaluation report: `python -m salgan_tf.evaluate ... --report=DIR`.

Writes, into one folder that opens from disk with no network (no CDN, no framework):

  DIR/index.html          the metric table (the same cells the CLI prints, via
                          `eval_results.table_cells`), the per-metric box plots, and a gallery
                          with one row per image, pre-sorted worst-first by a chosen metric and
                          re-sortable by clicking any metric header (a few lines of plain JS);
                          salgan_tf/templates/report.html with static/report.css and report.js
                          inlined (`salgan_tf.pages`, the demo page's template mechanism)
  DIR/distributions.png   per-metric box plots (matplotlib, Agg), one box per source
  DIR/images/             thumbnails (longest side 256 px by default): stimulus, ground-truth
                          map with the fixations dotted, and per gallery source its map and a
                          jet overlay on the stimulus

Data flow: `ThumbnailWriter` is `evaluate_lib.run`'s `on_map` hook, so thumbnails are drawn while
each image is scored (the maps are never all held in memory); `write_report` then takes the rows
and summary `run` returns.
"""
from __future__ import annotations

import math
import pathlib
import re
import time

import numpy as np
from PIL import Image
from PIL import ImageDraw

from salgan_tf import atomic
from salgan_tf import eval_results
from salgan_tf import heatmap
from salgan_tf import map_sources
from salgan_tf import pages
from salgan_tf.data import images
from salgan_tf.metrics import table as metric_table

IMAGES_DIR = "images"
DISTRIBUTIONS_PNG = "distributions.png"
INDEX_HTML = "index.html"
DEFAULT_THUMBNAIL_SIZE = 256
OVERLAY_ALPHA = 0.6  # heat-map weight where the map is at its max (salgan_tf.heatmap.overlay)
# The metric a gallery is sorted by when none is chosen: NSS is defined for every map that is not
# constant and separates good from bad images well; falls back to the first metric computed.
DEFAULT_SORT_METRIC = "nss"


def default_gallery_sources(source_names):
    """Sources whose maps the gallery shows: every source but the centre bias (it is the same
    Gaussian on every image), or the centre bias itself when it is the only one."""
    names = list(source_names)
    others = [n for n in names if n != map_sources.BASELINE_SOURCE]
    return others or names


def default_sort_metric(metric_names):
    """`DEFAULT_SORT_METRIC` if it was computed, else the first metric."""
    metric_names = list(metric_names)
    if not metric_names:
        raise ValueError("no metrics to sort the gallery by")
    return DEFAULT_SORT_METRIC if DEFAULT_SORT_METRIC in metric_names else metric_names[0]


def _arrow(metric):
    """"↑" for a metric where higher is better, else "↓" (plot titles and gallery headers)."""
    return "↑" if metric_table.METRICS[metric].higher_is_better else "↓"


# --------------------------------------------------------------------------- thumbnails


def _slug(text):
    return re.sub(r"[^A-Za-z0-9_-]+", "_", text).strip("_") or "source"


def map_to_unit(saliency_map):
    """A map for display: negatives clipped, divided by its max (all-zero stays 0) -> [0, 1]."""
    smap = np.clip(np.nan_to_num(np.asarray(saliency_map, dtype=np.float64)), 0.0, None)
    peak = smap.max() if smap.size else 0.0
    return smap / peak if peak > 0 else smap


def _thumbnail_shape(shape, size):
    height, width = shape
    scale = size / max(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


def _resize_unit_map(unit_map, shape):
    """float [H, W] in [0, 1] -> float32 (h, w), bilinear (PIL float mode keeps full precision)."""
    image = Image.fromarray(unit_map.astype(np.float32), mode="F")
    return np.asarray(image.resize((shape[1], shape[0]), Image.BILINEAR))


def _grey_png(unit_map):
    """float map in [0, 1] -> 8-bit grey PIL image, quantised as every map PNG
    (`images.quantize_map`, the one map encoder's rule)."""
    return Image.fromarray(images.quantize_map(unit_map, scale_to_max=False), mode="L")


class ThumbnailWriter:
    """`evaluate_lib.run(on_map=...)` hook: draws each image's gallery thumbnails as it is scored.

    Per image (once): `images/NNNN_stimulus.jpg` and `images/NNNN_gt.png` (GT map in grey, the
    fixations as red dots). Per gallery source i: `images/NNNN_s<i>_<source>_map.png` (the scored
    map, scaled by its max) and `images/NNNN_s<i>_<source>_overlay.jpg`. NNNN is the image's position in
    the data, so odd characters in image names never reach a file name.
    """

    def __init__(self, report_dir, *, gallery_sources, size=DEFAULT_THUMBNAIL_SIZE):
        """`gallery_sources`: source names whose maps are drawn (see `default_gallery_sources`)."""
        if size < 16:
            raise ValueError(f"thumbnail size must be >= 16 px, got {size}")
        self.report_dir = pathlib.Path(report_dir)
        self.images_dir = self.report_dir / IMAGES_DIR
        self.images_dir.mkdir(parents=True, exist_ok=True)
        self.gallery_sources = list(gallery_sources)
        self.size = size
        self.index = {}  # image name -> position
        self.files = {}  # image name -> {"stimulus"|"gt"|(source, "map"|"overlay"): rel. path}
        self._stimulus = {}  # the current image's name -> its uint8 stimulus thumbnail

    def _relative(self, filename):
        return f"{IMAGES_DIR}/{filename}"

    def _add_image(self, example):
        position = len(self.index)
        self.index[example.name] = position
        files = self.files[example.name] = {}
        thumb_shape = _thumbnail_shape(example.shape, self.size)
        stimulus = self._stimulus_thumbnail(example)
        if example.image is not None:
            name = f"{position:04d}_stimulus.jpg"
            Image.fromarray(stimulus).save(self.images_dir / name, quality=85)
            files["stimulus"] = self._relative(name)
        gt = _grey_png(_resize_unit_map(map_to_unit(example.gt_map), thumb_shape)).convert("RGB")
        draw = ImageDraw.Draw(gt)
        scale_r = thumb_shape[0] / example.shape[0]
        scale_c = thumb_shape[1] / example.shape[1]
        radius = max(1.0, self.size / 160)
        for row, col in np.asarray(example.fixations).reshape(-1, 2):
            y, x = (row + 0.5) * scale_r, (col + 0.5) * scale_c
            draw.ellipse([x - radius, y - radius, x + radius, y + radius], fill=(255, 40, 40))
        name = f"{position:04d}_gt.png"
        gt.save(self.images_dir / name)
        files["gt"] = self._relative(name)

    def __call__(self, source_name, example, saliency_map, scores=None):
        del scores  # the report reads the scores from the rows
        if example.name not in self.index:
            self._add_image(example)
        if source_name not in self.gallery_sources:
            return
        position = self.index[example.name]
        stimulus = self._stimulus_thumbnail(example)
        unit = _resize_unit_map(map_to_unit(saliency_map), stimulus.shape[:2])
        # The source's gallery index keeps e.g. "my model" and "my_model" apart.
        slug = f"{position:04d}_s{self.gallery_sources.index(source_name)}_{_slug(source_name)}"
        _grey_png(unit).save(self.images_dir / f"{slug}_map.png")
        Image.fromarray(heatmap.overlay(stimulus, unit, alpha=OVERLAY_ALPHA)).save(
            self.images_dir / f"{slug}_overlay.jpg", quality=85)
        self.files[example.name][(source_name, "map")] = self._relative(f"{slug}_map.png")
        self.files[example.name][(source_name, "overlay")] = self._relative(f"{slug}_overlay.jpg")

    def _stimulus_thumbnail(self, example):
        """uint8 thumbnail of the stimulus (mid grey when the records were read without images),
        cached for the current image only: examples stream, every source of one image in turn."""
        if example.name not in self._stimulus:
            thumb_shape = _thumbnail_shape(example.shape, self.size)
            if example.image is not None:
                thumb = np.asarray(Image.fromarray(np.asarray(example.image, np.uint8)).resize(
                    (thumb_shape[1], thumb_shape[0]), Image.BILINEAR))
            else:
                thumb = np.full(thumb_shape + (3,), 128, np.uint8)
            self._stimulus = {example.name: thumb}
        return self._stimulus[example.name]


# --------------------------------------------------------------------------- plots


def plot_distributions(rows, metric_names, path, *, columns=5):
    """Per-metric box plots (one box per source, every image as a jittered dot, the mean as a
    white diamond) into one PNG at `path`. NaN images are left out, as in the summary."""
    import matplotlib

    matplotlib.use("Agg")  # no display; must precede pyplot's first import in this process
    from matplotlib import pyplot as plt

    metric_names = list(metric_names)
    sources = list(dict.fromkeys(row["source"] for row in rows))
    columns = max(1, min(columns, len(metric_names)))
    grid_rows = math.ceil(len(metric_names) / columns)
    figure, axes = plt.subplots(grid_rows, columns, figsize=(2.7 * columns, 2.5 * grid_rows),
                                squeeze=False)
    rng = np.random.default_rng(0)  # dot jitter only; fixed so the PNG is reproducible
    for axis, metric in zip(axes.flat, metric_names):
        data = []
        for source in sources:
            values = np.array([r[metric] for r in rows if r["source"] == source], np.float64)
            data.append(values[~np.isnan(values)])
        positions = np.arange(1, len(sources) + 1)
        non_empty = [i for i, d in enumerate(data) if len(d)]
        if non_empty:
            axis.boxplot([data[i] for i in non_empty], positions=positions[non_empty],
                         widths=0.55, showfliers=False, medianprops={"color": "#d62728"})
        for i in non_empty:
            axis.scatter(positions[i] + rng.uniform(-0.18, 0.18, len(data[i])), data[i], s=5,
                         alpha=0.45, color="#1f77b4", linewidths=0)
            axis.scatter([positions[i]], [data[i].mean()], marker="D", s=22, color="white",
                         edgecolors="black", zorder=3)
        axis.set_title(f"{metric} {_arrow(metric)}", fontsize=10)
        axis.set_xticks(positions)
        axis.set_xticklabels(sources, fontsize=8)
        axis.tick_params(axis="y", labelsize=8)
        axis.grid(axis="y", alpha=0.3)
    for axis in list(axes.flat)[len(metric_names):]:
        axis.set_visible(False)
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)
    return pathlib.Path(path)


# --------------------------------------------------------------------------- HTML
# The page is salgan_tf/templates/report.html with salgan_tf/static/report.css and report.js
# inlined (one self-contained file); `pages` escapes every name that reaches it.


def _number(value):
    """repr of a finite float for data-* attributes (exact round trip), "nan" otherwise."""
    return repr(float(value)) if value is not None and math.isfinite(value) else "nan"


def _data_key(source_index, metric):
    """Row attribute `data-<key>` of a score: "s0aucjudd" (no "_": dataset keys stay as is)."""
    return f"s{source_index}{metric.replace('_', '')}"


def sort_rows(rows, source, metric):
    """Image names of `source` ordered worst-first by `metric` (NaN last), as the page opens."""
    higher_is_better = metric_table.METRICS[metric].higher_is_better
    source_rows = [r for r in rows if r["source"] == source]
    finite = [r for r in source_rows if r[metric] is not None and not math.isnan(r[metric])]
    nan_rows = [r for r in source_rows if r not in finite]
    finite.sort(key=lambda r: r[metric], reverse=not higher_is_better)
    return [r["image"] for r in finite + nan_rows]


def write_report(report_dir, rows, summary, *, metric_names, thumbnails, sort_metric=None,
                 sort_source=None, title="salgan_tf evaluation", details=None, digits=4):
    """Writes DIR/index.html and DIR/distributions.png; returns the index.html path.

    Args:
      report_dir: the folder (the `ThumbnailWriter`'s, which already holds images/).
      rows, summary: what `evaluate_lib.run` returned (the same summary the CLI table prints).
      metric_names: metric columns, in table order.
      thumbnails: the `ThumbnailWriter` that ran as `on_map` hook (file names per image).
      sort_metric: the gallery opens sorted worst-first by it (default `default_sort_metric`).
      sort_source: whose scores order the gallery (default: the first gallery source).
      title: page title.
      details: {label: text} shown under the title (data glob, command, config ...).
      digits: decimals of the table means, as the CLI's `format_table`.

    Raises:
      ValueError: unknown sort metric / source, or nothing to report.
    """
    report_dir = pathlib.Path(report_dir)
    metric_names = list(metric_names)
    if not rows:
        raise ValueError(f"{report_dir}: no evaluation rows to report")
    sort_metric = sort_metric or default_sort_metric(metric_names)
    if sort_metric not in metric_names:
        raise ValueError(f"report sort metric {sort_metric!r} was not computed; "
                         f"choose from {metric_names}")
    gallery_sources = [s for s in thumbnails.gallery_sources if s in summary]
    if not gallery_sources:
        raise ValueError(f"none of the gallery sources {thumbnails.gallery_sources} was scored; "
                         f"scored: {list(summary)}")
    sort_source = sort_source or gallery_sources[0]
    if sort_source not in gallery_sources:
        raise ValueError(f"report sort source {sort_source!r} is not in the gallery "
                         f"({gallery_sources})")
    report_dir.mkdir(parents=True, exist_ok=True)
    plot_distributions(rows, metric_names, report_dir / DISTRIBUTIONS_PNG)

    image_names = list(dict.fromkeys(r["image"] for r in rows))
    meta = {"images": str(len(image_names)), "sources": ", ".join(summary),
            **(details or {}),
            "written": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    source_index = gallery_sources.index(sort_source)
    multi = len(gallery_sources) > 1
    page = pages.render(
        "report.html", title=title, css=pages.asset("static/report.css"),
        meta=pages.join([pages.join([f"{k}: ", pages.element("code", v)]) for k, v in meta.items()],
                        " · "),
        summary_table=_summary_table(summary, metric_names, digits),
        nan_notes=_nan_notes(summary, metric_names),
        legend=pages.join(pages.element("li", pages.element("b", m),
                                        f" — {metric_table.METRICS[m].meaning}")
                          for m in metric_names),
        # The same summary as machine-readable JSON (NaN -> null), for scripts reading the page.
        summary_json=pages.json_script(eval_results.json_safe(summary)),
        distributions_png=DISTRIBUTIONS_PNG,
        sort_state=f"{sort_source} {sort_metric}" if multi else sort_metric,
        source_picker=_source_picker(gallery_sources, source_index) if multi else "",
        gallery_table=_gallery_table(rows, metric_names, thumbnails, gallery_sources,
                                     source_index, sort_metric, digits),
        js=pages.asset("static/report.js"))
    index = report_dir / INDEX_HTML
    with atomic.open_replaced(index, "w", encoding="utf-8") as handle:
        handle.write(page)
    return index


def _summary_table(summary, metric_names, digits):
    """The mean-over-images table: exactly the CLI's cells (`eval_results.table_cells`), each
    holding its unrounded mean in data-value and std / counts in its tooltip."""
    header, body = eval_results.table_cells(summary, metric_names, digits=digits)
    table_rows = []
    for cells in body:
        source = cells[0]
        tds = [pages.element("td", source)]
        for metric, cell in zip(metric_names, cells[1:]):
            stats = summary[source][metric]
            tip = (f"mean {_number(stats['mean'])}, std {_number(stats['std'])}, "
                   f"{stats['count']} images, {stats['nan_count']} NaN skipped")
            tds.append(pages.element("td", cell, data_value=_number(stats["mean"]), title=tip))
        table_rows.append(pages.element("tr", *tds))
    return pages.element(
        "table", pages.element("thead", pages.element("tr", *(pages.element("th", cell)
                                                              for cell in header))),
        pages.element("tbody", *table_rows), id="summary")


def _nan_notes(summary, metric_names):
    notes = [f"{s}/{m}: {summary[s][m]['nan_count']} NaN image(s) skipped"
             for s in summary for m in metric_names if summary[s][m]["nan_count"]]
    return pages.element("p", pages.join(notes, pages.Markup("<br>")), class_="meta") \
        if notes else ""


def _source_picker(gallery_sources, source_index):
    options = [pages.element("option", source, value=i, selected=i == source_index)
               for i, source in enumerate(gallery_sources)]
    return pages.element("p", pages.element(
        "label", "Scores shown and sorted: ", pages.element("select", *options,
                                                            id="gallery-source")),
        class_="controls")


def _gallery_table(rows, metric_names, thumbnails, gallery_sources, source_index, sort_metric,
                   digits):
    """One row per image, worst-first by the sort source's `sort_metric` (static/report.js
    re-sorts); every gallery source's scores in data-s<i><metric> attributes and spans."""
    by_key = {(r["source"], r["image"]): r for r in rows}
    order = sort_rows(rows, gallery_sources[source_index], sort_metric)
    header = [pages.element("th", text) for text in
              ("#", "image", "stimulus", "ground truth + fixations")]
    for source in gallery_sources:
        header += [pages.element("th", f"{source} map"), pages.element("th", f"{source} overlay")]
    for metric in metric_names:
        row = metric_table.METRICS[metric]
        # <wbr>: narrow metric columns may break after an underscore.
        label = pages.join(metric.split("_"), pages.Markup("_<wbr>"))
        header.append(pages.element("th", label, f"\u00a0{_arrow(metric)}", class_="metric",
                                    data_metric=metric, data_higher=int(row.higher_is_better),
                                    title=row.meaning))
    body = []
    for rank, image in enumerate(order, start=1):
        files = thumbnails.files.get(image, {})
        scores = {f"data_{_data_key(i, m)}": _number(by_key[(s, image)][m])
                  for i, s in enumerate(gallery_sources) for m in metric_names
                  if (s, image) in by_key}
        cells = [pages.element("td", rank), pages.element("td", image, class_="name")]
        paths = [files.get("stimulus"), files.get("gt")]
        for source in gallery_sources:
            paths += [files.get((source, "map")), files.get((source, "overlay"))]
        for path in paths:
            picture = pages.element("img", src=path, loading="lazy", alt="") if path \
                else "(no image)"
            cells.append(pages.element("td", picture, class_="pic"))
        for metric in metric_names:
            spans = []
            for i, source in enumerate(gallery_sources):
                value = by_key.get((source, image), {}).get(metric)
                text = "nan" if value is None or math.isnan(value) else f"{value:.{digits}f}"
                spans.append(pages.element("span", text, class_=f"s{i}",
                                           hidden=i != source_index))
            cells.append(pages.element("td", *spans, class_="num"))
        body.append(pages.element("tr", *cells, data_image=image, **scores))
    compact = "compact" if len(gallery_sources) > 1 else None  # several: smaller thumbnails
    return pages.element(
        "table", pages.element("thead", pages.element("tr", *header)),
        pages.element("tbody", *body), id="gallery", class_=compact,
        data_sort_metric=sort_metric, data_source=source_index)
