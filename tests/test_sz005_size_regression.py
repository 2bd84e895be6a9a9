"""SZ005 size-regression against a baseline report, a baseline image and the history
store, on the factory pair of tests/diff_images.py (NEW is 196850 bytes bigger)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from auditor.cli import main
from auditor.units import human_bytes
from tests.diff_images import STDLIB, write_pair

GROWTH = 196_850
# every file byte of the old image: two real stdlib files, the README, the app layer
OLD_SIZE = (STDLIB / "os.py").stat().st_size + (STDLIB / "json" / "decoder.py").stat().st_size
OLD_SIZE += 3000 + 1000 + 5000 + 700 + 100 + 200 + 300


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str, Path]:
    tmp = tmp_path_factory.mktemp("sz005")
    old, new = write_pair(tmp)
    return old, new, tmp


def scan(capsys: pytest.CaptureFixture[str], *argv: str) -> dict:
    # 1: the test images run as root (SEC001, an error) and the default gate is --fail-on error
    assert main(["scan", "-q", "-f", "json", *argv]) == 1
    return json.loads(capsys.readouterr().out)


def sz005(report: dict) -> tuple[dict, list[dict]]:
    result = next(r for r in report["results"] if r["check_id"] == "SZ005")
    return result, [f for f in report["findings"] if f["check_id"] == "SZ005"]


@pytest.fixture(scope="module")
def old_report(pair, tmp_path_factory) -> Path:
    from auditor.pipeline import Settings, audit

    path = tmp_path_factory.mktemp("base") / "old.json"
    path.write_text(json.dumps(audit(pair[0], Settings()).to_json()))
    return path


def test_skipped_without_a_baseline(pair, capsys, monkeypatch):
    monkeypatch.delenv("IMGAUDIT_DB", raising=False)
    result, findings = sz005(scan(capsys, pair[1]))
    assert result["status"] == "skipped" and "no baseline" in result["reason"]
    assert findings == []


def test_passes_against_itself(pair, old_report, capsys):
    result, findings = sz005(scan(capsys, pair[0], "--baseline", str(old_report)))
    assert result["status"] == "passed" and findings == []


def test_fails_on_growth_naming_the_top_growers(pair, old_report, capsys):
    report = scan(capsys, pair[1], "--baseline", str(old_report))
    result, findings = sz005(report)
    assert result["status"] == "failed"
    assert len(findings) == 1
    f = findings[0]
    ev = f["evidence"]
    assert (ev["old_size"], ev["new_size"], ev["delta"]) == (OLD_SIZE, OLD_SIZE + GROWTH, GROWTH)
    assert f["bytes"] == GROWTH and f["severity"] == "warning"
    assert ev["percent"] == round(100 * GROWTH / OLD_SIZE, 2)
    assert [(d["name"], d["delta"]) for d in ev["directories"]] == [
        ("/app", 196_800),
        ("/var", 50),
        ("/var/log", 50),
        ("/var/log/apt", 50),
    ]
    assert f["message"] == (
        f"image grew by 196.8 kB ({100 * GROWTH / OLD_SIZE:+.1f}%) since {old_report} "
        f"({human_bytes(OLD_SIZE)} -> {human_bytes(OLD_SIZE + GROWTH)}), "
        "more than 10%; top growers: /app +196.8 kB; /var +50 B; /var/log +50 B"
    )


@pytest.mark.parametrize(
    ("percent", "nbytes", "broke"),
    [
        ("1000", "100000", ["more than 100000 bytes"]),
        ("100", "1000000", ["more than 100%"]),
        ("1000", "1000000", []),
    ],
)
def test_thresholds(pair, old_report, capsys, percent, nbytes, broke):
    report = scan(
        capsys,
        pair[1],
        "--baseline",
        str(old_report),
        "--size-regression-percent",
        percent,
        "--size-regression-bytes",
        nbytes,
    )
    result, findings = sz005(report)
    if not broke:
        assert result["status"] == "passed" and findings == []
        return
    assert result["status"] == "failed"
    assert findings[0]["message"].split("), ", 1)[1].split(";")[0] == " and ".join(broke)


def test_baseline_image_compares_every_directory(pair, capsys):
    report = scan(capsys, pair[1], "--baseline", pair[0])
    _, findings = sz005(report)
    ev = findings[0]["evidence"]
    assert ev["baseline"] == "example.org/shop/app:1"
    assert ev["directories"][0] == {
        "name": "/app",
        "change": "grew",
        "old": 7000,
        "new": 203_800,
        "delta": 196_800,
    }


def test_history_store_is_the_default_baseline(pair, capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("IMGAUDIT_DB", f"sqlite:///{tmp_path}/h.db")
    first = scan(capsys, pair[0])  # recorded: a store is configured
    result, _ = sz005(first)
    assert result["status"] == "skipped"  # nothing recorded before it
    _, findings = sz005(scan(capsys, pair[1]))
    assert findings[0]["evidence"]["baseline"].startswith(
        "the last recorded scan of example.org/shop/app:1 (sha256:"
    )
    assert findings[0]["evidence"]["delta"] == GROWTH
    assert main(["history", "example.org/shop/app", "-f", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [(s["tag"], s["size"]) for s in doc["scans"]] == [
        ("1", OLD_SIZE),
        ("2", OLD_SIZE + GROWTH),
    ]
    assert [(j["tag"], j["delta"]) for j in doc["jumps"]] == [("2", GROWTH)]
