"""Speed-ups keep reports byte-identical: the JSON report of a factory image and of the
README's sample image, made with each fast path and with the plain code it replaced.

Each case swaps one fast path for its reference implementation (kept in the code for
this comparison) and compares the serialised reports byte for byte:

- `CapturePolicy.match`: last-character buckets vs the one regex of every rule;
- the checks' second process: forked (small trees) vs never.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from auditor import runner
from auditor.capture import CapturePolicy
from auditor.loading import LoadOptions, load_image
from auditor.pipeline import Settings, audit
from tests import factory
from tests.factory import File, Layer, Symlink, Whiteout

ROOT = Path(__file__).resolve().parent.parent
SITE = "opt/venv/lib/python3.11/site-packages"


def _image(tmp_path: Path) -> str:
    files = [
        File("etc/os-release", b'ID=debian\nVERSION_ID="12"\n'),
        File("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/app:/bin/sh\n"),
        File("etc/group", b"root:x:0:\napp:x:1000:\n"),
        File("usr/local/bin/tool", b"#!/opt/venv/bin/python\nprint(1)\n", mode=0o755),
        File("usr/local/sbin/adm", b"#!/bin/sh\n", mode=0o755),
        File(
            f"{SITE}/Foo-1.0.DIST-INFO/METADATA",
            b"Metadata-Version: 2.1\nName: Foo\nVersion: 1.0\n",
        ),
        File(f"{SITE}/Foo-1.0.DIST-INFO/RECORD", b"foo/__init__.py,,\n"),
        File(
            f"{SITE}/bar-2.0.dist-info/METADATA",
            b"Metadata-Version: 2.1\nName: bar\nVersion: 2.0\n",
        ),
        File(f"{SITE}/bar-2.0.dist-info/record", b"lower-case name: not RECORD\n"),
        File(f"{SITE}/old.egg-info", b"Metadata-Version: 1.0\nName: old\nVersion: 0.1\n"),
        File(f"{SITE}/extra.pth", b"/srv/app\n"),
        File(f"{SITE}/foo/__init__.py", b"x = 1\n"),
        File(f"{SITE}/foo/__pycache__/__init__.cpython-311.pyc", b"\xa7\r\r\n" + bytes(12)),
        File("app/.env", b"API_TOKEN=s3cr3t-value\n"),
        File("app/requirements-dev.txt", b"pytest\n"),
        File("app/main.py", b"print('hi')\n", uid=1000),
        File("app/K\u212a", b"non-ASCII last character\n"),
        File("root/.cache/pip/x", b"y" * 5000),
        Symlink("usr/bin/python3", "/opt/venv/bin/python"),
    ]
    spec = factory.ImageSpec(
        layers=[
            Layer(files[:5], "ADD rootfs /"),
            Layer(files[5:], "RUN pip install -r requirements.txt"),
            Layer([Whiteout("root/.cache"), File("app/main.py", b"print('bye')\n")], "COPY . /app"),
        ],
        config={"User": "app", "WorkingDir": "/app", "Cmd": ["python", "main.py"]},
    )
    return f"oci:{factory.write_oci_dir(factory.build(spec), tmp_path / 'layout')}"


def _report(ref: str, jobs: int = 1) -> bytes:
    loaded = load_image(ref, LoadOptions(jobs=jobs, use_cache=False))
    data: dict[str, Any] = audit(loaded, Settings()).to_json()
    return json.dumps(data, sort_keys=True).encode()


def _one_regex_match(self: CapturePolicy, path: str) -> Any:
    m = self._regex.match(path[::-1])
    return None if m is None or m.lastgroup is None else self.captures[int(m.lastgroup[1:])]


@pytest.mark.parametrize("which", ["factory", "sample"])
def test_capture_buckets_keep_the_report(
    which: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ref = (
        _image(tmp_path) if which == "factory" else f"docker-archive:{ROOT / 'testdata/sample.tar'}"
    )
    fast = _report(ref)
    monkeypatch.setattr(CapturePolicy, "match", _one_regex_match)
    assert _report(ref) == fast
    assert b"SEC008" in fast or which == "sample"


def test_second_process_threshold_keeps_the_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ref = _image(tmp_path)
    forked = _report(ref, jobs=2)
    monkeypatch.setattr(runner, "SECOND_PROCESS_MAX_PATHS", 0)
    assert _report(ref, jobs=2) == forked == _report(ref, jobs=1)
