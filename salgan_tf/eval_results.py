"""Evaluation results: per-image rows -> summary -> table text, per_image.csv and summary.json.

`python -m salgan_tf.evaluate` prints `format_table`; the HTML report (salgan_tf.report) reuses
`summarize` and `table_cells`.
"""
from __future__ import annotations

import csv
import dataclasses
import json
import math
import pathlib
import time

import numpy as np

from salgan_tf import atomic
from salgan_tf.metrics.table import METRICS


def summarize(rows, metric_names=None):
    """{source: {metric: {"mean", "std", "count", "nan_count"}}} over images (NaN skipped)."""
    metric_names = metric_names or [m for m in METRICS if rows and m in rows[0]]
    summary = {}
    for source in dict.fromkeys(row["source"] for row in rows):
        source_rows = [row for row in rows if row["source"] == source]
        summary[source] = {}
        for metric in metric_names:
            values = np.array([row[metric] for row in source_rows], dtype=np.float64)
            finite = values[~np.isnan(values)]
            summary[source][metric] = {
                "mean": float(finite.mean()) if len(finite) else float("nan"),
                "std": float(finite.std()) if len(finite) else float("nan"),
                "count": int(len(finite)),
                "nan_count": int(len(values) - len(finite)),
            }
    return summary


def table_cells(summary, metric_names=None, *, digits=4):
    """(header, body) strings of the summary table; `format_table` and the HTML report share it.

    header: ["source", "auc_judd ↑", ...]; body: one list per source, [source, "0.7308", ...]
    (means rounded to `digits`, "nan" when every image was NaN).
    """
    sources = list(summary)
    metric_names = metric_names or (list(summary[sources[0]]) if sources else [])
    header = ["source"] + [f"{m} {'↑' if METRICS[m].higher_is_better else '↓'}"
                           for m in metric_names]
    body = []
    for source in sources:
        cells = [source]
        for metric in metric_names:
            mean = summary[source][metric]["mean"]
            cells.append("nan" if math.isnan(mean) else f"{mean:.{digits}f}")
        body.append(cells)
    return header, body


def format_table(summary, metric_names=None, *, digits=4):
    """A plain-text (Markdown-compatible) table: one row per source, mean of each metric.

    Arrows in the header say which direction is better; NaN images are counted in a note.
    """
    sources = list(summary)
    if not sources:
        return "(no results)"
    metric_names = metric_names or list(summary[sources[0]])
    header, body = table_cells(summary, metric_names, digits=digits)
    widths = [max(len(row[i]) for row in [header] + body) for i in range(len(header))]

    def line(cells):
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths)) + " |"

    lines = [line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    lines += [line(row) for row in body]
    nan_notes = [f"{s}/{m}: {summary[s][m]['nan_count']} NaN image(s) skipped"
                 for s in sources for m in metric_names if summary[s][m]["nan_count"]]
    if nan_notes:
        lines.append("")
        lines += nan_notes
    return "\n".join(lines)


def write_results(rows, summary, output_dir, *, config=None, extra=None):
    """Writes `per_image.csv` and `summary.json` (atomically) to `output_dir`; returns paths."""
    output_dir = pathlib.Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    csv_path = output_dir / "per_image.csv"
    json_path = output_dir / "summary.json"
    fieldnames = list(rows[0]) if rows else ["source", "image"]
    with atomic.open_replaced(csv_path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fieldnames)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: (repr(v) if isinstance(v, float) else v) for k, v in row.items()})
    payload = {
        "summary": json_safe(summary),
        "per_image": json_safe(rows),
        "config": dataclasses.asdict(config) if config is not None else None,
        "metrics": {m: {"higher_is_better": METRICS[m].higher_is_better,
                        "meaning": METRICS[m].meaning}
                    for m in METRICS},
        "written_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        **(extra or {}),
    }
    with atomic.open_replaced(json_path) as handle:
        json.dump(payload, handle, indent=1, allow_nan=False)
    return csv_path, json_path


def json_safe(value):
    """NaN/inf -> None so the JSON is strict (allow_nan=False) and readable by any parser."""
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, np.generic):
        return json_safe(value.item())
    return value
