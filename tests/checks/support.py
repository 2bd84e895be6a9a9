"""Run one check against a factory image: the helpers every check test shares.

`debian_base()` is a layer with real files from a Debian bookworm minbase root
(testdata/debian-bookworm: os-release, passwd, group, dpkg status and the file lists
of the packages that own the stock setuid binaries) plus those setuid/setgid binaries
themselves, taken from this Debian 12 host with the modes and owners the real root has.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from types import ModuleType
from typing import Any

from auditor.check import Check
from auditor.facts import Facts
from auditor.findings import Finding, Status
from auditor.loading import LoadOptions, load_image
from auditor.runner import run_checks
from tests.factory import (
    Dir,
    File,
    ImageSpec,
    Item,
    Layer,
    Symlink,
    build,
    host_file,
    host_libraries,
    write_docker_archive,
)

TESTDATA = Path(__file__).resolve().parents[2] / "testdata" / "debian-bookworm"
TODAY = dt.date(2026, 11, 28)


def real_file(name: str) -> bytes:
    return (TESTDATA / name).read_bytes()


def stock_setuid() -> list[tuple[str, int, int, int]]:
    """(path, mode, uid, gid) of every setuid/setgid file in the real bookworm root."""
    out = []
    for line in real_file("setuid-setgid.txt").decode().splitlines():
        perms, owner, *_rest, path = line.split()
        uid, gid = (int(x) for x in owner.split("/"))
        mode = 0o755 | (0o4000 if perms[3] == "s" else 0) | (0o2000 if perms[6] == "s" else 0)
        out.append((path.removeprefix("./"), mode, uid, gid))
    return out


def _binary(path: str, mode: int, uid: int, gid: int) -> File:
    host = "/" + path
    data = Path(host).read_bytes() if os.path.exists(host) else b"\x7fELF stand-in"
    return File(path, data, mode, uid, gid)


def debian_base(extra: list[Item] | None = None, setuid: bool = True) -> Layer:
    items: list[Item] = [
        Dir("usr/bin"),
        Dir("usr/sbin"),
        Dir("usr/lib"),
        Symlink("bin", "usr/bin"),
        Symlink("sbin", "usr/sbin"),
        Symlink("lib", "usr/lib"),
        File("usr/lib/os-release", real_file("os-release")),
        Symlink("etc/os-release", "../usr/lib/os-release"),
        File("etc/debian_version", b"12.12\n"),
        File("etc/passwd", real_file("passwd")),
        File("etc/group", real_file("group")),
        File("var/lib/dpkg/status", real_file("status")),
        Dir("root", 0o700),
        Dir("tmp", 0o1777),
        Dir("var/tmp", 0o1777),
        host_file("/usr/lib/x86_64-linux-gnu/libc.so.6", "usr/lib/x86_64-linux-gnu/libc.so.6"),
    ]
    for lst in sorted((TESTDATA / "info").iterdir()):
        items.append(File(f"var/lib/dpkg/info/{lst.name}", lst.read_bytes()))
    if setuid:
        binaries = [_binary(*s) for s in stock_setuid()]
        items += binaries
        # the libraries they link against, so the stock root also loads (EL001)
        real = [Path("/" + b.path) for b in binaries if os.path.exists("/" + b.path)]
        libs = [i for i in host_libraries(real) if not isinstance(i, Symlink) or i.path != "lib"]
        items += [i for i in libs if not (isinstance(i, File) and i.path.endswith("libc.so.6"))]
    items += extra or []
    return Layer(items, "ADD rootfs.tar.xz / # debian bookworm minbase")


def load(spec: ImageSpec, tmp_path: Path, base: str | None = None, **given: Any) -> Facts:
    """`given`: facts from outside the image (`baseline`, `packages_index`)."""
    archive = write_docker_archive(build(spec), tmp_path / f"image-{len(os.listdir(tmp_path))}.tar")
    loaded = load_image(f"docker-archive:{archive}", LoadOptions(use_cache=False, jobs=1))
    return Facts(loaded, base=base, **given)


def run(
    module: ModuleType,
    spec: ImageSpec,
    tmp_path: Path,
    options: dict[str, Any] | None = None,
    strict: bool = False,
    base: str | None = None,
    **given: Any,
) -> list[Finding]:
    """The findings of one check; fails the test when the check crashed or skipped."""
    facts = load(spec, tmp_path, base, **given)
    check = Check.from_module(module)
    opts = {"today": TODAY, **(options or {})}
    outcome = run_checks([check], facts, {check.info.id: opts}, strict)
    (result,) = outcome.results
    assert result.status in (Status.PASSED, Status.FAILED), result
    return outcome.findings


def status(
    module: ModuleType, spec: ImageSpec, tmp_path: Path, options: dict[str, Any] | None = None
) -> tuple[Status, str | None]:
    facts = load(spec, tmp_path)
    check = Check.from_module(module)
    outcome = run_checks([check], facts, {check.info.id: {"today": TODAY, **(options or {})}})
    (result,) = outcome.results
    return result.status, result.reason


def image(*layers: Layer, user: str = "", **config: Any) -> ImageSpec:
    cfg = {"User": user, **config} if user else dict(config)
    return ImageSpec(layers=list(layers), config=cfg)


def summary(findings: list[Finding]) -> list[tuple[str, str, str | None]]:
    return [(f.check_id, str(f.severity), f.path) for f in findings]
