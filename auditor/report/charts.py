"""Charts without a plotting library: terminal sparklines and self-contained SVG.

SVG is text, renders in every browser, embeds in HTML as-is and in Markdown as a
file next to the document; no dependency, no fonts to ship. All output is
deterministic (fixed precision) so reports diff cleanly.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from html import escape

SPARKS = "▁▂▃▄▅▆▇█"


def sparkline(values: Sequence[float | None]) -> str:
    """One block character per value, scaled between the smallest and largest."""
    present = [v for v in values if v is not None]
    if not present:
        return ""
    low, high = min(present), max(present)
    span = high - low
    out = []
    for v in values:
        if v is None:
            out.append(" ")
        elif span == 0:
            out.append(SPARKS[len(SPARKS) // 2])
        else:
            out.append(SPARKS[round((v - low) / span * (len(SPARKS) - 1))])
    return "".join(out)


def line_chart(
    series: Sequence[float | None],
    labels: Sequence[str],
    title: str,
    value_label: str,
    marks: Sequence[int] = (),
    width: int = 640,
    height: int = 220,
) -> str:
    """An SVG line chart; `marks` are indexes drawn as red dots (size jumps)."""
    pad_l, pad_r, pad_t, pad_b = 70, 16, 28, 28
    plot_w, plot_h = width - pad_l - pad_r, height - pad_t - pad_b
    present = [v for v in series if v is not None]
    low = min(present) if present else 0.0
    high = max(present) if present else 1.0
    if high == low:
        high, low = high + 1, max(low - 1, 0)
    n = len(series)

    def xy(i: int, v: float) -> tuple[float, float]:
        x = pad_l + (plot_w * i / (n - 1) if n > 1 else plot_w / 2)
        y = pad_t + plot_h - (v - low) / (high - low) * plot_h
        return round(x, 1), round(y, 1)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">',
        f"<title>{escape(title)}</title>",
        f'<rect width="{width}" height="{height}" fill="#fff"/>',
        f'<text x="{pad_l}" y="16" font-size="13" font-weight="bold">{escape(title)}</text>',
        f'<line x1="{pad_l}" y1="{pad_t + plot_h}" x2="{pad_l + plot_w}" y2="{pad_t + plot_h}" '
        'stroke="#999"/>',
        f'<line x1="{pad_l}" y1="{pad_t}" x2="{pad_l}" y2="{pad_t + plot_h}" stroke="#999"/>',
        f'<text x="{pad_l - 4}" y="{pad_t + 4}" text-anchor="end">{escape(_fmt(high))}</text>',
        f'<text x="{pad_l - 4}" y="{pad_t + plot_h}" text-anchor="end">{escape(_fmt(low))}</text>',
        f'<text x="4" y="{pad_t + plot_h / 2:.0f}">{escape(value_label)}</text>',
    ]
    points = [xy(i, v) for i, v in enumerate(series) if v is not None]
    if points:
        path = " ".join(f"{x},{y}" for x, y in points)
        parts.append(f'<polyline points="{path}" fill="none" stroke="#1f6feb" stroke-width="2"/>')
    for i, v in enumerate(series):
        if v is None:
            continue
        x, y = xy(i, v)
        color = "#d1242f" if i in marks else "#1f6feb"
        label = labels[i] if i < len(labels) else str(i)
        parts.append(
            f'<circle cx="{x}" cy="{y}" r="{4 if i in marks else 2.5}" fill="{color}">'
            f"<title>{escape(label)}: {escape(_fmt(v))}</title></circle>"
        )
    if labels:
        parts.append(
            f'<text x="{pad_l}" y="{height - 8}">{escape(labels[0])}</text>'
            f'<text x="{pad_l + plot_w}" y="{height - 8}" text-anchor="end">'
            f"{escape(labels[-1])}</text>"
        )
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def bar_chart(rows: Sequence[tuple[str, float]], title: str, width: int = 640) -> str:
    """Horizontal bars around a zero line: growth right (red), shrinkage left (green)."""
    bar_h, gap, pad_t, label_w = 16, 4, 28, 260
    height = pad_t + len(rows) * (bar_h + gap) + 8
    plot_w = width - label_w - 16
    zero = label_w + plot_w / 2
    biggest = max((abs(v) for _, v in rows), default=1) or 1
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">',
        f"<title>{escape(title)}</title>",
        f'<rect width="{width}" height="{height}" fill="#fff"/>',
        f'<text x="4" y="16" font-size="13" font-weight="bold">{escape(title)}</text>',
        f'<line x1="{zero}" y1="{pad_t - 4}" x2="{zero}" y2="{height - 4}" stroke="#999"/>',
    ]
    for i, (label, value) in enumerate(rows):
        y = pad_t + i * (bar_h + gap)
        w = round(abs(value) / biggest * plot_w / 2, 1)
        x = zero if value >= 0 else zero - w
        color = "#d1242f" if value > 0 else "#1a7f37"
        short = label if len(label) <= 40 else "…" + label[-39:]
        parts.append(
            f'<text x="4" y="{y + 12}">{escape(short)}</text>'
            f'<rect x="{x}" y="{y}" width="{max(w, 1)}" height="{bar_h}" fill="{color}">'
            f"<title>{escape(label)}: {escape(_signed(value))}</title></rect>"
        )
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def data_uri(svg: str) -> str:
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()


def _fmt(value: float) -> str:
    if abs(value) >= 1000:
        for unit in ("kB", "MB", "GB", "TB"):
            value /= 1000
            if abs(value) < 1000:
                return f"{value:.1f} {unit}"
    return f"{value:g}"


def _signed(value: float) -> str:
    return ("+" if value > 0 else "-" if value < 0 else "") + _fmt(abs(value))
