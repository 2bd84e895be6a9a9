"""PY004 version-family: the family rule, and `imgaudit scan A B ...` on real images."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pytest

from auditor.checks.py004_version_family import Member, Python, families
from auditor.cli import main
from auditor.references import repository
from auditor.report.schema import validate
from tests.factory import ImageSpec, write_docker_archive
from tests.python import pyimage

ON = dt.date(2026, 11, 28)


def interp(version: str, origin: str = "official-image") -> Python:
    return Python(version, origin)


def test_repository_names() -> None:
    assert repository("myorg/base:3.11") == "myorg/base"
    assert repository("127.0.0.1:5000/myorg/base:3.11") == "127.0.0.1:5000/myorg/base"
    assert repository("docker://reg.io/a/b@sha256:00") == "reg.io/a/b"
    assert repository("localhost:5000/base") == "localhost:5000/base"


@pytest.mark.parametrize(
    ("versions", "flagged"),
    [
        (["3.9", "3.10", "3.11"], "fewer than 2"),  # 3.9 and 3.10 are past EOL in 2026-11
        (["3.11", "3.12"], None),
        (["3.11", "3.12", "3.13"], None),
        (["3.11", "3.12", "3.13", "3.14"], "more than 3"),
    ],
)
def test_family_rule(versions: list[str], flagged: str | None) -> None:
    members = [Member(f"myorg/base:{v}", (interp(v),)) for v in versions]
    rows, found = families(members, ON)
    assert [r.python for r in rows] == versions
    assert [f.message.rsplit(": ", 1)[1] for f in found] == ([flagged] if flagged else [])


def test_main_interpreter_prefers_own_python() -> None:
    members = [Member("a/b:1", (interp("3.11", "distro"), interp("3.12", "source-build")))]
    rows, _ = families(members, ON)
    assert (rows[0].python, rows[0].origin) == ("3.12", "source-build")


def test_main_interpreter_is_the_apps_when_known() -> None:
    """An image whose app runs Debian's 3.11 although a newer CPython sits in /opt."""
    app = Python("3.11", "distro", app=True)
    rows, _ = families([Member("a/b:1", (app, interp("3.13", "source-build")))], ON)
    assert (rows[0].python, rows[0].origin) == ("3.11", "distro")


def _archive(tmp_path: Path, name: str) -> str:
    path = tmp_path / (name.replace("/", "_").replace(":", "_") + ".tar")
    spec = ImageSpec([pyimage.cpython_layer()], name=name)
    write_docker_archive(pyimage.build(spec), path)
    return f"docker-archive:{path}"


def test_scan_several_images_prints_family_table(
    tmp_path: Path,
    layer_cache: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("IMGAUDIT_CACHE_DIR", str(layer_cache))
    refs = [
        _archive(tmp_path, "example.org/acme/base:a"),
        _archive(tmp_path, "example.org/acme/base:b"),
    ]
    # The images run as root: SEC001 trips the default gate for each of them.
    assert main(["scan", "-q", "-j", "1", *refs]) == 1
    capsys.readouterr()
    assert main(["scan", "-q", "-j", "1", "--disable", "SEC001", *refs]) == 0
    out = capsys.readouterr().out
    assert "Version family example.org/acme/base" in out
    v = re.escape(pyimage.VERSION)
    assert re.search(rf"^python\s+{v}\s+{v}$", out, re.M)  # side by side: a column per image
    assert re.search(r"^\s+example.org/acme/base:a\s+example.org/acme/base:b$", out, re.M)
    assert (
        "PY004 version-family [warning] family example.org/acme/base has 1 supported Python "
        f"version(s) ({pyimage.VERSION}): fewer than 2"
    ) in out
    assert main(["scan", "-q", "-j", "1", "--format", "json", "--disable", "SEC001", *refs]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [r["image"]["reference"] for r in data["reports"]] == [
        "example.org/acme/base:a", "example.org/acme/base:b",
    ]  # fmt: skip
    assert [f["check_id"] for f in data["version_family"]["findings"]] == ["PY004"]


def test_single_image_output_is_one_report(
    tmp_path: Path,
    layer_cache: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("IMGAUDIT_CACHE_DIR", str(layer_cache))
    ref = _archive(tmp_path, "example.org/acme/base:a")
    assert main(["scan", "-q", "-j", "1", "--format", "json", "--disable", "SEC001", ref]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["schema_version"] == 1 and "reports" not in report
    validate(report)  # the Python facts keep the public contract
    py004 = next(r for r in report["results"] if r["check_id"] == "PY004")
    assert py004["status"] == "skipped"
    assert [p["path"] for p in report["facts"]["pythons"]] == [
        f"/opt/acme/python/bin/python{pyimage.VERSION}"
    ]


def test_family_findings_go_through_the_config_and_the_gate(
    tmp_path: Path,
    layer_cache: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """PY004 is a check like any other: its severity can be raised (and then it fails
    the scan), it can be disabled, and the Python API reports what the CLI does."""
    from auditor import Settings, audit_many

    monkeypatch.setenv("IMGAUDIT_CACHE_DIR", str(layer_cache))
    refs = [
        _archive(tmp_path, "example.org/acme/base:a"),
        _archive(tmp_path, "example.org/acme/base:b"),
    ]
    raised = tmp_path / "raised.toml"
    raised.write_text('disable = ["SEC001"]\nseverity = { PY004 = "error" }\n')
    argv = ["scan", "-q", "-j", "1", "--format", "json"]
    # the family finding is an error now: the gate trips
    assert main([*argv, "--config", str(raised), *refs]) == 1
    cli = json.loads(capsys.readouterr().out)
    assert [f["severity"] for f in cli["version_family"]["findings"]] == ["error"]
    api = audit_many(refs, Settings.from_config(raised)).to_json()
    assert api == cli

    disabled = tmp_path / "disabled.toml"
    disabled.write_text('disable = ["SEC001", "PY004"]\n')
    assert main([*argv, "--config", str(disabled), *refs]) == 0
    assert json.loads(capsys.readouterr().out)["version_family"]["findings"] == []
