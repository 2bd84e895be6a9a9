"""Tar layers written to break imgaudit: each either becomes a report that says what was
skipped (IN001) or an exit 2 with one line; never a traceback, a hang, a write outside
the temporary directory, or a link followed out of the image model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from auditor.errors import CorruptInput
from auditor.fs import FileSystem
from auditor.layers import index_layer
from tests import factory
from tests.factory import Dir, File, Hardlink, Layer, Raw, Special, Symlink, Whiteout
from tests.support.bounded import counted_layer
from tests.test_bad_input import REPO
from tests.test_layers import source_layer


def info(
    name: str, kind: bytes = tarfile.REGTYPE, size: int = 0, link: str = ""
) -> tarfile.TarInfo:
    ti = tarfile.TarInfo(name)
    ti.type, ti.size, ti.linkname, ti.mtime = kind, size, link, factory.MTIME
    return ti


def pax(name: str, headers: dict[str, str], size: int = 0) -> bytes:
    """One PAX-format header block set for `name` with the given extended records."""
    ti = info(name, size=size)
    ti.pax_headers = headers
    return ti.tobuf(format=tarfile.PAX_FORMAT)


def index_raw(tmp_path: Path, tar_bytes: bytes) -> object:
    return index_layer(source_layer(tmp_path, tar_bytes))


def scan_json(ref: str, *args: str, env: dict[str, str] | None = None, cwd: Path = REPO) -> dict:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "auditor",
            "scan",
            "--no-cache",
            "--jobs",
            "1",
            "--format",
            "json",
            *args,
            ref,
        ],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert proc.returncode in (0, 1), proc.stderr
    assert "Traceback" not in proc.stderr
    return json.loads(proc.stdout)  # type: ignore[no-any-return]


def in001(report: dict) -> list[dict]:
    return [f for f in report["findings"] if f["check_id"] == "IN001"]


def one_line(*args: str) -> str:
    """Run a scan that must fail: exit 2, one line on stderr, nothing on stdout."""
    proc = subprocess.run(
        [sys.executable, "-m", "auditor", "scan", "--no-cache", "--jobs", "1", *args],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert proc.returncode == 2, (proc.stdout[-500:], proc.stderr)
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("imgaudit: error: ")
    assert proc.stdout == ""
    return proc.stderr


# ---- absurd header values: recorded and clamped, or one-line errors ------------------------


@pytest.mark.parametrize(
    ("headers", "field"),
    [
        ({"mtime": "inf"}, "mtime inf"),
        ({"mtime": "nan"}, "mtime nan"),
        ({"mtime": "-1e400"}, "mtime -inf"),
        ({"mtime": "1e308"}, "mtime 1e+308"),
        ({"uid": "-5"}, "uid -5"),
        ({"gid": "99999999999999999999"}, "gid 99999999999999999999"),  # over 2**63
    ],
)
def test_absurd_pax_values_are_clamped_and_recorded(
    tmp_path: Path, headers: dict[str, str], field: str
) -> None:
    index = index_raw(tmp_path, pax("etc/x", headers) + b"\0" * 1024)
    entry = index.entries[0]  # type: ignore[attr-defined]
    assert (entry.path, entry.uid, entry.gid) == ("etc/x", 0, 0)
    assert entry.mtime == (factory.MTIME if field.startswith(("uid", "gid")) else 0)
    (note,) = index.skipped  # type: ignore[attr-defined]
    assert note.startswith("etc/x: absurd metadata (") and note.endswith(") recorded as 0")
    assert field in note


def test_absurd_uid_message(tmp_path: Path) -> None:
    index = index_raw(tmp_path, pax("etc/x", {"uid": "-5"}) + b"\0" * 1024)
    assert index.skipped == [
        "etc/x: absurd metadata (mtime 1700000000, uid -5, gid 0) recorded as 0"
    ]  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("blocks", "message"),
    [
        # a PAX record length of 10**20 (OverflowError inside tarfile)
        (
            info("././@PaxHeader", tarfile.XHDTYPE, 30).tobuf(tarfile.USTAR_FORMAT)
            + b"99999999999999999999 path=x\n".ljust(512, b"\0")
            + info("x").tobuf(tarfile.USTAR_FORMAT),
            "unreadable tar header|not a readable tar",
        ),
        # a GNU sparse 1.0 map that does not parse (ValueError inside tarfile)
        (
            pax("s", {"GNU.sparse.major": "1", "GNU.sparse.minor": "0"}, 512)
            + b"99999\n".ljust(512, b"\0"),
            "unreadable tar header|not a readable tar",
        ),
        (pax("p", {"size": "-5"}), "negative size for 'p'"),
        (pax("p", {"path": "a\0b"}), "entry name contains NUL"),
        # a terabyte declared, three bytes present
        (info("big", size=10**12).tobuf(tarfile.GNU_FORMAT) + b"abc", "not a readable tar"),
        (pax("big", {"size": "9" * 30}), "not a readable tar"),
        (info("evil", tarfile.LNKTYPE, link="../../etc/passwd").tobuf(), "'..'"),
        (info("evil", tarfile.LNKTYPE, link="/etc/passwd").tobuf(), "absolute path"),
    ],
    ids=["pax-length", "sparse-map", "negative", "nul", "terabyte", "pax-size", "up", "abs"],
)
@pytest.mark.timeout(120)  # only a hang; the work is bounded below
def test_unreadable_headers_are_one_error(tmp_path: Path, blocks: bytes, message: str) -> None:
    blob = blocks + b"\0" * 1024
    layer, count = counted_layer(tmp_path, blob)
    with pytest.raises(CorruptInput, match="layer 0") as exc:
        index_layer(layer)
    assert any(m in str(exc.value) for m in message.split("|")), exc.value
    # bounded work: a terabyte declared is not read for, nothing is read twice
    assert count.bytes <= len(blob) and count.empty <= 2, count


def test_non_utf8_names_keep_their_bytes_and_whiteouts_still_match(tmp_path: Path) -> None:
    raw = "app/caf\udce9.py"  # the byte 0xE9 as tarfile hands it over
    spec = factory.ImageSpec(
        layers=[
            Layer([Raw(info(raw, size=1), b"x"), Raw(info("app/other\udcff", size=1), b"y")]),
            Layer([Raw(info("app/.wh.caf\udce9.py"))], tar_format=tarfile.GNU_FORMAT),
            Layer([Raw(info("app/\udcfe", tarfile.SYMTYPE, link="other\udcff"))]),
        ]
    )
    from tests.images import load

    fs = load(spec, tmp_path).fs
    assert fs.get(raw) is None  # whited out by the same bytes
    assert fs.resolve("app/\udcfe") == "app/other\udcff"
    assert sorted(fs.listdir("app")) == ["other\udcff", "\udcfe"]


# ---- links, duplicates, specials: modelled, never followed outside ---------------------------


HOSTILE_BUT_READABLE = factory.ImageSpec(
    layers=[
        Layer(
            [
                File("etc/os-release", b"ID=debian\nVERSION_ID=12\n"),
                Symlink("app/up", "../../../../../../etc/passwd"),
                Symlink("app/abs", "/etc/shadow"),
                Symlink("app/a", "b"),
                Symlink("app/b", "a"),
                Symlink("app/self", "self/x"),
                Symlink("loop/x", "y"),
                Symlink("loop/y", "x"),
                Symlink("app/deep", "./" * 2000 + "../etc"),
                Symlink("app/huge", "./" * 200_000 + "../etc"),  # 400 kB: over PATH_MAX
                Hardlink("app/nothing", "app/not-there"),
                File("app/dup", b"1"),
                File("app/dup", b"22"),
                Dir("app/dup2"),
                File("app/dup2", b"333"),
                Special("dev/null", "char"),
                Special("dev/sda", "block"),
                Special("run/fifo", "fifo"),
                Raw(info("app/volume", b"V")),  # GNU volume header: not a filesystem entry
                Raw(info("app/.wh..."), b""),  # a whiteout of '..'
            ]
        ),
        Layer([Whiteout("app/a"), Symlink("app/a", "/")]),
    ]
)


class _CountedLookups(dict):  # type: ignore[type-arg]
    """The filesystem model's path table (path -> stored code), counting lookups (the
    work of a resolve)."""

    lookups = 0

    def get(self, key: Any, default: Any = None) -> Any:
        type(self).lookups += 1
        return super().get(key, default)


@pytest.mark.timeout(120)  # only a hang; the work is bounded below
def test_hostile_links_and_types_are_modelled_inside_the_image(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.images import load

    fs: FileSystem = load(HOSTILE_BUT_READABLE, tmp_path).fs
    monkeypatch.setattr(fs, "_codes", _CountedLookups(fs._codes))
    monkeypatch.setattr(_CountedLookups, "lookups", 0)
    assert fs.resolve("app/up") is None  # /etc/passwd is not in the image
    assert fs.resolve("app/abs") is None
    assert fs.resolve("app/b") == ""  # b -> a, and a is now "/": the image root
    assert fs.resolve("loop/x") is None and fs.resolve("loop/y/z") is None  # x -> y -> x
    assert fs.resolve("app/a") == ""
    assert fs.resolve("app/self") is None  # a loop
    assert fs.resolve("app/deep") == "etc"
    assert fs.resolve("app/huge") is None
    assert fs.resolve("app/up/x") is None
    dup, dup2 = fs.get("app/dup"), fs.get("app/dup2")
    assert dup is not None and dup2 is not None
    assert (dup.entry.size, dup.earlier) == (2, ((0, 1),))  # the last one wins; 1 byte wasted
    assert (dup2.entry.kind, dup2.entry.size) == ("f", 3)
    assert fs.get("dev/null").entry.kind == "c"  # type: ignore[union-attr]
    assert fs.read("app/nothing") is None
    # bounded work: 2000 "./" parts are skipped, not looked up; the 400 kB link is
    # refused, not walked; loops stop at the hop limit
    assert _CountedLookups.lookups < 400, _CountedLookups.lookups
    assert [s for _, s in fs.skipped] == [
        "app/volume: unsupported tar entry type b'V'",
        "app/.wh...: malformed whiteout",
    ]


def test_hostile_image_reports_what_it_skipped(tmp_path: Path) -> None:
    layout = factory.write_oci_dir(factory.build(HOSTILE_BUT_READABLE), tmp_path / "l")
    report = scan_json(f"oci:{layout}")
    assert [(s["layer"], s["entry"]) for s in report["skipped"]] == [
        (0, "app/volume: unsupported tar entry type b'V'"),
        (0, "app/.wh...: malformed whiteout"),
    ]
    (finding,) = in001(report)
    assert finding["severity"] == "info"
    assert finding["message"].startswith("2 tar entries skipped or recorded in part: app/volume")
    assert finding["evidence"]["count"] == 2


def test_clean_image_has_no_in001(tmp_path: Path) -> None:
    spec = factory.ImageSpec(layers=[Layer([File("etc/os-release", b"ID=debian\n")])])
    layout = factory.write_oci_dir(factory.build(spec), tmp_path / "l")
    report = scan_json(f"oci:{layout}")
    assert in001(report) == [] and report["skipped"] == []
    assert {"check_id": "IN001", "name": "unreadable-entries", "status": "passed"} in report[
        "results"
    ]


# ---- the sandbox: nothing written outside TMPDIR, nothing left behind ------------------------


def _tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


@pytest.mark.parametrize("transport", ["oci-archive", "docker-archive-legacy"])
def test_scan_writes_nothing_outside_tmpdir(tmp_path: Path, transport: str) -> None:
    from tests.images import write

    outside = tmp_path / "outside"
    outside.mkdir()
    spec = factory.ImageSpec(
        layers=[
            Layer(
                [
                    Symlink("escape", str(outside)),
                    File("escape/pwned", b"x"),  # through the symlink, in a tar
                    Hardlink("hl", "escape/pwned"),
                    factory.host_file(sys.executable, "usr/bin/python3"),  # an ELF: spilled
                    File("etc/os-release", b"ID=debian\n"),
                ],
                compression="gzip",
            )
        ]
    )
    images = tmp_path / "images"
    images.mkdir()
    ref = write(factory.build(spec), images, transport)
    before = _tree(images)
    tmpdir, cwd, home = tmp_path / "tmp", tmp_path / "cwd", tmp_path / "home"
    for d in (tmpdir, cwd, home):
        d.mkdir()
    env = {"TMPDIR": str(tmpdir), "HOME": str(home), "XDG_CACHE_HOME": str(home / ".cache")}
    report = scan_json(ref, "--jobs", "2", env=env, cwd=cwd)
    assert report["image"]
    assert _tree(outside) == set()
    assert _tree(cwd) == set() and _tree(home) == set()
    assert _tree(tmpdir) == set()  # cleaned up
    assert _tree(images) == before
    # With the cache on, the cache is the one place written outside TMPDIR.
    scan_json(ref, env={**env, "IMGAUDIT_CACHE_DIR": str(home / "c")}, cwd=cwd)
    assert _tree(tmpdir) == set() and _tree(cwd) == set() and _tree(outside) == set()


# ---- tar bombs: a clear limit ---------------------------------------------------------------


def _many(n: int, prefix: str) -> Layer:
    return Layer([File(f"{prefix}/{i}") for i in range(n)], compression="gzip")


def test_tar_bomb_over_max_entries_is_one_line(tmp_path: Path) -> None:
    spec = factory.ImageSpec(layers=[_many(1200, "a")])
    layout = factory.write_oci_dir(factory.build(spec), tmp_path / "l")
    err = one_line(f"oci:{layout}", "--max-entries", "1000")
    assert "layer 0" in err and "over 1000 entries" in err and "raise --max-entries" in err
    report = scan_json(f"oci:{layout}", "--max-entries", "2000")
    assert report["findings"] is not None


def test_entries_limit_counts_every_layer(tmp_path: Path) -> None:
    spec = factory.ImageSpec(layers=[_many(600, "a"), _many(600, "b")])
    layout = factory.write_oci_dir(factory.build(spec), tmp_path / "l")
    err = one_line(f"oci:{layout}", "--max-entries", "1000")
    assert "1202 tar entries in all layers, over the limit of 1000" in err


TAR_BOMB_RSS = """
import gzip, hashlib, sys, tarfile, zlib
def hwm():  # peak RSS in KiB of this process image (ru_maxrss survives exec from a big parent)
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
sys.path.insert(0, {repo!r})
from auditor import layers
from auditor.layers import index_layer
from auditor.sources.interface import FileSlice, Layer
layers.TAR_READER = {reader!r}
path, n = {path!r}, {n}
deflate = zlib.compressobj(6, zlib.DEFLATED, 31)
diff = hashlib.sha256()
with open(path, "wb") as out:
    ti = tarfile.TarInfo("x")
    for i in range(n + 1):
        block = ti.tobuf(tarfile.GNU_FORMAT) if i < n else bytes(10240)
        ti.name = "usr/share/bomb/%d/f%d" % (i // 1000, i)
        diff.update(block)
        out.write(deflate.compress(block))
    out.write(deflate.flush())
blob = open(path, "rb").read()
layer = Layer(index=0, diff_id="sha256:" + diff.hexdigest(),
              digest="sha256:" + hashlib.sha256(blob).hexdigest(), media_type="", size=0,
              locator=FileSlice(path))
del blob
before = hwm()
index = index_layer(layer)
after = hwm()
print(len(index.entries), (after - before) * 1024 // n)
"""


@pytest.mark.parametrize("reader", ["tarstream", "tarfile"])
def test_tar_bomb_memory_per_entry_is_bounded(tmp_path: Path, reader: str) -> None:
    """100k empty files: the index costs a few hundred bytes an entry (tarfile's own
    member list, ~500 more, is dropped as the stream goes), so the 2M default limit
    stays near 600 MB for index plus model."""
    n = 100_000
    bomb = str(tmp_path / "bomb.tar.gz")
    code = TAR_BOMB_RSS.format(repo=str(REPO), path=bomb, n=n, reader=reader)
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300
    ).stdout.split()
    entries, per_entry = int(out[0]), int(out[1])
    assert entries == n
    assert per_entry < 450, per_entry


@pytest.mark.timeout(120)  # only a hang
@pytest.mark.parametrize("fmt", ["gnu", "pax"])
def test_sparse_files_count_their_apparent_size(tmp_path: Path, fmt: str) -> None:
    """GNU and PAX sparse entries (what `tar --sparse` writes): the file's apparent
    size is what the image holds once extracted; the holes are never materialised."""
    src = tmp_path / "src"
    src.mkdir()
    with (src / "sparse").open("wb") as fh:
        fh.seek(1 << 30)
        fh.write(b"end")
    tar = tmp_path / "layer.tar"
    subprocess.run(
        ["tar", "--sparse", f"--format={fmt}", "-cf", str(tar), "-C", str(src), "sparse"],
        check=True,
    )
    assert tar.stat().st_size < 1 << 20
    layer, count = counted_layer(tmp_path, tar.read_bytes())
    tracemalloc.start()
    try:
        index = index_layer(layer)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    (entry,) = index.entries  # type: ignore[attr-defined]
    assert (entry.path, entry.kind, entry.size) == ("sparse", "f", (1 << 30) + 3)
    # bounded work: the stored bytes read once, the 1 GiB of holes never made
    assert count.bytes <= tar.stat().st_size and peak < 64 << 20, (count, peak)
