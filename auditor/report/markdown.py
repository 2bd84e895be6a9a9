"""`--format markdown`: a compact report for a pull-request comment.

Grade and scores, then a findings table worst first (`priority.by_priority`, the order
the terminal table and the summary line use; info folded into one row per check unless
`verbose`), then the details (layers, biggest directories, waste, checks) collapsed in
`<details>`, so the comment stays short.
Everything from the image is escaped: GitHub renders HTML and Markdown in comments,
and a file name must not become a link, a mention or a tag. Long lists are capped to
stay far below GitHub's comment size limit (65536 characters).
"""

from __future__ import annotations

import html
import re
from typing import Any

from auditor.findings import Dimension, Finding
from auditor.report.catalog import (
    DIMENSIONS,
    catalog,
    dimension_of,
    fmt_score,
    severity_counts,
    status_counts,
)
from auditor.report.dockerfile_links import link, repo_path
from auditor.report.model import Report
from auditor.report.priority import InfoGroup, condensed
from auditor.units import human_bytes, short_digest, shorten

MAX_FINDINGS = 50
MAX_ROWS = 15
ICONS = {"error": "🔴", "warning": "🟠", "info": "🔵"}
_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~])")


def esc(text: Any, width: int | None = None) -> str:
    """Plain text for a Markdown table cell: no markup, no HTML, no line breaks, no @."""
    s = " ".join(str(text if text is not None else "").split())
    if width:
        s = shorten(s, width)
    s = _MD_SPECIAL.sub(r"\\\1", s)  # before HTML escaping: entities keep their `#`
    s = html.escape(s, quote=False)
    return s.replace("@", "&#64;").replace("://", ":&#47;&#47;")


def render(report: Report, *, verbose: bool = False) -> str:
    image = report.image
    reference = report.reference
    out: list[str] = []
    scores = report.scores
    if scores:
        out.append(
            f"### imgaudit: grade **{esc(scores.grade)}** "
            f"({fmt_score(scores.overall)}/100) for {esc(reference)}"
        )
        out.append("")
        out.append("| " + " | ".join(d.capitalize() for d in DIMENSIONS) + " |")
        out.append("|" + "---:|" * len(DIMENSIONS))
        dims = [fmt_score(scores.dimensions[Dimension(d)]) for d in DIMENSIONS]
        out.append("| " + " | ".join(dims) + " |")
    else:
        out.append(f"### imgaudit: {esc(reference)} (not scored)")
    out.append("")
    out.append(
        f"`{short_digest(image.get('digest'))}` · {esc(image.get('os'))}/"
        f"{esc(image.get('architecture'))} · {human_bytes(image.get('size'))} uncompressed, "
        f"{human_bytes(image.get('compressed_size'))} compressed · "
        f"{human_bytes(report.waste['wasted_bytes'])} wasted"
    )
    out.append("")
    out += _findings(report, verbose)
    out += _details(report)
    return "\n".join(out).rstrip("\n") + "\n"


def _findings(report: Report, verbose: bool) -> list[str]:
    if report.findings is None and report.results is None:
        return ["Checks were not run.", ""]
    findings = report.findings or ()
    counts = severity_counts(findings)
    out = [
        "**Findings:** "
        + ", ".join(f"{ICONS[s]} {n} {s}" for s, n in counts.items() if s in ICONS),
        "",
    ]
    if not findings:
        return [*out, "No findings. ✅", ""]
    metas = catalog(report)
    out.append("| | Check | Dimension | Finding | Path |")
    out.append("|---|---|---|---|---|")
    listed, folded = condensed(findings, verbose=verbose)
    rows = [
        f"| {ICONS[str(f.severity)]} | {esc(f.check_id)} {esc(f.name)} "
        f"| {esc(dimension_of(f, metas))} | {esc(f.message, 200)} "
        f"| {esc(f.path or '', 80)}{_line_link(f)} |"
        for f in listed
    ]
    for group in folded:
        first = group.findings[0]
        text = first.message if group.count == 1 else _count_text(group)
        path = (first.path or "") if group.count == 1 else ""
        rows.append(
            f"| {ICONS['info']} | {esc(group.check_id)} {esc(group.name)} "
            f"| {esc(dimension_of(first, metas))} | {esc(text, 200)} | {esc(path, 80)} |"
        )
    out += rows[:MAX_FINDINGS]
    if len(rows) > MAX_FINDINGS:
        out.append("")
        out.append(f"…and {len(rows) - MAX_FINDINGS} more (see the full report).")
    if folded:
        n = sum(g.count for g in folded)
        out.append("")
        out.append(f"{n} info finding(s) summarised by check; `--verbose` lists each.")
    out.append("")
    return out


def _count_text(group: InfoGroup) -> str:
    stake = f", {human_bytes(group.bytes)}" if group.bytes else ""
    return f"{group.count} findings{stake}; --verbose lists them"


def _line_link(f: Finding) -> str:
    """` (Dockerfile line 14)`, linked to the line, for a finding that has one."""
    if f.dockerfile is None:
        return ""
    where = f"{repo_path(f.dockerfile.path)} line {f.dockerfile.line}"
    target = link(f.dockerfile).replace(")", "%29").replace(" ", "%20")
    return f"<br>[{esc(where)}]({target})"


def _details(report: Report) -> list[str]:
    image = report.image
    out: list[str] = []
    layers = image["layers"]
    out += _section(
        f"Sizes by layer ({len(layers)} layers, {human_bytes(image['size'])})",
        ["#", "Size", "Created by"],
        [
            [str(ly["index"]), human_bytes(ly["size"]), esc(ly.get("created_by") or "", 100)]
            for ly in layers[: MAX_ROWS * 4]
        ],
    )
    dirs = (report.sizes or {}).get("directories") or []
    out += _section(
        "Largest directories",
        ["Size", "Directory"],
        [[human_bytes(d["bytes"]), esc(d["path"], 100)] for d in dirs[:MAX_ROWS]],
    )
    packages = (report.facts or {}).get("packages") or []
    if packages:
        biggest = sorted(packages, key=lambda p: -(p.get("size") or 0))[:MAX_ROWS]
        out += _section(
            f"Largest Python packages ({len(packages)} installed)",
            ["Size", "Package", "Version"],
            [
                [human_bytes(p.get("size")), esc(p.get("name"), 60), esc(p.get("version"), 30)]
                for p in biggest
            ],
        )
    waste = report.waste
    if waste["files"]:
        out += _section(
            f"Wasted space ({human_bytes(waste['wasted_bytes'])}, "
            f"efficiency {waste['efficiency'] * 100:.1f}%)",
            ["Wasted", "Layers", "Path"],
            [
                [
                    human_bytes(w["wasted_bytes"]),
                    esc(",".join(map(str, w["layers"]))),
                    esc(w["path"], 100),
                ]
                for w in waste["files"][:MAX_ROWS]
            ],
        )
    results = report.results or ()
    if results:
        counts = status_counts(results)
        out += _section(
            "Checks: " + ", ".join(f"{n} {s}" for s, n in counts.items()),
            ["Check", "Status", "Reason"],
            [
                [f"{esc(r.check_id)} {esc(r.name)}", r.status.value, esc(r.reason or "", 120)]
                for r in results
            ],
        )
    return out


def _section(summary: str, headers: list[str], rows: list[list[str]]) -> list[str]:
    if not rows:
        return []
    out = ["<details>", f"<summary>{summary}</summary>", ""]
    out.append("| " + " | ".join(headers) + " |")
    out.append("|" + "---|" * len(headers))
    out += ["| " + " | ".join(row) + " |" for row in rows]
    return [*out, "", "</details>", ""]
