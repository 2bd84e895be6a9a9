"""The default output: a summary a person reads in an 80-column terminal (tabulate).

Grade and the four dimension scores first (what a person wants to know), then the
findings worst first (`priority.by_priority`: errors, warnings, info; own layers before
base layers; most bytes first), each tagged with its dimension, info folded into one
line per check unless `verbose`; then the image's sizes. Colour only when the caller
says so (a terminal without NO_COLOR: see output.use_color).
"""

from __future__ import annotations

import textwrap

from tabulate import tabulate

from auditor.findings import Dimension, Finding
from auditor.report.catalog import (
    DIMENSIONS,
    catalog,
    count_text,
    dimension_of,
    fmt_score,
    severity_counts,
    status_counts,
)
from auditor.report.dockerfile_links import repo_path
from auditor.report.model import CheckMeta, Report
from auditor.report.priority import InfoGroup, condensed
from auditor.units import human_bytes, short_digest, shorten

WIDTH = 80
COLORS = {"error": "31", "warning": "33", "info": "36", "bold": "1", "dim": "2"}
GRADE_COLORS = {"A": "32", "B": "32", "C": "33", "D": "31", "E": "31", "F": "31"}
INDENT = 25  # severity (8), check ID (7), dimension (6) and gaps
MESSAGE_WIDTH = WIDTH - INDENT - 1


def _paint(text: str, code: str | None, color: bool) -> str:
    return f"\033[{code}m{text}\033[0m" if color and code else text


def render(report: Report, *, color: bool = False, verbose: bool = False) -> str:
    out: list[str] = []
    out += _header(report)
    out.append("")
    out += _scores(report, color)
    out.append("")
    out += findings_table(report, color=color, verbose=verbose)
    out += ignores(report)
    out.append("")
    out += _sizes(report)
    return "\n".join(out).rstrip("\n") + "\n"


def ignores(report: Report) -> list[str]:
    """Config ignores: how many findings they hid, and the expired ones that stopped applying."""
    config = report.config or {}
    out: list[str] = []
    if config.get("ignored"):
        out += ["", f"Ignored by config: {len(config['ignored'])} finding(s)"]
    for rule in config.get("expired_ignores", []):
        where = f" at {rule['path']}" if rule.get("path") else ""
        out.append(
            f"Expired ignore for {rule['check']}{where} (expired {rule['expires']}): "
            "no longer applies"
        )
    return out


def _header(report: Report) -> list[str]:
    image = report.image
    waste = report.waste
    summary = [
        ("Image", shorten(report.reference, 68)),
        ("Digest", short_digest(image["digest"])),
        ("Platform", f"{image['os']}/{image['architecture']}"),
        ("User", shorten(image.get("user") or "(root: no User set)", 68)),
        (
            "Size",
            f"{human_bytes(image['size'])} uncompressed, "
            f"{human_bytes(image.get('compressed_size'))} compressed",
        ),
        (
            "Wasted",
            f"{human_bytes(waste['wasted_bytes'])} (efficiency {waste['efficiency'] * 100:.1f}%)",
        ),
    ]
    base = _base_line(report)
    if base:
        summary.append(("Base", base))
    return [tabulate(summary, tablefmt="plain")]


def _base_line(report: Report) -> str:
    """Which layers are the base image's and how that was decided (facts.provenance)."""
    provenance = (report.facts or {}).get("provenance") or {}
    reason = provenance.get("reason")
    return textwrap.shorten(str(reason), 68, placeholder="...") if reason else ""


def _scores(report: Report, color: bool) -> list[str]:
    scores = report.scores
    if scores is None:
        return ["Grade: not scored (this report has no scores section)"]
    head = _paint(f"Grade {scores.grade}", GRADE_COLORS.get(scores.grade, "1"), color)
    dims = "  ".join(
        f"{d.capitalize()} {fmt_score(scores.dimensions[Dimension(d)])}" for d in DIMENSIONS
    )
    return [f"{head}  {fmt_score(scores.overall)}/100    {dims}"]


def findings_table(report: Report, *, color: bool = False, verbose: bool = False) -> list[str]:
    """Findings worst first, wrapped to 80 columns; info one line per check unless
    `verbose`."""
    if report.findings is None and report.results is None:
        return ["Checks: not run (this report has no results)"]
    findings = report.findings or ()
    results = report.results or ()
    counts = severity_counts(findings)
    status = status_counts(results)
    lines = [
        f"Findings: {count_text(counts)}",
        f"Checks:   {status['passed']} passed, {status['failed']} failed, "
        f"{status['skipped']} skipped, {status['error']} error",
    ]
    for result in results:
        if result.status.value == "error":
            lines.append(
                _paint(f"  check {result.check_id} crashed: ", COLORS["error"], color)
                + shorten(result.reason, 50)
            )
    metas = catalog(report)
    listed, folded = condensed(findings, verbose=verbose)
    if listed or folded:
        lines.append("")
    for f in listed:
        lines += _row(str(f.severity), f.check_id, dimension_of(f, metas), _finding_text(f), color)
    for group in folded:
        text = _folded(group, _title(group, metas))
        lines += _row("info", group.check_id, _dimension(group, metas), text, color)
    if folded:
        n = sum(g.count for g in folded)
        lines += ["", f"{n} info finding(s) summarised by check; --verbose lists each."]
    return lines


def _row(severity: str, check_id: str, dimension: str, text: str, color: bool) -> list[str]:
    sev = _paint(severity.upper(), COLORS.get(severity), color)
    pad = " " * (8 - len(severity))
    first, *rest = text.split("\n")
    return [f"{sev}{pad} {check_id:<7} {dimension:<6}  {first}"] + [
        " " * INDENT + more for more in rest
    ]


def _dimension(group: InfoGroup, metas: dict[str, CheckMeta]) -> str:
    return dimension_of(group.findings[0], metas)


def _title(group: InfoGroup, metas: dict[str, CheckMeta]) -> str:
    meta = metas.get(group.check_id)
    return meta.title if meta and meta.title else group.name


def _folded(group: InfoGroup, title: str) -> str:
    """One line: the finding itself when it is alone, else the check's title and a count."""
    if group.count == 1:
        return shorten(group.findings[0].message, MESSAGE_WIDTH)
    stake = f", {human_bytes(group.bytes)}" if group.bytes else ""
    return shorten(f"{group.count} findings{stake}: {title}", MESSAGE_WIDTH)


def _finding_text(f: Finding) -> str:
    parts = textwrap.wrap(" ".join(f.message.split()), MESSAGE_WIDTH) or [""]
    where = f.path
    if f.paths:
        where = f"{where or ''} (+{len(f.paths)} more)".strip()
    if where:
        parts += textwrap.wrap(
            f"at {where}", MESSAGE_WIDTH, break_long_words=True, break_on_hyphens=False
        )
    if f.layer is not None:
        step = shorten(f.created_by or "", MESSAGE_WIDTH - 12)
        origin = f" ({f.origin})" if f.origin in ("base", "own") else ""
        parts.append(shorten(f"layer {f.layer}{origin}: {step}", MESSAGE_WIDTH))
    if f.dockerfile is not None:
        where = f"{repo_path(f.dockerfile.path)} line {f.dockerfile.line}"
        parts.append(shorten(f"{where}: {f.dockerfile.instruction}", MESSAGE_WIDTH))
    if f.remedy:
        parts += textwrap.wrap("fix: " + " ".join(f.remedy.split()), MESSAGE_WIDTH)
    return "\n".join(parts)


def _sizes(report: Report) -> list[str]:
    image = report.image
    waste = report.waste
    out: list[str] = []
    rows = [
        (
            ly["index"],
            human_bytes(ly["size"]),
            short_digest(ly["diff_id"]),
            shorten(ly["created_by"] or "", 42),
        )
        for ly in image["layers"]
    ]
    out.append(tabulate(rows, headers=["#", "Size", "Layer", "Created by"], tablefmt="simple"))
    dirs = (report.sizes or {}).get("directories", [])[:10]
    if dirs:
        out.append("")
        out.append(
            tabulate(
                [(human_bytes(d["bytes"]), shorten(d["path"], 66)) for d in dirs],
                headers=["Size", "Largest directories"],
                tablefmt="simple",
            )
        )
    files = waste["files"][:10]
    if files:
        out.append("")
        out.append(
            tabulate(
                [
                    (
                        human_bytes(f["wasted_bytes"]),
                        shorten(",".join(map(str, f["layers"])), 8),
                        shorten(f["path"], 58),
                    )
                    for f in files
                ],
                headers=["Wasted", "Layers", "Path"],
                tablefmt="simple",
            )
        )
    return out
