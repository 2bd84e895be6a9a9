"""Facts of this area: distro table, distroless, dpkg database, provenance, toolchain, pyc."""

from __future__ import annotations

import datetime as dt
import py_compile
from pathlib import Path

import pytest

from auditor.facts import distro, provenance, pyc
from auditor.facts.osinfo import OsInfo
from tests.checks.support import debian_base, image, load, real_file
from tests.factory import File, ImageSpec, Layer, Symlink, build, write_docker_archive


def test_distro_table_is_consistent() -> None:
    data = distro.table()
    assert data["as_of"] == "2026-11-01"
    for key, entry in data["distros"].items():
        assert entry["name"], key
        assert entry["releases"] or entry.get("rolling"), key
        versions = [r["version"] for r in entry["releases"]]
        assert len(versions) == len(set(versions)), key
        for r in entry["releases"]:
            released = dt.date.fromisoformat(r["released"])
            eol = dt.date.fromisoformat(r["eol"])
            assert released < eol, (key, r)
    for alias, target in data["aliases"].items():
        assert target in data["distros"], alias


@pytest.mark.parametrize(
    ("os_id", "version", "name", "key", "matched", "eol"),
    [
        ("debian", "12", "Debian GNU/Linux", "debian", "12", "2028-06-30"),
        ("debian", "12.12", "Debian GNU/Linux", "debian", "12", "2028-06-30"),
        ("ubuntu", "24.04", "Ubuntu", "ubuntu", "24.04", "2029-05-31"),
        ("alpine", "3.20.3", "Alpine Linux", "alpine", "3.20", "2026-04-01"),
        ("rhel", "9.4", "Red Hat Enterprise Linux", "rhel", "9", "2032-05-31"),
        ("rocky", "8.10", "Rocky Linux", "rocky", "8", "2029-05-31"),
        ("almalinux", "9.5", "AlmaLinux", "almalinux", "9", "2032-05-31"),
        ("amzn", "2023", "Amazon Linux", "amzn", "2023", "2029-06-30"),
        ("amzn", "2", "Amazon Linux 2", "amzn", "2", "2026-06-30"),
        ("fedora", "43", "Fedora Linux", "fedora", "43", "2026-12-09"),
        ("centos", "7", "CentOS Linux", "centos", "7", "2024-06-30"),
        ("centos", "9", "CentOS Stream", "centos-stream", "9", "2027-05-31"),
        ("opensuse-leap", "15.6", "openSUSE Leap", "opensuse-leap", "15.6", "2026-04-30"),
    ],
)
def test_lookup(
    tmp_path: Path, os_id: str, version: str, name: str, key: str, matched: str, eol: str
) -> None:
    fs = load(image(Layer([File("etc/hostname", b"x")])), tmp_path).fs
    info = OsInfo(id=os_id, version_id=version, fields={"NAME": name})
    status = distro.lookup(info, fs)
    assert (status.key, status.version, status.release and status.release.eol.isoformat()) == (
        key,
        matched,
        eol,
    )


def test_distroless_detected_by_status_d_and_no_shell(tmp_path: Path) -> None:
    stanza = real_file("status").split(b"\n\n")[0] + b"\n"
    distroless = Layer(
        [
            File("etc/os-release", b'PRETTY_NAME="Distroless"\nID=debian\nVERSION_ID="12"\n'),
            File("var/lib/dpkg/status.d/base-files", stanza),
        ]
    )
    facts = load(image(distroless), tmp_path)
    assert facts.distro.distroless and facts.distro.key == "debian"
    assert facts.dpkg.origin == "/var/lib/dpkg/status.d" and len(facts.dpkg.packages) == 1
    with_shell = Layer([*distroless.items, File("bin/sh", b"\x7fELF", 0o755)])
    assert not load(image(with_shell), tmp_path).distro.distroless


def test_dpkg_owner_resolves_merged_usr(tmp_path: Path) -> None:
    facts = load(image(debian_base()), tmp_path)
    db = facts.dpkg
    assert len(db.packages) == 88
    # util-linux.list says /bin/su; on merged-/usr bookworm /bin -> usr/bin
    owner = db.owner("/usr/bin/su")
    assert owner is not None and owner.name == "util-linux" and owner.required
    assert db.owner("/usr/bin/passwd").name == "passwd"  # type: ignore[union-attr]
    assert db.packages["apt"].priority == "required"
    assert db.owner("/usr/local/bin/tool") is None


def test_provenance_by_base_and_labels(tmp_path: Path) -> None:
    base_spec = ImageSpec(layers=[debian_base(setuid=False)])
    base = write_docker_archive(build(base_spec), tmp_path / "base.tar")
    ref = f"docker-archive:{base}"
    app = Layer([File("app/x.py", b"x")], "COPY . /app")
    spec = ImageSpec(layers=[debian_base(setuid=False), app])
    facts = load(spec, tmp_path, base=ref)
    assert facts.provenance.to_json() == {
        "base": ref,
        "method": "--base",
        "base_layers": 1,
        "reason": f"layer 0 is the base's: they equal {ref}'s (--base)",
    }
    labelled = ImageSpec(layers=spec.layers, config={"Labels": {provenance.BASE_NAME: ref}})
    assert load(labelled, tmp_path).provenance.base_layers == 1
    unreachable = ImageSpec(
        layers=spec.layers,
        config={"Labels": {provenance.BASE_NAME: f"docker-archive:{tmp_path}/gone.tar"}},
    )
    prov = load(unreachable, tmp_path).provenance
    assert prov.base_layers is None and prov.problem and prov.in_base(0) is None
    assert prov.origin(0) == "unknown" and "base not reachable" in prov.reason
    assert load(ImageSpec(layers=spec.layers), tmp_path).provenance.method is None
    assert provenance.shared_prefix(["a", "b", "c"], ["a", "b", "x"]) == 2


CLASSIC_PYTHON_SLIM = [  # docker history of a python:3.11-slim look-alike (classic builder)
    ("/bin/sh -c #(nop) ADD file:6f2b0c8d5e in / ", False),
    ('/bin/sh -c #(nop)  CMD ["bash"]', True),
    ("/bin/sh -c #(nop)  ENV LANG=C.UTF-8", True),
    ("/bin/sh -c set -eux; apt-get update; apt-get install -y ca-certificates", False),
    ("/bin/sh -c #(nop)  ENV PYTHON_VERSION=3.11.2", True),
    ("/bin/sh -c set -eux; wget python.tar.xz; ./configure; make install", False),
    ('/bin/sh -c #(nop)  CMD ["python3"]', True),
]


def history(*steps: tuple[str, bool]) -> list[dict[str, object]]:
    """Config history entries: (created_by, empty_layer)."""
    return [{"created_by": step, **({"empty_layer": True} if e else {})} for step, e in steps]


def test_base_boundary_inferred_from_the_end_of_the_base_dockerfile() -> None:
    """The last CMD/ENTRYPOINT that more layers follow ends the image the app's
    Dockerfile names in FROM: python's CMD ["python3"], not debian's CMD ["bash"]."""
    app = [
        ("/bin/sh -c #(nop) WORKDIR /app", False),
        ("/bin/sh -c #(nop) COPY file:abc in . ", False),
        ("|1 PIP_NO_INDEX=1 /bin/sh -c pip install -r requirements.txt", False),
        ('/bin/sh -c #(nop)  CMD ["gunicorn", "app:app"]', True),
    ]
    prov = provenance.from_history(history(*CLASSIC_PYTHON_SLIM, *app), 6)
    assert (prov.method, prov.base_layers, prov.base_reference) == ("history", 3, None)
    assert [prov.origin(i) for i in (0, 2, 3, 5, None)] == ["base"] * 2 + ["own"] * 3
    assert "layers 0-2 are the base's" in prov.reason and 'CMD ["python3"]' in prov.reason
    buildkit = [  # BuildKit writes the instruction as written; ENTRYPOINT ends a base too
        ("COPY /rootfs / # buildkit", False),
        ('ENTRYPOINT ["/usr/bin/python3.11"]', True),
        ("LABEL org.opencontainers.image.title=distroless", True),
        ("COPY /venv /venv # buildkit", False),
        ("WORKDIR /app", True),
    ]
    assert provenance.from_history(history(*buildkit), 2).base_layers == 1


@pytest.mark.parametrize(
    ("steps", "layers", "why"),
    [
        ([("ADD file:1 in /", False), ("RUN make", False), ('CMD ["app"]', True)], 2, "no CMD"),
        ([("ADD file:1 in /", False), ('CMD ["bash"]', True)], 2, "does not match"),
        ([('CMD ["bash"]', True), ("ADD file:1 in /", False)], 1, "no CMD"),
        ([], 1, "no build history"),
    ],
)
def test_base_boundary_unknown_without_a_base_end(
    steps: list[tuple[str, bool]], layers: int, why: str
) -> None:
    """A single Dockerfile (CMD last), a history that does not match the layers, a CMD
    before any layer: nothing is inferred, and the reason says so."""
    prov = provenance.from_history(history(*steps), layers)
    assert prov.base_layers is None and prov.method is None
    assert why in prov.reason and prov.origin(0) == "unknown"


def test_unreachable_labelled_base_falls_back_to_the_history(tmp_path: Path) -> None:
    rootfs = debian_base(setuid=False)
    rootfs.after = ['/bin/sh -c #(nop)  CMD ["bash"]']
    gone = f"docker-archive:{tmp_path}/gone.tar"
    spec = ImageSpec(
        layers=[rootfs, Layer([File("app/x.py", b"x")], "COPY . /app")],
        config={"Labels": {provenance.BASE_NAME: gone}},
    )
    prov = load(spec, tmp_path).provenance
    assert (prov.method, prov.base_layers, prov.base_reference) == ("history", 1, gone)
    assert prov.problem and "base not reachable" in prov.problem


def test_toolchain_names(tmp_path: Path) -> None:
    layer = Layer(
        [
            File("usr/bin/x86_64-linux-gnu-gcc-12", b"\x7fELF", 0o755),
            Symlink("usr/bin/gcc", "x86_64-linux-gnu-gcc-12"),
            File("usr/bin/gcc-ar-12", b"\x7fELF", 0o755),  # not a compiler
            File("usr/bin/make", b"\x7fELF", 0o755),
            Symlink("usr/bin/cc", "/etc/alternatives/cc"),  # dangling
            File("usr/bin/gcov", b"\x7fELF", 0o755),
        ]
    )
    tools = load(image(layer), tmp_path).compilers.tools
    assert [(t.path, t.name) for t in tools] == [
        ("usr/bin/gcc", "gcc"),
        ("usr/bin/make", "make"),
        ("usr/bin/x86_64-linux-gnu-gcc-12", "gcc"),
    ]


def test_pyc_modes(tmp_path: Path) -> None:
    src = tmp_path / "m.py"
    src.write_text("x = 1\n")
    out = {}
    for mode in py_compile.PycInvalidationMode:
        target = tmp_path / f"{mode.name}.pyc"
        py_compile.compile(str(src), cfile=str(target), invalidation_mode=mode)
        out[mode.name] = pyc.mode(target.read_bytes()[:16])
    assert out == {
        "TIMESTAMP": "timestamp",
        "CHECKED_HASH": "checked-hash",
        "UNCHECKED_HASH": "unchecked-hash",
    }
