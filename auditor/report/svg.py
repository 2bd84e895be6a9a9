"""Inline SVG charts generated in Python: the HTML report needs no script library and no
network. Every label is escaped (it comes from the image); bars are plain rects."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from auditor.units import human_bytes, shorten


@dataclass(frozen=True)
class Bar:
    label: str
    value: int
    tooltip: str = ""
    css_class: str = ""


def bar_chart(
    bars: Sequence[Bar],
    *,
    title: str,
    width: int = 760,
    label_width: int = 300,
    row: int = 22,
    label_chars: int = 44,
) -> str:
    """A horizontal bar chart: one row per bar, label left, bar and size right."""
    if not bars:
        return ""
    top = max(b.value for b in bars) or 1
    value_width = 80
    bar_space = width - label_width - value_width - 10
    height = row * len(bars) + 4
    parts = [
        f'<svg class="chart" role="img" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
    ]
    for i, b in enumerate(bars):
        y = i * row + 2
        length = max(1.0, bar_space * b.value / top) if b.value > 0 else 0.0
        tip = escape(b.tooltip or f"{b.label}: {human_bytes(b.value)}")
        css = f' class="{escape(b.css_class)}"' if b.css_class else ""
        parts.append(
            f"<g><title>{tip}</title>"
            f'<text x="{label_width - 6}" y="{y + row * 0.68:.1f}" text-anchor="end" '
            f'class="lbl">{escape(shorten(b.label, label_chars))}</text>'
            f'<rect x="{label_width}" y="{y + 3}" width="{length:.1f}" height="{row - 6}" '
            f'rx="3"{css}/>'
            f'<text x="{label_width + length + 6:.1f}" y="{y + row * 0.68:.1f}" '
            f'class="val">{escape(human_bytes(b.value))}</text></g>'
        )
    parts.append("</svg>")
    return "".join(parts)


def meter(value: float | None, *, width: int = 160, height: int = 10) -> str:
    """A 0-100 score as a small bar (red below 50, amber below 80, green above)."""
    if value is None:
        return ""
    v = max(0.0, min(100.0, value))
    cls = "bad" if v < 50 else "mid" if v < 80 else "good"
    return (
        f'<svg class="meter" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'xmlns="http://www.w3.org/2000/svg"><rect class="track" width="{width}" '
        f'height="{height}" rx="5"/><rect class="{cls}" width="{width * v / 100:.1f}" '
        f'height="{height}" rx="5"/></svg>'
    )
