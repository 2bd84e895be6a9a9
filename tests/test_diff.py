"""`imgaudit diff`: exact growers, shrinkers and unreproducible differences of two
factory builds with known changes (tests/diff_images.py), from images and from reports."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from auditor import diff
from auditor.cli import main
from auditor.loading import LoadOptions, load_image
from tests.diff_images import write_pair


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    return write_pair(tmp_path_factory.mktemp("pair"))


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    rc = main(argv)
    return rc, capsys.readouterr().out


def _items(section: dict) -> list[tuple[str, str, int]]:
    return [(c["name"], c["change"], c["delta"]) for c in section["items"]]


def test_diff_of_images_lists_exact_changes(pair, capsys, tmp_path):
    rc, out = _run(["diff", "-q", "-f", "json", *pair], capsys)
    assert rc == 0
    d = json.loads(out)
    assert d["basis"] == "filesystem"
    assert _items(d["paths"]) == [
        ("/app/big.bin", "appeared", 200_000),
        ("/app/data.bin", "shrank", -3000),
        ("/app/old.txt", "vanished", -700),
        ("/app/main.py", "grew", 500),
        ("/var/log/apt/history.log", "grew", 50),
    ]
    assert d["paths"]["grew"] == 200_550 and d["paths"]["shrank"] == 3700
    assert _items(d["directories"]) == [
        ("/app", "grew", 196_800),
        ("/var", "grew", 50),
        ("/var/log", "grew", 50),
        ("/var/log/apt", "grew", 50),
    ]
    assert d["size"]["delta"] == 196_850
    assert [(ly["status"], ly["old_index"], ly["new_index"]) for ly in d["layers"]] == [
        ("same", 0, 0),
        ("added", None, 1),
        ("removed", 1, None),
    ]
    mtime = "mtime 1700000000 -> 1700000060"
    assert d["reproducibility"]["differences"] == [
        {
            "path": "(image config)",
            "category": "metadata",
            "detail": "config created 2026-11-01T00:00:00Z -> 2026-11-02T00:00:00Z",
        },
        {"path": "/app", "category": "mtime", "detail": mtime},
        {"path": "/app/__pycache__/main.cpython-311.pyc", "category": "pyc", "detail": mtime},
        {"path": "/app/config.ini", "category": "mtime", "detail": mtime},
        {"path": "/var/log/apt/history.log", "category": "log", "detail": "size 300 -> 350"},
    ]
    assert d["reproducibility"]["by_category"] == {"log": 1, "metadata": 1, "mtime": 2, "pyc": 1}


def test_unreproducible_differences_is_empty_for_the_same_build(pair):
    old = load_image(pair[0], LoadOptions(use_cache=False))
    again = load_image(pair[0], LoadOptions(use_cache=False))
    assert diff.unreproducible_differences(old.fs, again.fs) == []
    assert diff.diff({}, {}, old.fs, again.fs)["paths"]["items"] == []


def test_diff_of_json_reports_uses_what_reports_carry(pair, capsys, tmp_path):
    old_json, new_json = tmp_path / "old.json", tmp_path / "new.json"
    _, out = _run(["scan", "-q", "-f", "json", pair[0]], capsys)
    old_json.write_text(out)
    # NEW scanned against OLD: SZ005 fails in the new report only -> a new finding
    _, out = _run(["scan", "-q", "-f", "json", pair[1], "--baseline", str(old_json)], capsys)
    new_json.write_text(out)
    rc, out = _run(["diff", "-f", "json", str(old_json), str(new_json)], capsys)
    assert rc == 0
    d = json.loads(out)
    assert d["basis"] == "report"
    assert "paths" not in d and "reproducibility" not in d
    assert _items(d["directories"]) == [
        ("/app", "grew", 196_800),
        ("/var", "grew", 50),
        ("/var/log", "grew", 50),
        ("/var/log/apt", "grew", 50),
    ]
    assert [f["check_id"] for f in d["findings"]["new"]] == ["SZ005"]
    assert d["findings"]["fixed"] == []
    # and the other way round the finding is fixed
    _, out = _run(["diff", "-f", "json", str(new_json), str(old_json)], capsys)
    assert [f["check_id"] for f in json.loads(out)["findings"]["fixed"]] == ["SZ005"]


def test_report_diff_packages_and_scores_from_the_contract():
    """facts.packages and scores as design.md defines them (filled by other steps)."""

    def report(packages: list[dict], overall: int) -> dict:
        return {
            "image": {"size": 100},
            "facts": {"packages": packages},
            "scores": {"overall": overall, "grade": "B", "small": overall},
        }

    loc = "/opt/venv/lib/python3.11/site-packages"
    old = report(
        [
            {"name": "Requests", "version": "2.31.0", "location": loc, "size": 400},
            {"name": "six", "version": "1.16.0", "location": loc, "size": 50},
            {"name": "numpy", "version": "1.26.0", "location": loc, "size": 30_000},
        ],
        80,
    )
    new = report(
        [
            {"name": "requests", "version": "2.32.0", "location": loc, "size": 410},
            {"name": "numpy", "version": "2.0.0", "location": loc, "size": 25_000},
            {"name": "torch", "version": "2.2.0", "location": loc, "size": 900_000},
        ],
        71,
    )
    d = diff.diff(old, new)
    assert [
        (c["name"].split(" ")[0], c["change"], c["delta"], c.get("new_version"))
        for c in d["packages"]["items"]
    ] == [
        ("torch", "appeared", 900_000, "2.2.0"),
        ("numpy", "shrank", -5000, "2.0.0"),
        ("six", "vanished", -50, None),
        ("requests", "grew", 10, "2.32.0"),
    ]
    assert d["scores"]["delta"] == {"overall": -9, "small": -9}


def test_top_lists_bound_missing_entries():
    old = {f"/d{i}": 100 - i for i in range(3)}  # a full top-3 list: floor 98
    new = {"/d0": 100, "/d1": 99, "/new": 500}
    changes = diff.compare_top_lists(old, new, 3)
    # /new was below the old list's floor (98); /d2 fell below the new floor (99)
    assert [(c.name, c.old, c.new, c.estimated) for c in changes] == [
        ("/new", 98, 500, True),
        ("/d2", 98, 99, True),
    ]
    # a short list is complete: a missing name is really absent
    assert [(c.name, c.change) for c in diff.compare_top_lists({}, {"/x": 5}, 3)] == [
        ("/x", "appeared")
    ]


@pytest.mark.parametrize("fmt", ["table", "markdown", "html"])
def test_human_formats_name_the_changes(pair, capsys, tmp_path, fmt):
    target = tmp_path / f"diff.{fmt}"
    rc, out = _run(["diff", "-q", "-f", fmt, "-o", str(target), *pair], capsys)
    assert rc == 0 and out == ""
    text = target.read_text()
    for needle in ("/app/big.bin", "/app/old.txt", "/app/config.ini", "+196.8 kB"):
        assert needle in text
    if fmt == "html":
        assert text.count("<svg") == 1 and "/app/big.bin: +200.0 kB" in text
        svg = ET.fromstring(text[text.index("<svg") : text.index("</svg>") + 6])
        bars = svg.findall("{http://www.w3.org/2000/svg}rect")[1:]  # [0] is the background
        assert [b.get("fill") for b in bars] == [
            "#d1242f",
            "#1a7f37",
            "#1a7f37",
            "#d1242f",
            "#d1242f",
        ]


def test_bad_inputs_exit_2_with_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert main(["diff", str(bad), str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("imgaudit: error:") and err.count("\n") == 1
    other = tmp_path / "other.json"
    other.write_text('{"hello": 1}')
    assert main(["diff", str(other), str(other)]) == 2
    assert "not an imgaudit JSON report" in capsys.readouterr().err
