"""Render the fleet summary as a table (terminal), JSON, Markdown or HTML.

Every string from an image or a registry is escaped with the report renderers' own
helpers (`markdown.esc`, `html_format.e`): a tag or a finding message must not
become markup in a PR comment or a dashboard page.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from auditor.report.html_format import e
from auditor.report.markdown import esc
from auditor.units import human_bytes, shorten

Section = tuple[str, list[str], list[list[Any]]]


def _signed(n: int) -> str:
    return ("+" if n > 0 else "-" if n < 0 else "±") + human_bytes(abs(n))


def headline(doc: dict[str, Any]) -> str:
    s = doc["stats"]
    return (
        f"{s['images']} images ({s['failed']} failed) in {s['seconds']:.1f}s on "
        f"{s['workers']} workers: {s['images_per_minute']:.1f} images/min; "
        f"{s['layer_refs']} layer uses, {s['distinct_layers']} distinct, "
        f"{s['layers_read']} read, {s['layer_reads_saved']} reads saved"
        + (f"; {s['results_cached']} from the result cache" if s.get("results_cached") else "")
        + (
            f"; {s['transfers']} results moved between workers "
            f"({human_bytes(s['transferred_bytes'])})"
            if s.get("transfers") is not None
            else ""
        )
    )


def sections(doc: dict[str, Any]) -> list[Section]:
    grades = [[g, n] for g, n in doc["grades"].items()]
    worst = [
        [f["check_id"], f["severity"], f["count"], shorten(f["message"], 70)]
        for f in doc["worst_findings"]
    ]
    biggest = [[b["reference"], human_bytes(b["size"]), b["grade"] or "-"] for b in doc["biggest"]]
    growth = [
        [
            g["reference"],
            human_bytes(g["previous_size"]),
            human_bytes(g["size"]),
            _signed(g["delta"]) + (f" ({g['percent']:+.1f}%)" if g["percent"] is not None else ""),
        ]
        for g in doc["growth"]
    ]
    errors = [[x["reference"], shorten(x["error"], 120)] for x in doc["errors"]]
    out: list[Section] = [
        ("Grades", ["Grade", "Images"], grades),
        ("Worst findings", ["Check", "Severity", "Images", "Example"], worst),
        ("Biggest images", ["Image", "Size", "Grade"], biggest),
    ]
    if doc["previous_run_id"] is None:
        out.append(("Size growth since the last fleet run (none: first fleet run)", [], []))
    else:
        out.append(
            ("Size growth since the last fleet run", ["Image", "Before", "Now", "Change"], growth)
        )
    out.append(("Failed images", ["Image", "Error"], errors))
    return out


def render_table(doc: dict[str, Any]) -> str:
    from tabulate import tabulate  # deferred: start-up time, see README "Performance"

    out = [f"Fleet run {doc['run_id'] or '-'}: {headline(doc)}"]
    for title, headers, rows in sections(doc):
        out += ["", title]
        out.append(tabulate(rows, headers=headers, tablefmt="simple") if rows else "  none")
    return "\n".join(out) + "\n"


def render_json(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=2, sort_keys=True) + "\n"


def render_markdown(doc: dict[str, Any]) -> str:
    out = [f"## imgaudit fleet run {esc(doc['run_id'] or '-')}", "", esc(headline(doc))]
    for title, headers, rows in sections(doc):
        out += ["", f"### {title}", ""]
        if not rows:
            out.append("None.")
            continue
        out.append("| " + " | ".join(esc(h) for h in headers) + " |")
        out.append("|" + "---|" * len(headers))
        out += ["| " + " | ".join(esc(c) for c in row) + " |" for row in rows]
    return "\n".join(out) + "\n"


def render_html(doc: dict[str, Any]) -> str:
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>imgaudit fleet run {e(doc['run_id'] or '-')}</title>",
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:2px 8px;text-align:left}</style></head><body>",
        f"<h1>imgaudit fleet run {e(doc['run_id'] or '-')}</h1>",
        f"<p>{e(headline(doc))}</p>",
    ]
    for title, headers, rows in sections(doc):
        parts.append(f"<h2>{e(title)}</h2>")
        if not rows:
            parts.append("<p>None.</p>")
            continue
        head = "".join(f"<th>{e(h)}</th>" for h in headers)
        body = "".join("<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>" for row in rows)
        parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


FORMATS: dict[str, Callable[[dict[str, Any]], str]] = {
    "table": render_table,
    "json": render_json,
    "markdown": render_markdown,
    "html": render_html,
}
