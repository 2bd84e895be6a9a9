"""The HTML report in a real headless Chromium: loads cleanly, shows what it should,
filters, cannot be injected into, and looks like something (screenshot)."""

from __future__ import annotations

import re
import struct
import zlib
from pathlib import Path

import pytest

from auditor.report import html_format
from auditor.report.model import Report
from tests.report import chromium
from tests.report.support import XSS_IMG, scores

pytestmark = pytest.mark.skipif(
    chromium.find() is None, reason="chromium not installed (apt-get install chromium)"
)


def _write(report: Report, tmp_path: Path, name: str = "report.html") -> Path:
    page = tmp_path / name
    page.write_text(html_format.render(report), encoding="utf-8")
    return page


def test_harness_sees_console_errors(tmp_path: Path) -> None:
    """The console check can fail: a broken page is caught."""
    page = tmp_path / "broken.html"
    page.write_text("<!DOCTYPE html><p>x</p><script>console.error('boom'); nope();</script>")
    console = chromium.dump_dom(page).console
    assert "boom" in console
    assert any("nope is not defined" in line for line in console)


@pytest.mark.parametrize("which", ["bad_report", "unscored_report", "bare_report"])
def test_loads_without_console_messages(
    which: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    report = request.getfixturevalue(which)
    page = chromium.dump_dom(_write(report, tmp_path))
    assert page.console == []
    assert "</html>" in page.dom


def test_shows_grade_and_findings_and_script_ran(bad_report: Report, tmp_path: Path) -> None:
    dom = chromium.dump_dom(_write(bad_report, tmp_path)).dom
    assert f'id="grade">{scores(bad_report)["grade"]}</div>' in dom
    assert dom.count('<article class="finding"') == 5
    assert "the image runs as root" in dom
    # The count is written by the inline script: it ran, so the CSP hash is right.
    assert '<span class="meta" id="f-count">5 of 5 shown</span>' in dom


def test_filter_by_severity_dimension_and_text(bad_report: Report, tmp_path: Path) -> None:
    page = _write(bad_report, tmp_path)
    for fragment, shown in (
        ("#sev=error", 1),
        ("#dim=small", 3),
        ("#sev=warning&q=numpy", 1),
        ("#q=no-such-text", 0),
    ):
        result = chromium.dump_dom(page, fragment)
        assert result.console == []
        assert f"{shown} of 5 shown" in result.dom, fragment
        visible = re.findall(r'<article class="finding"[^>]*>', result.dom)
        assert sum(1 for tag in visible if " hidden" not in tag) == shown


def test_about_link_opens_the_check_doc(bad_report: Report, tmp_path: Path) -> None:
    result = chromium.dump_dom(_write(bad_report, tmp_path), "#check-TST002")
    assert result.console == []
    assert re.search(r'<tr id="check-TST002">.*?<details open="">', result.dom)
    assert not re.search(r'<tr id="check-TST001">(?:(?!</tr>).)*<details open', result.dom)


def test_script_named_files_cannot_inject(bad_report: Report, tmp_path: Path) -> None:
    dom = chromium.dump_dom(_write(bad_report, tmp_path))
    assert dom.console == []
    assert dom.dom.count("<script") == 1  # ours only
    assert "<img" not in dom.dom
    assert "/app/&lt;script&gt;alert(1)&lt;/script&gt;" in dom.dom
    assert XSS_IMG.replace("<", "&lt;").replace(">", "&gt;") in dom.dom


def _png_info(data: bytes) -> tuple[int, int, int]:
    """Width, height and the number of distinct byte values in the pixel data."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    chunks, pos = b"", 8
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        if kind == b"IDAT":
            chunks += data[pos + 8 : pos + 8 + length]
        pos += 12 + length
    return width, height, len(set(zlib.decompress(chunks)))


def test_screenshot(bad_report: Report, tmp_path: Path) -> None:
    png = tmp_path / "report.png"
    chromium.screenshot(_write(bad_report, tmp_path), png)
    width, height, distinct = _png_info(png.read_bytes())
    assert (width, height) == (1280, 2000)
    assert distinct > 50  # not a blank page: text, badges, bars
