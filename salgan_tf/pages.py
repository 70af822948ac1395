"""HTML pages from templates: the demo server's page and the evaluation report.

One mechanism for both: a page is a `string.Template` file in salgan_tf/templates/, its CSS and
JS are files in salgan_tf/static/ (package data, so a non-editable install has them too). Every
value put into a page is HTML-escaped unless it is `Markup`: HTML built by `element`, a package
file (`asset`) or JSON for a `<script>` block (`json_script`). So a file name such as
`<script>x</script>.jpg` shows as text and never runs.
"""
from __future__ import annotations

import html
import importlib.resources
import json
import string

# Elements with no end tag (HTML's void elements that the pages use).
_VOID = frozenset({"br", "img", "input", "link", "meta", "wbr"})


class Markup(str):
    """Text that already is safe HTML: put into pages as is."""


def escape(value):
    """`value` as safe HTML: `Markup` unchanged, anything else `str()` and escaped."""
    return value if isinstance(value, Markup) else Markup(html.escape(str(value)))


def element(tag, *children, **attributes):
    """`<tag name="value">children</tag>` as `Markup`; values and str children are escaped.

    Attribute names drop a trailing "_" and turn "_" into "-" (`class_` -> class,
    `data_sort_metric` -> data-sort-metric); None or False omits the attribute, True writes it
    bare.
    """
    parts = [tag]
    for name, value in attributes.items():
        if value is None or value is False:
            continue
        name = name.rstrip("_").replace("_", "-")
        parts.append(name if value is True else f'{name}="{escape(value)}"')
    opening = f"<{' '.join(parts)}>"
    if tag in _VOID:
        return Markup(opening)
    return Markup(opening + "".join(escape(child) for child in children) + f"</{tag}>")


def join(fragments, separator=""):
    """Escaped fragments joined into one `Markup` (the separator is escaped too)."""
    return Markup(escape(separator).join(escape(fragment) for fragment in fragments))


def asset(path):
    """The text of a package file, e.g. "static/report.css" (trusted: `Markup`)."""
    return Markup(importlib.resources.files("salgan_tf").joinpath(path).read_text("utf-8"))


def json_script(value):
    """`value` as JSON for a `<script type="application/json">` block: NaN refused, and <, >, &
    written as \\u escapes (as Django's json_script), so no string in it can end the block."""
    text = json.dumps(value, allow_nan=False)
    return Markup(text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))


def render(template, **values):
    """salgan_tf/templates/<template> with its `$name` placeholders filled (each value escaped
    unless `Markup`); raises KeyError naming a placeholder left without a value."""
    text = asset(f"templates/{template}")
    return string.Template(text).substitute({name: escape(v) for name, v in values.items()})
