"""OS001-OS006 against factory images with a real Debian bookworm root's files."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from auditor.checks import (
    os001_base_os_unknown,
    os002_base_os_eol,
    os003_base_os_rolling,
    os004_base_os_musl,
    os005_image_stale,
    os006_pending_updates,
)
from auditor.errors import InputError
from auditor.facts import packages_index
from auditor.findings import Status
from tests.checks.support import debian_base, image, run, status, summary
from tests.factory import File, ImageSpec, Layer, Symlink

ALPINE_RELEASE = (
    b'NAME="Alpine Linux"\nID=alpine\nVERSION_ID=3.19.1\n'
    b'PRETTY_NAME="Alpine Linux v3.19"\nHOME_URL="https://alpinelinux.org/"\n'
)


def alpine(version: bytes = b"3.19.1") -> Layer:
    return Layer(
        [
            File("etc/os-release", ALPINE_RELEASE.replace(b"3.19.1", version)),
            File("etc/alpine-release", version + b"\n"),
            File("lib/ld-musl-x86_64.so.1", b"\x7fELF musl loader", 0o755),
            Symlink("lib/libc.musl-x86_64.so.1", "ld-musl-x86_64.so.1"),
        ],
        "ADD alpine-minirootfs.tar.gz /",
    )


def os_release(text: str) -> Layer:
    return Layer([File("etc/os-release", text.encode())], "ADD rootfs /")


def test_os001_passes_on_debian(tmp_path: Path) -> None:
    assert run(os001_base_os_unknown, image(debian_base()), tmp_path) == []


def test_os001_no_os_release(tmp_path: Path) -> None:
    spec = image(Layer([File("app/main.py", b"print(1)\n")]))
    assert summary(run(os001_base_os_unknown, spec, tmp_path)) == [("OS001", "warning", None)]


def test_os001_unknown_distro_is_info(tmp_path: Path) -> None:
    spec = image(os_release('ID=plan9\nPRETTY_NAME="Plan 9"\nVERSION_ID=4\n'))
    found = run(os001_base_os_unknown, spec, tmp_path)
    assert summary(found) == [("OS001", "info", "/etc/os-release")]
    assert "plan9" in found[0].message


def test_os002_bookworm_supported_on_2026_11_28(tmp_path: Path) -> None:
    assert run(os002_base_os_eol, image(debian_base(setuid=False)), tmp_path) == []


def test_os002_bullseye_past_lts(tmp_path: Path) -> None:
    spec = image(os_release('ID=debian\nVERSION_ID="11"\nVERSION_CODENAME=bullseye\n'))
    found = run(os002_base_os_eol, spec, tmp_path)
    assert summary(found) == [("OS002", "error", "/etc/os-release")]
    assert "reached end of life on 2026-08-31" in found[0].message


def test_os002_alpine_321_eol_and_322_warning_window(tmp_path: Path) -> None:
    # Alpine 3.21 ended 2026-11-01: error. 3.22 ends 2027-05-01: within 182 days of 2026-11-28.
    assert summary(run(os002_base_os_eol, image(alpine(b"3.21.2")), tmp_path)) == [
        ("OS002", "error", "/etc/os-release")
    ]
    found = run(os002_base_os_eol, image(alpine(b"3.22.1")), tmp_path)
    assert summary(found) == [("OS002", "warning", "/etc/os-release")]
    assert "154 days from now" in found[0].message
    assert run(os002_base_os_eol, image(alpine(b"3.22.1")), tmp_path, {"warn-days": 30}) == []


def test_os002_skips_unknown_version(tmp_path: Path) -> None:
    spec = image(os_release("ID=debian\nVERSION_ID=99\n"))
    assert status(os002_base_os_eol, spec, tmp_path)[0] == Status.SKIPPED


def test_os003_debian_stable_is_not_rolling(tmp_path: Path) -> None:
    assert run(os003_base_os_rolling, image(debian_base(setuid=False)), tmp_path) == []


@pytest.mark.parametrize(
    "text",
    [
        'PRETTY_NAME="Debian GNU/Linux trixie/sid"\nNAME="Debian GNU/Linux"\nID=debian\n',
        'NAME="Ubuntu"\nVERSION_ID="25.10"\nID=ubuntu\nID_LIKE=debian\n',
        'NAME="Arch Linux"\nID=arch\nBUILD_ID=rolling\n',
        'NAME="CentOS Stream"\nVERSION_ID="9"\nID="centos"\n',
        'NAME="openSUSE Tumbleweed"\nID="opensuse-tumbleweed"\nVERSION_ID="20261120"\n',
        'NAME="Wolfi"\nID=wolfi\nVERSION_ID=20230201\n',
    ],
)
def test_os003_rolling_bases(tmp_path: Path, text: str) -> None:
    assert summary(run(os003_base_os_rolling, image(os_release(text)), tmp_path)) == [
        ("OS003", "warning", "/etc/os-release")
    ]


def test_os003_ubuntu_lts_passes(tmp_path: Path) -> None:
    spec = image(os_release('NAME="Ubuntu"\nVERSION_ID="24.04"\nID=ubuntu\n'))
    assert run(os003_base_os_rolling, spec, tmp_path) == []


def test_os004_glibc_passes_musl_fails(tmp_path: Path) -> None:
    assert run(os004_base_os_musl, image(debian_base(setuid=False)), tmp_path) == []
    assert summary(run(os004_base_os_musl, image(alpine()), tmp_path)) == [
        ("OS004", "warning", "/lib/ld-musl-x86_64.so.1")
    ]


def test_os005_fresh_and_stale(tmp_path: Path) -> None:
    fresh = ImageSpec(layers=[debian_base(setuid=False)], created="2026-11-01T00:00:00Z")
    assert run(os005_image_stale, fresh, tmp_path) == []
    stale = ImageSpec(layers=[debian_base(setuid=False)], created="2026-05-01T10:00:00Z")
    found = run(os005_image_stale, stale, tmp_path)
    assert summary(found) == [("OS005", "warning", None)]
    assert found[0].evidence == {"created": "2026-05-01", "age_days": 211, "max_age_days": 90}
    assert run(os005_image_stale, stale, tmp_path, {"max-age-days": 365}) == []


def _index(tmp_path: Path, stanzas: str) -> packages_index.PackagesIndex:
    path = tmp_path / "Packages.gz"
    path.write_bytes(gzip.compress(stanzas.encode()))
    return packages_index.load(path)


def test_os006_up_to_date_and_pending(tmp_path: Path) -> None:
    # bookworm's status has bash 5.2.15-2+b13 and libc6 2.36-9+deb12u14 installed.
    spec = image(debian_base(setuid=False))
    same = _index(
        tmp_path,
        "Package: bash\nVersion: 5.2.15-2+b13\n\nPackage: libc6\nVersion: 2.36-9+deb12u14\n",
    )
    assert run(os006_pending_updates, spec, tmp_path, packages_index=same) == []
    newer = _index(
        tmp_path,
        "Package: bash\nVersion: 5.2.15-2+b14\n\n"
        "Package: libc6\nVersion: 2.36-9+deb12u9\n\n"  # older than installed: no update
        "Package: not-installed\nVersion: 9\n",
    )
    found = run(os006_pending_updates, spec, tmp_path, packages_index=newer)
    assert summary(found) == [("OS006", "warning", "/var/lib/dpkg/status")]
    assert found[0].evidence["updates"] == [
        {"package": "bash", "installed": "5.2.15-2+b13", "available": "5.2.15-2+b14"}
    ]


def test_os006_skips_without_index(tmp_path: Path) -> None:
    assert status(os006_pending_updates, image(debian_base(setuid=False)), tmp_path) == (
        Status.SKIPPED,
        "no --packages-index given",
    )


def test_packages_index_rejects_garbage(tmp_path: Path) -> None:
    bad = tmp_path / "Packages"
    bad.write_text("hello\n")
    with pytest.raises(InputError, match="not a Debian Packages index"):
        packages_index.load(bad)
    with pytest.raises(InputError, match="cannot read"):
        packages_index.load(tmp_path / "missing")
