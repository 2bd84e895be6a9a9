"""`imgaudit diff` output: table, json, markdown, html, all from the one diff dict."""

from __future__ import annotations

import json
from collections.abc import Callable
from html import escape
from typing import Any

from auditor.report import charts
from auditor.units import human_bytes, short_digest, shorten

TOP = 15  # rows per section in the human formats (json keeps everything)


def signed(n: int | None) -> str:
    if n is None:
        return "-"
    return ("+" if n > 0 else "-" if n < 0 else "±") + human_bytes(abs(n))


def _headline(d: dict[str, Any]) -> list[tuple[str, str]]:
    size = d["size"]
    pct = f" ({size['percent']:+.1f}%)" if size["percent"] is not None else ""
    rows = [
        ("Old", f"{d['old']['reference'] or '-'} {short_digest(d['old']['digest'])}"),
        ("New", f"{d['new']['reference'] or '-'} {short_digest(d['new']['digest'])}"),
        (
            "Size",
            f"{human_bytes(size['old'])} -> {human_bytes(size['new'])}: "
            f"{signed(size['delta'])}{pct}",
        ),
    ]
    waste = d.get("waste")
    if waste:
        rows.append(
            (
                "Wasted",
                f"{human_bytes(waste['old'])} -> {human_bytes(waste['new'])}: "
                f"{signed(waste['delta'])}",
            )
        )
    scores = d.get("scores")
    if scores:
        old, new = scores["old"], scores["new"]
        rows.append(
            (
                "Score",
                f"{old.get('overall')} ({old.get('grade')}) -> "
                f"{new.get('overall')} ({new.get('grade')})",
            )
        )
    findings = d["findings"]
    rows.append(("Findings", f"{len(findings['new'])} new, {len(findings['fixed'])} fixed"))
    rows.append(("Compared", d["basis_note"]))
    return rows


def _layer_rows(d: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [
        (
            ly["status"],
            "-" if ly["old_index"] is None else ly["old_index"],
            "-" if ly["new_index"] is None else ly["new_index"],
            human_bytes(ly["old_size"]),
            human_bytes(ly["new_size"]),
            shorten(ly["created_by"] or "", 50),
        )
        for ly in d["layers"]
    ]


LAYER_HEADERS = ["Layer", "Old #", "New #", "Old size", "New size", "Created by"]


def _change_rows(section: dict[str, Any], version: bool = False) -> list[tuple[Any, ...]]:
    rows = []
    for c in section["items"][:TOP]:
        row: tuple[Any, ...] = (c["change"], signed(c["delta"]), human_bytes(c["new"]), c["name"])
        if version:
            row += (f"{c.get('old_version') or '-'} -> {c.get('new_version') or '-'}",)
        rows.append(row)
    return rows


def _sections(d: dict[str, Any]) -> list[tuple[str, dict[str, Any], bool]]:
    out = []
    if "paths" in d:
        out.append(("Paths", d["paths"], False))
    out.append(("Directories", d["directories"], False))
    out.append(("Python packages", d["packages"], True))
    return out


def _finding_rows(findings: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    return [
        (f["check_id"], f.get("severity", ""), shorten(f.get("path") or f.get("message"), 70))
        for f in findings[:TOP]
    ]


def render_table(d: dict[str, Any]) -> str:
    from tabulate import tabulate  # deferred: start-up time, see README "Performance"

    out = [tabulate(_headline(d), tablefmt="plain"), ""]
    out.append(tabulate(_layer_rows(d), headers=LAYER_HEADERS, tablefmt="simple"))
    for title, section, version in _sections(d):
        out.append("")
        if not section["items"]:
            out.append(f"{title}: no change")
            continue
        headers = ["Change", "Delta", "Now", title] + (["Version"] if version else [])
        out.append(tabulate(_change_rows(section, version), headers=headers, tablefmt="simple"))
        if section["count"] > TOP:
            out.append(f"... {section['count'] - TOP} more")
    for label in ("new", "fixed"):
        rows = _finding_rows(d["findings"][label])
        if rows:
            out.append("")
            out.append(
                tabulate(rows, headers=[f"Finding {label}", "Severity", "Where"], tablefmt="simple")
            )
    repro = d.get("reproducibility")
    if repro is not None:
        out.append("")
        if repro["count"] == 0:
            out.append("Reproducibility: nothing differs that should not")
        else:
            counts = ", ".join(f"{k} {v}" for k, v in repro["by_category"].items())
            out.append(f"Reproducibility: {repro['count']} unintended differences ({counts})")
            out.append(
                tabulate(
                    [(r["category"], r["path"], r["detail"]) for r in repro["differences"][:TOP]],
                    headers=["Kind", "Path", "Detail"],
                    tablefmt="simple",
                )
            )
    return "\n".join(out) + "\n"


def render_json(d: dict[str, Any]) -> str:
    return json.dumps(d, indent=2, sort_keys=True) + "\n"


def _md_table(headers: list[str], rows: list[tuple[Any, ...]]) -> str:
    def cell(v: Any) -> str:
        return str(v).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def render_markdown(d: dict[str, Any]) -> str:
    out = ["## imgaudit diff", ""]
    out.append(_md_table(["", ""], _headline(d)))
    out += ["", "### Layers", "", _md_table(LAYER_HEADERS, _layer_rows(d))]
    for title, section, version in _sections(d):
        out += ["", f"### {title}", ""]
        if not section["items"]:
            out.append("No change.")
            continue
        headers = ["Change", "Delta", "Now", "Name"] + (["Version"] if version else [])
        out.append(_md_table(headers, _change_rows(section, version)))
    for label in ("new", "fixed"):
        rows = _finding_rows(d["findings"][label])
        if rows:
            out += [
                "",
                f"### Findings {label}",
                "",
                _md_table(["Check", "Severity", "Where"], rows),
            ]
    repro = d.get("reproducibility")
    if repro is not None and repro["count"]:
        out += ["", f"### Reproducibility: {repro['count']} unintended differences", ""]
        rows = [(r["category"], r["path"], r["detail"]) for r in repro["differences"][:TOP]]
        out.append(_md_table(["Kind", "Path", "Detail"], rows))
    return "\n".join(out) + "\n"


def _html_table(headers: list[str], rows: list[tuple[Any, ...]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(str(v))}</td>" for v in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render_html(d: dict[str, Any]) -> str:
    growth_source = d.get("paths") or d["directories"]
    bars = [(c["name"], float(c["delta"])) for c in growth_source["items"][:TOP]]
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>imgaudit diff</title>",
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;"
        "margin:.5em 0}td,th{border:1px solid #ccc;padding:2px 8px;text-align:left}</style>",
        "</head><body><h1>imgaudit diff</h1>",
        _html_table(["", ""], _headline(d)),
    ]
    if bars:
        parts.append(charts.bar_chart(bars, "Largest changes (bytes)"))
    parts += ["<h2>Layers</h2>", _html_table(LAYER_HEADERS, _layer_rows(d))]
    for title, section, version in _sections(d):
        parts.append(f"<h2>{escape(title)}</h2>")
        headers = ["Change", "Delta", "Now", "Name"] + (["Version"] if version else [])
        parts.append(
            _html_table(headers, _change_rows(section, version))
            if section["items"]
            else "<p>No change.</p>"
        )
    for label in ("new", "fixed"):
        rows = _finding_rows(d["findings"][label])
        if rows:
            parts += [
                f"<h2>Findings {label}</h2>",
                _html_table(["Check", "Severity", "Where"], rows),
            ]
    repro = d.get("reproducibility")
    if repro is not None:
        parts.append(f"<h2>Reproducibility: {repro['count']} unintended differences</h2>")
        rows = [(r["category"], r["path"], r["detail"]) for r in repro["differences"][:TOP]]
        if rows:
            parts.append(_html_table(["Kind", "Path", "Detail"], rows))
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


FORMATS: dict[str, Callable[[dict[str, Any]], str]] = {
    "table": render_table,
    "json": render_json,
    "markdown": render_markdown,
    "html": render_html,
}
