"""The real debootstrap bookworm images, built by the engine, score what a human expects.

Each expected finding is justified next to it: this is the end-to-end proof that the
checks read real images the way a reviewer would.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from auditor.cli import main
from tests.support.baseimages import BuiltImage, save
from tests.support.services import DockerEngine


def scan(
    engine: DockerEngine,
    image: BuiltImage,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    *extra: str,
) -> tuple[int, dict]:  # type: ignore[type-arg]
    archive = tmp_path / "image.tar"
    if not archive.exists():
        save(engine, image.tag, archive)
    code = main(["scan", "-q", "-f", "json", f"docker-archive:{archive}", *extra])
    return code, json.loads(capsys.readouterr().out)


def by_check(report: dict) -> dict[str, list[dict]]:  # type: ignore[type-arg]
    out: dict[str, list[dict]] = {}  # type: ignore[type-arg]
    for f in report["findings"]:
        out.setdefault(f["check_id"], []).append(f)
    return out


def test_bookworm_minbase(
    docker_engine: DockerEngine,
    bookworm_minbase: BuiltImage,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    code, report = scan(docker_engine, bookworm_minbase, tmp_path, capsys)
    found = by_check(report)
    # Exit 1: SEC001 is an error and --fail-on defaults to error.
    assert code == 1
    # Debian 12 is identified, supported until 2028-06-30 (LTS), glibc, not rolling.
    assert report["facts"]["os"]["eol"] == "2028-06-30"
    assert report["facts"]["distro"]["key"] == "debian" and report["facts"]["dpkg"]["count"] > 80
    statuses = {r["check_id"]: r["status"] for r in report["results"]}
    assert {k: statuses[k] for k in ("OS001", "OS002", "OS003", "OS004")} == dict.fromkeys(
        ("OS001", "OS002", "OS003", "OS004"), "passed"
    )
    assert statuses["OS006"] == "skipped"  # no --packages-index
    assert "error" not in statuses.values()
    # SEC001: `docker import` sets no User: root.
    assert [f["severity"] for f in found["SEC001"]] == ["error"]
    # SEC006: the 11 setuid/setgid files all belong to required packages: not flagged...
    assert "SEC006" not in found
    # SEC007/SEC008/SEC009: /tmp and /run/lock are sticky, no secrets, no sudo.
    assert not {"SEC007", "SEC008", "SEC009"} & set(found)
    # SZ004: Debian keeps docs, man pages and ~30 MB of locales.
    assert {f["evidence"]["category"] for f in found["SZ004"]} == {"docs", "man pages", "locales"}
    locales = next(f for f in found["SZ004"] if f["evidence"]["category"] == "locales")
    assert locales["severity"] == "warning" and locales["bytes"] > 10_000_000
    # SZ003: debootstrap's logs (bootstrap.log, dpkg.log, alternatives.log): ~100 kB, info.
    assert [(f["evidence"]["category"], f["severity"]) for f in found["SZ003"]] == [
        ("logs", "info")
    ]
    # BL003: those logs carry the build time (and debootstrap did not normalise mtimes).
    assert any(f.get("path") == "/var/log/alternatives.log" for f in found["BL003"])
    # Small (~120 MB, under the 200 MB target), one layer, nothing wasted, no history order.
    assert not {"SZ001", "SZ002", "BL001", "BL002", "BL004"} & set(found)
    # One error (no base boundary: the team's) caps the grade at C; the docs warning costs
    # Small a little.
    scores = report["scores"]
    assert scores["grade"] == "C" and scores["secure"] == 75 and scores["usable"] == 100
    assert 80 <= scores["small"] < 100

    # --strict: now the stock setuid binaries are flagged, with their packages.
    _, strict = scan(docker_engine, bookworm_minbase, tmp_path, capsys, "--strict")
    setuid = {f["path"]: f["evidence"]["package"] for f in by_check(strict)["SEC006"]}
    assert setuid["/usr/bin/su"] == "util-linux" and setuid["/usr/bin/passwd"] == "passwd"
    assert len(setuid) == 11


def test_bookworm_python_pip(
    docker_engine: DockerEngine,
    bookworm_minbase: BuiltImage,
    bookworm_python: BuiltImage,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    base = save(docker_engine, bookworm_minbase.tag, tmp_path / "base.tar")
    code, report = scan(
        docker_engine, bookworm_python, tmp_path, capsys, "--base", f"docker-archive:{base}"
    )
    found = by_check(report)
    assert code == 1  # SEC001 again
    # The base is the minbase image: its one layer is the base's, the apt layer is own.
    assert report["facts"]["provenance"]["base_layers"] == 1
    # SEC008: a stock Debian root with python3 and pip holds no secrets: zero findings.
    assert "SEC008" not in found
    assert {r["check_id"]: r["status"] for r in report["results"]}["SEC008"] == "passed"
    # BL003: Debian's py3compile writes timestamp-based pycs in the apt layer (own layer).
    pycs = next(f for f in found["BL003"] if "pyc" in f["message"])
    assert pycs["layer"] == 1 and pycs["in_base"] is False
    # SZ003: apt-get install leaves the .deb files in /var/cache/apt/archives (no docker-clean).
    archives = [f for f in found["SZ003"] if f["evidence"]["category"] == "apt archives"]
    assert archives and archives[0]["layer"] == 1 and archives[0]["bytes"] > 1_000_000
    # SEC006 still quiet: python3 adds no setuid binaries.
    assert "SEC006" not in found
