"""What the real podman writes, imgaudit reads: each `podman save --format` output and
the image through podman's Docker-compatible API socket give the same image (config
digest, layers) and the same findings as the archive it was loaded from.

podman runs as root with vfs storage under a private root (tests/support/podman.py).
Its OCI formats rewrite the config into an OCI config (another digest, same layers), so
those are compared by diff_ids and findings.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from auditor.cli import main
from tests import factory
from tests.support.podman import Podman
from tests.support.require import unavailable
from tests.support.services import ServiceUnavailable

TAG = "imgaudit-test/podman:1"
SPEC = factory.ImageSpec(
    layers=[
        factory.Layer(
            [
                factory.File("etc/os-release", b'ID=debian\nVERSION_ID="12"\n'),
                factory.File("etc/passwd", b"root:x:0:0::/root:/bin/sh\n"),
                factory.File("var/cache/big", b"c" * 30_000),
            ],
            "ADD rootfs /",
        ),
        factory.Layer(
            [factory.Whiteout("var/cache/big"), factory.File("app/main.py", b"print(1)\n")],
            "COPY . /app",
        ),
    ],
    name=TAG,
    config={"Cmd": ["/app/main.py"]},  # runs as root: SEC001 is an error in every copy
)


@pytest.fixture(scope="module")
def podman(tmp_path_factory: pytest.TempPathFactory) -> Podman:
    try:
        return Podman(tmp_path_factory.mktemp("podman"))
    except ServiceUnavailable as exc:
        unavailable(exc.reason)


def scan(ref: str, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    assert main(["scan", ref, "--format", "json", "--no-cache", "--jobs", "1"]) == 1
    return json.loads(capsys.readouterr().out)  # type: ignore[no-any-return]


def essence(rep: dict[str, Any]) -> tuple[Any, ...]:
    """What no export format may change: the layers' content and what was found."""
    return (
        [layer["diff_id"] for layer in rep["image"]["layers"]],
        sorted((f["check_id"], f.get("path") or "") for f in rep["findings"]),
        rep["waste"]["wasted_bytes"],
    )


@pytest.mark.parametrize(
    ("fmt", "transport", "same_config"),
    [
        ("docker-archive", "docker-archive", True),
        ("docker-dir", "dir", True),
        ("oci-archive", "oci-archive", False),
        ("oci-dir", "oci", False),
    ],
)
def test_podman_save_formats(
    podman: Podman,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    fmt: str,
    transport: str,
    same_config: bool,
) -> None:
    built = factory.build(SPEC)
    archive = factory.write_docker_archive(built, tmp_path / "in.tar")
    expected = scan(f"docker-archive:{archive}", capsys)
    assert {f["check_id"] for f in expected["findings"]} >= {"SEC001"}
    podman.run("load", "--quiet", "--input", str(archive))
    out = tmp_path / f"out-{fmt}"
    podman.run("save", "--quiet", "--format", fmt, "--output", str(out), f"localhost/{TAG}")

    got = scan(str(out), capsys)  # a bare path: the format is told by the content
    assert got["source"]["transport"] == transport
    assert essence(got) == essence(expected)
    if same_config:
        assert got["image"]["digest"] == built.config_digest
        for rep in (got, expected):
            rep.pop("source")
            rep["image"]["reference"] = None
        assert got == expected


def test_podman_api_socket(
    podman: Podman,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    built = factory.build(SPEC)
    archive = factory.write_docker_archive(built, tmp_path / "in.tar")
    expected = scan(f"docker-archive:{archive}", capsys)
    podman.run("load", "--quiet", "--input", str(archive))
    with podman.api() as host:
        monkeypatch.setenv("DOCKER_HOST", host)
        monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker-config"))
        got = scan(f"docker-daemon:localhost/{TAG}", capsys)
    assert got["image"]["digest"] == built.config_digest
    assert essence(got) == essence(expected)
