"""`imgaudit cache`: info, prune and clear touch only imgaudit's own cache files."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from auditor.cli import main
from tests import factory
from tests.factory import File, Layer


def scanned(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    spec = factory.ImageSpec(
        layers=[Layer([File("etc/os-release", b"ID=debian\n")]), Layer([File("app/x.py", b"1")])]
    )
    ref = f"oci:{factory.write_oci_dir(factory.build(spec), tmp_path / 'layout')}"
    assert main(["scan", ref, "-q", "-j", "1", "--format", "json"]) in (0, 1)
    capsys.readouterr()
    return ref


def info(capsys: pytest.CaptureFixture[str], cache: Path) -> dict[str, Any]:
    assert main(["cache", "info", "--cache-dir", str(cache), "--format", "json"]) == 0
    doc: dict[str, Any] = json.loads(capsys.readouterr().out)
    areas = doc["areas"]
    return {u["directory"].split("/")[0] + ("" if u["current"] else "-old"): u for u in areas}


def backdate(path: Path, days: float) -> None:
    old = time.time() - days * 86400
    os.utime(path, (old, old))


def test_info_counts_what_a_scan_wrote(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], _private_cache: Path
) -> None:
    scanned(tmp_path, capsys)
    areas = info(capsys, _private_cache)
    assert areas["layers"]["files"] == 2
    assert areas["results"]["files"] == 1
    assert areas["layers"]["bytes"] == sum(
        p.stat().st_size for p in (_private_cache / "layers").rglob("*") if p.is_file()
    )


def test_prune_removes_other_formats_and_old_entries_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], _private_cache: Path
) -> None:
    ref = scanned(tmp_path, capsys)
    old_format = _private_cache / "layers" / "v0-0123456789abcdef"
    old_format.mkdir(parents=True)
    (old_format / "sha256-aa.json.gz").write_bytes(b"x" * 100)
    outside = tmp_path / "precious.txt"
    outside.write_text("the user's")
    (old_format / "link").symlink_to(outside)
    (_private_cache / "notes.txt").write_text("not ours")

    assert main(["cache", "prune", "--cache-dir", str(_private_cache)]) == 0
    assert "removed 1 files" in capsys.readouterr().out
    assert not old_format.exists()
    assert outside.read_text() == "the user's"
    assert (_private_cache / "notes.txt").exists()
    assert info(capsys, _private_cache)["layers"]["files"] == 2

    # entries unused for 30 days go with --older-than 10; one used since stays
    for path in (p for p in _private_cache.rglob("*") if p.is_file()):
        backdate(path, 30)
    assert main(["scan", ref, "-q", "-j", "1", "--format", "json"]) in (0, 1)  # a result hit
    capsys.readouterr()
    assert main(["cache", "prune", "--older-than", "10", "--cache-dir", str(_private_cache)]) == 0
    capsys.readouterr()
    areas = info(capsys, _private_cache)
    assert areas["results"]["files"] == 1
    assert areas["layers"]["files"] == 0


def test_clear_and_bad_arguments(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], _private_cache: Path
) -> None:
    scanned(tmp_path, capsys)
    assert main(["cache", "clear", "--cache-dir", str(_private_cache), "-f", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["removed_files"] == 3
    assert info(capsys, _private_cache) == {}
    assert main(["cache", "info", "--older-than", "3"]) == 2
    assert "--older-than" in capsys.readouterr().err
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    assert main(["cache", "--cache-dir", str(not_a_dir)]) == 2
