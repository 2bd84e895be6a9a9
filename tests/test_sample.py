"""The sample image shipped for the README's first command scans as documented.

The committed file holds ELF files from the machine that made it, so it is not
compared byte-for-byte with a fresh `make_sample.py` run; both are checked for the
same shape instead.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from auditor.cli import main

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "testdata" / "sample.tar"


def check_shape(report: dict) -> None:  # type: ignore[type-arg]
    image = report["image"]
    assert image["reference"] == "imgaudit/sample:1.0"
    assert (image["os"], image["architecture"], image["user"]) == ("linux", "amd64", "app")
    assert len(image["layers"]) == 5
    assert [ly["created_by"] for ly in image["layers"]][1:] == [
        "RUN apt-get update && apt-get install -y python3",
        "RUN rm -rf /var/cache/apt/archives",
        "COPY . /app",
        "COPY settings.toml /app/",
    ]
    waste = report["waste"]
    assert [(f["path"], f["wasted_bytes"], f["layers"]) for f in waste["files"]] == [
        ("/var/cache/apt/archives/python3.11_3.11.2-6_amd64.deb", 300_000, [1]),
        ("/app/settings.toml", 20_016, [3]),
    ]
    assert waste["wasted_bytes"] == 320_016


def test_committed_sample_scans(capsys: pytest.CaptureFixture[str]) -> None:
    assert SAMPLE.stat().st_size < 3 << 20
    assert main(["scan", str(SAMPLE), "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    check_shape(report)
    assert report["source"]["transport"] == "docker-archive"
    assert main(["scan", str(SAMPLE)]) == 0
    table = capsys.readouterr().out
    assert "imgaudit/sample:1.0" in table and "app" in table


def test_committed_sample_has_real_elf_files() -> None:
    from auditor.loading import LoadOptions, load_image

    loaded = load_image(str(SAMPLE), LoadOptions(use_cache=False, jobs=1))
    elves = dict(loaded.fs.elf_files())
    assert "usr/bin/env" in elves
    assert any(p.endswith("/libc.so.6") for p in elves)
    assert loaded.fs.read("etc/os-release").startswith(b'PRETTY_NAME="Debian GNU/Linux 12')  # type: ignore[union-attr]
    assert b"app:x:1000:1000" in loaded.fs.read("etc/passwd")  # type: ignore[operator]


def test_make_sample_is_reproducible(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    outs = [tmp_path / "a.tar", tmp_path / "b.tar"]
    for out in outs:
        subprocess.run(
            [sys.executable, str(REPO / "testdata" / "make_sample.py"), str(out)],
            check=True,
            capture_output=True,
        )
    assert outs[0].read_bytes() == outs[1].read_bytes()
    assert main(["scan", str(outs[0]), "--format", "json", "--no-cache"]) == 0
    check_shape(json.loads(capsys.readouterr().out))
