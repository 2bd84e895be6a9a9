"""`imgaudit history` output: size and score over time, the trend, the size jumps.

Charts: the table has sparklines (one block character per scan); HTML embeds SVG
line charts; Markdown carries a Mermaid `xychart-beta` block, which GitHub and GitLab
render natively in PR comments and files (GitHub does not display `data:` image URIs,
so an inline SVG data URI would show as a broken image), plus links to SVG files
written next to the document when the output is a file (`-o`).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass
from html import escape
from typing import Any

from auditor.history_store import Record
from auditor.report import charts
from auditor.units import human_bytes, short_digest


@dataclass(frozen=True)
class Jump:
    """A build whose size grew more than the threshold over the build before it."""

    record: Record
    previous: Record

    @property
    def delta(self) -> int:
        return self.record.size - self.previous.size

    @property
    def percent(self) -> float | None:
        return 100.0 * self.delta / self.previous.size if self.previous.size else None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.record.id,
            "previous_id": self.previous.id,
            "tag": self.record.tag,
            "digest": self.record.digest,
            "recorded_at": self.record.recorded_at,
            "delta": self.delta,
            "percent": round(self.percent, 2) if self.percent is not None else None,
        }


def size_jumps(records: list[Record], percent: float, nbytes: int) -> list[Jump]:
    """Consecutive scans where size grew by more than `percent` or more than `nbytes`."""
    jumps = []
    for prev, cur in itertools.pairwise(records):
        jump = Jump(cur, prev)
        if jump.delta <= 0:
            continue
        if jump.delta > nbytes or (jump.percent is not None and jump.percent > percent):
            jumps.append(jump)
    return jumps


def history_document(repository: str, records: list[Record], jumps: list[Jump]) -> dict[str, Any]:
    sizes = [r.size for r in records]
    return {
        "repository": repository,
        "scans": [r.to_json() for r in records],
        "trend": {
            "first_size": sizes[0] if sizes else None,
            "last_size": sizes[-1] if sizes else None,
            "delta": sizes[-1] - sizes[0] if sizes else None,
            "size_sparkline": charts.sparkline(sizes),
            "score_sparkline": charts.sparkline([r.score for r in records]),
        },
        "jumps": [j.to_json() for j in jumps],
    }


def _label(r: dict[str, Any]) -> str:
    return r["tag"] or short_digest(r["digest"])


def _rows(doc: dict[str, Any], jump_ids: set[int]) -> list[tuple[Any, ...]]:
    rows = []
    prev: int | None = None
    for r in doc["scans"]:
        delta = "" if prev is None else _signed(r["size"] - prev)
        rows.append(
            (
                r["recorded_at"][:19].replace("T", " "),
                r["tag"] or "-",
                short_digest(r["digest"]),
                human_bytes(r["size"]),
                delta + (" ⚠" if r["id"] in jump_ids else ""),
                "-" if r["score"] is None else f"{r['score']:g} ({r['grade']})",
                r["findings"],
            )
        )
        prev = r["size"]
    return rows


HEADERS = ["Recorded (UTC)", "Tag", "Digest", "Size", "Change", "Score", "Findings"]


def _signed(n: int) -> str:
    return ("+" if n > 0 else "-" if n < 0 else "±") + human_bytes(abs(n))


def render_table(doc: dict[str, Any], **_: Any) -> str:
    from tabulate import tabulate  # deferred: start-up time, see README "Performance"

    if not doc["scans"]:
        return f"No recorded scans of {doc['repository']}.\n"
    trend = doc["trend"]
    jump_ids = {j["id"] for j in doc["jumps"]}
    out = [
        f"History of {doc['repository']}: {len(doc['scans'])} scans",
        f"Size  {trend['size_sparkline']}  {human_bytes(trend['first_size'])} -> "
        f"{human_bytes(trend['last_size'])} ({_signed(trend['delta'])})",
    ]
    if trend["score_sparkline"].strip():
        out.append(f"Score {trend['score_sparkline']}")
    out += ["", tabulate(_rows(doc, jump_ids), headers=HEADERS, tablefmt="simple")]
    out += _jump_lines(doc)
    return "\n".join(out) + "\n"


def _jump_lines(doc: dict[str, Any]) -> list[str]:
    if not doc["jumps"]:
        return []
    lines = ["", "Size jumps:"]
    for j in doc["jumps"]:
        pct = f" ({j['percent']:+.1f}%)" if j["percent"] is not None else ""
        lines.append(f"- {j['tag'] or short_digest(j['digest'])}: {_signed(j['delta'])}{pct}")
    return lines


def render_json(doc: dict[str, Any], **_: Any) -> str:
    return json.dumps(doc, indent=2, sort_keys=True) + "\n"


def size_svg(doc: dict[str, Any]) -> str:
    scans = doc["scans"]
    jump_ids = {j["id"] for j in doc["jumps"]}
    return charts.line_chart(
        [r["size"] for r in scans],
        [_label(r) for r in scans],
        f"{doc['repository']}: image size",
        "bytes",
        marks=[i for i, r in enumerate(scans) if r["id"] in jump_ids],
    )


def score_svg(doc: dict[str, Any]) -> str | None:
    scans = doc["scans"]
    if all(r["score"] is None for r in scans):
        return None
    return charts.line_chart(
        [r["score"] for r in scans],
        [_label(r) for r in scans],
        f"{doc['repository']}: score",
        "score",
    )


def mermaid(doc: dict[str, Any]) -> str:
    scans = doc["scans"]
    labels = ", ".join(json.dumps(_label(r)) for r in scans)
    values = ", ".join(f"{r['size'] / 1e6:.1f}" for r in scans)
    return "\n".join(
        [
            "```mermaid",
            "xychart-beta",
            f'    title "{doc["repository"]}: image size (MB)"',
            f"    x-axis [{labels}]",
            '    y-axis "MB"',
            f"    line [{values}]",
            "```",
        ]
    )


def render_markdown(doc: dict[str, Any], svg_files: dict[str, str] | None = None) -> str:
    """`svg_files`: chart name -> file name written next to the document, to link."""
    out = [f"## Size history of `{doc['repository']}`", ""]
    if not doc["scans"]:
        return "\n".join([*out, "No recorded scans."]) + "\n"
    out += [mermaid(doc), ""]
    for name, filename in (svg_files or {}).items():
        out += [f"![{name}]({filename})", ""]
    jump_ids = {j["id"] for j in doc["jumps"]}
    out.append("| " + " | ".join(HEADERS) + " |")
    out.append("|" + "---|" * len(HEADERS))
    for row in _rows(doc, jump_ids):
        out.append("| " + " | ".join(str(v).replace("|", "\\|") for v in row) + " |")
    out += _jump_lines(doc)
    return "\n".join(out) + "\n"


def render_html(doc: dict[str, Any], **_: Any) -> str:
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>imgaudit history: {escape(doc['repository'])}</title>",
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:2px 8px;text-align:left}</style></head><body>",
        f"<h1>History of {escape(doc['repository'])}</h1>",
    ]
    if not doc["scans"]:
        parts.append("<p>No recorded scans.</p></body></html>")
        return "\n".join(parts) + "\n"
    parts.append(size_svg(doc))
    score = score_svg(doc)
    if score:
        parts.append(score)
    jump_ids = {j["id"] for j in doc["jumps"]}
    head = "".join(f"<th>{escape(h)}</th>" for h in HEADERS)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(str(v))}</td>" for v in row) + "</tr>"
        for row in _rows(doc, jump_ids)
    )
    parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
    jumps = _jump_lines(doc)
    if jumps:
        parts.append("<h2>Size jumps</h2><ul>")
        parts += [f"<li>{escape(line[2:])}</li>" for line in jumps[2:]]
        parts.append("</ul>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


FORMATS: dict[str, Callable[..., str]] = {
    "table": render_table,
    "json": render_json,
    "markdown": render_markdown,
    "html": render_html,
}
