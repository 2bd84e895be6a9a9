"""HC001: a HEALTHCHECK whose program is not in the image (the engine's own verdict on
such an image is in tests/integration/test_healthcheck.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from auditor.checks import hc001_healthcheck_broken
from auditor.findings import Status
from tests.checks.support import debian_base, image, run, status, summary
from tests.factory import File, ImageSpec, Layer

PROGRAMS = Layer(
    [
        File("bin/sh", b"\x7fELF", mode=0o755),
        File("usr/local/bin/python3", b"\x7fELF", mode=0o755),
        File("app/health.sh", b"#!/bin/sh\nexit 0\n", mode=0o755),
        File("app/health.py", b"import sys\nsys.exit(0)\n"),
    ]
)
CURL = Layer([File("usr/bin/curl", b"\x7fELF", mode=0o755)])
PATH = ["PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin"]


def health(*test: str, layers: tuple[Layer, ...] = (), **config: object) -> ImageSpec:
    return image(
        debian_base(setuid=False),
        PROGRAMS,
        *layers,
        Env=PATH,
        WorkingDir="/app",
        Healthcheck={"Test": list(test), "Interval": 30_000_000_000},
        **config,
    )


@pytest.mark.parametrize(
    "test",
    [
        ("CMD", "curl", "-f", "http://localhost:8000/"),
        ("CMD-SHELL", "curl -f http://localhost:8000/ || exit 1"),
        ("CMD-SHELL", "curl -fsS http://localhost:8000/health"),
        ("CMD", "/usr/bin/wget", "-q", "-O-", "http://localhost/"),
        # python is there, the script it is given is not ("can't open file", exit 2)
        ("CMD", "python3", "-u", "/app/gone.py"),
        ("CMD-SHELL", "python3 gone.py || exit 1"),
    ],
)
def test_a_program_not_in_the_image_fails_every_check(tmp_path: Path, test: tuple[str]) -> None:
    [f] = run(hc001_healthcheck_broken, health(*test), tmp_path)
    assert summary([f]) == [("HC001", "warning", None)]
    words = " ".join(test[1:])
    missing = "/usr/bin/wget" if "wget" in words else "/app/gone.py" if "gone" in words else "curl"
    assert f.evidence["missing"] == missing
    assert f.message.endswith("every check fails, and the container turns unhealthy")


@pytest.mark.parametrize(
    "test",
    [
        ("CMD", "curl", "-f", "http://localhost:8000/"),  # installed now
        ("CMD", "python3", "-c", "import urllib.request"),
        ("CMD", "./health.sh"),  # against WorkingDir
        ("CMD", "python3", "health.py"),
        ("CMD-SHELL", "python3 /app/health.py || exit 1"),
        ("CMD", "python3", "/data/probe.py"),  # in a VOLUME: mounted at run time
        ("CMD-SHELL", "python3 -c 'import sys; sys.exit(0)' || exit 1"),
        # shell syntax: what runs, or whether a fallback catches it, is not read
        ("CMD-SHELL", "wget -qO- http://localhost/ || curl -f http://localhost/"),
        ("CMD-SHELL", "curl -f http://localhost/ | grep ok"),
        ("CMD-SHELL", "test -f /tmp/ready"),  # a builtin
        ("CMD-SHELL", "FOO=1 wget http://localhost/"),  # an assignment first
    ],
)
def test_what_the_image_can_run_or_the_files_cannot_read_is_passed(
    tmp_path: Path, test: tuple[str]
) -> None:
    spec = health(*test, layers=(CURL,), Volumes={"/data": {}})
    assert run(hc001_healthcheck_broken, spec, tmp_path) == []


def test_a_shell_form_in_an_image_without_a_shell(tmp_path: Path) -> None:
    """distroless: no /bin/sh, so `HEALTHCHECK CMD python3 -c ...` (shell form) fails
    however the string reads."""
    spec = image(
        Layer([File("usr/bin/python3", b"\x7fELF", mode=0o755)]),
        Env=PATH,
        Healthcheck={"Test": ["CMD-SHELL", "python3 -c 'print(1)'"]},
    )
    [f] = run(hc001_healthcheck_broken, spec, tmp_path)
    assert f.evidence["missing"] == "/bin/sh"
    assert "through /bin/sh, which is not in the image" in f.message
    # the config's own SHELL is the one used
    other = image(
        Layer([File("busybox/sh", b"\x7fELF", mode=0o755), File("usr/bin/python3", b"")]),
        Env=PATH,
        Shell=["/busybox/sh", "-c"],
        Healthcheck={"Test": ["CMD-SHELL", "python3 -c 'print(1)'"]},
    )
    assert run(hc001_healthcheck_broken, other, tmp_path) == []


def test_no_healthcheck_or_none_is_skipped(tmp_path: Path) -> None:
    for spec in (image(debian_base(setuid=False)), health("NONE")):
        state, _ = status(hc001_healthcheck_broken, spec, tmp_path)
        assert state is Status.SKIPPED
