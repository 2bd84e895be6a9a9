"""`imgaudit history`: trend sparkline, charts (SVG in HTML, Mermaid and SVG files in
Markdown) and the builds where the size jumped, from a store filled by real scans."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta, timezone

import pytest

from auditor.cli import main
from auditor.history_store import open_store
from auditor.report.charts import sparkline
from tests.diff_images import write_pair

REPO = "example.org/shop/app"
T0 = datetime(2026, 3, 1, tzinfo=timezone.utc)


@pytest.fixture
def store_url(tmp_path, monkeypatch) -> str:
    """Four builds: 100 MB, 104 MB (+4%), 170 MB (+66 MB: a jump), 160 MB."""
    url = f"sqlite:///{tmp_path}/h.db"
    monkeypatch.setenv("IMGAUDIT_DB", url)
    with open_store(url) as store:
        for i, (size, score) in enumerate(
            [(100_000_000, 90), (104_000_000, 88), (170_000_000, 70), (160_000_000, 72)]
        ):
            report = {
                "image": {"digest": f"sha256:{i:064d}", "size": size},
                "scores": {"overall": score, "grade": "B"},
                "findings": [],
            }
            store.record(report, REPO, f"v{i}", recorded_at=T0 + timedelta(days=i))
    return url


def test_sparkline_scales_between_min_and_max():
    assert sparkline([1, 2, 3, 4, 5, 6, 7, 8]) == "▁▂▃▄▅▆▇█"
    assert sparkline([5, 5]) == "▅▅"
    assert sparkline([]) == ""


def test_json_lists_scans_and_jumps(store_url, capsys):
    assert main(["history", REPO, "-f", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [s["tag"] for s in doc["scans"]] == ["v0", "v1", "v2", "v3"]
    assert [(j["tag"], j["delta"]) for j in doc["jumps"]] == [("v2", 66_000_000)]
    assert doc["trend"]["size_sparkline"] == "▁▁█▇"
    assert doc["trend"]["delta"] == 60_000_000
    # a lower threshold also flags the +4% build
    assert main(["history", REPO, "-f", "json", "--jump-percent", "3"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [j["tag"] for j in doc["jumps"]] == ["v1", "v2"]


def test_table_has_sparkline_and_jump(store_url, capsys):
    assert main(["history", REPO]) == 0
    out = capsys.readouterr().out
    assert "Size  ▁▁█▇  100.0 MB -> 160.0 MB (+60.0 MB)" in out
    assert "Score █▇▁▂" in out
    assert "- v2: +66.0 MB (+63.5%)" in out


def test_html_embeds_svg_line_charts(store_url, tmp_path, capsys):
    target = tmp_path / "h.html"
    assert main(["history", REPO, "-f", "html", "-o", str(target)]) == 0
    html = target.read_text()
    assert html.count("<svg") == 2
    svg = html[html.index("<svg") : html.index("</svg>") + 6]
    root = ET.fromstring(svg)  # well-formed SVG
    circles = root.findall("{http://www.w3.org/2000/svg}circle")
    assert len(circles) == 4
    assert [c.get("fill") for c in circles] == ["#1f6feb", "#1f6feb", "#d1242f", "#1f6feb"]


def test_markdown_has_mermaid_and_svg_files_next_to_it(store_url, tmp_path, capsys):
    target = tmp_path / "history.md"
    assert main(["history", REPO, "-f", "markdown", "-o", str(target)]) == 0
    md = target.read_text()
    assert "```mermaid\nxychart-beta" in md
    assert "    line [100.0, 104.0, 170.0, 160.0]" in md
    assert "![size](history-size.svg)" in md and "![score](history-score.svg)" in md
    ET.fromstring((tmp_path / "history-size.svg").read_text())
    ET.fromstring((tmp_path / "history-score.svg").read_text())


def test_empty_history(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("IMGAUDIT_DB", f"sqlite:///{tmp_path}/empty.db")
    assert main(["history", "nobody/here"]) == 0
    assert capsys.readouterr().out == "No recorded scans of nobody/here.\n"
    assert not (tmp_path / "empty.db").exists()  # reading did not create a database


def test_record_uses_the_xdg_default_store(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("IMGAUDIT_DB", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    old, _ = write_pair(tmp_path)
    # exit 1: the image runs as root (SEC001 error trips the default --fail-on error)
    assert main(["scan", "-f", "json", old]) == 1  # no store configured: nothing recorded
    assert not (tmp_path / "data" / "imgaudit" / "history.db").exists()
    assert main(["scan", "-f", "json", "--record", old]) == 1
    assert "recorded scan of example.org/shop/app" in capsys.readouterr().err
    assert main(["history", REPO, "-f", "json"]) == 0
    scans = json.loads(capsys.readouterr().out)["scans"]
    assert [s["tag"] for s in scans] == ["1"]
    assert (tmp_path / "data" / "imgaudit" / "history.db").exists()
