"""`imgaudit scan` outputs: stdout, several -o files at once, atomic and all-or-nothing."""

from __future__ import annotations

import argparse
import io
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from auditor.cli import main
from auditor.report import github_annotations
from auditor.report.model import Report
from auditor.report.output import add_arguments, emit
from auditor.report.schema import validate


def test_all_formats_at_once(
    image: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    names = ["r.json", "r.sarif", "r.xml", "r.md", "r.html", "r.txt"]
    argv = ["scan", image, "-j", "1"]
    for name in names:
        argv += ["-o", str(out / name)]
    assert main(argv) == 1  # the image runs as root: SEC001 trips the default gate
    captured = capsys.readouterr()
    assert captured.out == ""  # with -o and no --format, stdout stays quiet
    assert captured.err.splitlines()[-1].startswith("imgaudit: grade C (90/100); findings: ")
    assert "wrote " + ", ".join(str(out / n) for n in names) in captured.err
    assert sorted(p.name for p in out.iterdir()) == sorted(names)  # no temp files left
    report = json.loads((out / "r.json").read_text())
    validate(report)
    assert report["image"]["reference"] == "example.org/demo/app:1.0"
    assert json.loads((out / "r.sarif").read_text())["version"] == "2.1.0"
    assert ET.parse(out / "r.xml").getroot().tag == "testsuites"
    assert "(not scored)" not in (out / "r.md").read_text()  # the scan is scored now
    assert (out / "r.html").read_text().startswith("<!DOCTYPE html>")
    assert "Grade C" in (out / "r.txt").read_text()


def test_format_to_stdout_alongside_a_file(
    image: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "x.report"
    assert main(["scan", image, "-q", "--format", "json", "-o", f"sarif:{target}"]) == 1  # SEC001
    captured = capsys.readouterr()
    validate(json.loads(captured.out))
    assert json.loads(target.read_text())["runs"][0]["tool"]["driver"]["name"] == "imgaudit"
    assert captured.err == ""  # -q: no summary


def test_default_is_the_table_on_stdout(image: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scan", image, "-q"]) == 1  # SEC001: root
    out = capsys.readouterr().out
    assert out.startswith("Image     example.org/demo/app:1.0")
    assert "\033[" not in out


def test_unknown_suffix_fails_before_the_scan(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["scan", "docker-archive:/nonexistent.tar", "-o", str(tmp_path / "r.csv")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("imgaudit: error: cannot tell the format of output")
    assert list(tmp_path.iterdir()) == []


def test_nothing_written_when_one_output_cannot_be(
    image: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = tmp_path / "r.json"
    first.write_text("previous report\n")
    missing = tmp_path / "no-such-dir" / "r.sarif"
    assert main(["scan", image, "-o", str(first), "-o", str(missing)]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert first.read_text() == "previous report\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache", "img.tar", "r.json"]


def test_failed_scan_keeps_the_previous_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    previous = tmp_path / "r.json"
    previous.write_text("previous report\n")
    assert main(["scan", f"docker-archive:{tmp_path / 'missing.tar'}", "-o", str(previous)]) == 2
    assert capsys.readouterr().err.startswith("imgaudit: error: ")
    assert previous.read_text() == "previous report\n"


@pytest.mark.parametrize(
    ("env", "flag", "expected"),
    [
        ("true", None, True),
        ("true", "--no-github-annotations", False),
        (None, None, False),
        (None, "--github-annotations", True),
    ],
)
def test_github_annotations_auto_on_actions(
    bad_report: Report,
    monkeypatch: pytest.MonkeyPatch,
    env: str | None,
    flag: str | None,
    expected: bool,
) -> None:
    if env is None:
        monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    else:
        monkeypatch.setenv("GITHUB_ACTIONS", env)
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["--format", "json"] + ([flag] if flag else []))
    stdout, stderr = io.StringIO(), io.StringIO()
    emit(bad_report, args, stdout, stderr)
    json.loads(stdout.getvalue())  # annotations never pollute the report
    lines = [ln for ln in stderr.getvalue().splitlines() if ln.startswith("::")]
    assert len(lines) == (len(bad_report.findings or ()) if expected else 0)
    assert stderr.getvalue().splitlines()[-1].startswith("imgaudit: grade ")


def test_annotation_lines(bad_report: Report) -> None:
    lines = github_annotations.render(bad_report).splitlines()
    assert lines[0] == (
        "::error title=TST001 demo-runs-as-root::the image runs as root "
        "(User is 'not set')%0AFix: add USER with a non-root uid"
    )
    assert lines[1].startswith(
        "::warning file=/app/<img src=x onerror=alert(1)>,title=TST002 demo-big-files::"
    )
    assert lines[-1].startswith("::notice title=TST003 demo-python-missing::")
    assert len(lines) == len(bad_report.findings or ())
    assert github_annotations.escape_property("a,b:c%\n") == "a%2Cb%3Ac%25%0A"
