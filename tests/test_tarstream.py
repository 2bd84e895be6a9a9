"""auditor.tarstream against tarfile (the reference) on real layers.

Each layer is made by GNU tar or Python's tarfile from real files of this host (a
CPython install, an ELF binary), in every format a layer comes in: GNU (long names
and links as 'L'/'K' headers, old GNU sparse), POSIX PAX (long names, non-ASCII
names, big ids, PAX sparse, global headers), ustar (prefix field). The index built
with tarstream must equal the one built with tarfile, entry for entry.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import pytest

from auditor import layers, tarstream
from auditor.errors import CorruptInput
from auditor.sources.interface import FileSlice, Layer

pytestmark = pytest.mark.skipif(
    shutil.which("tar") is None, reason="GNU tar not installed (apt-get install tar)"
)


def _tree(root: Path) -> Path:
    """Real files: the stdlib json and email packages, an ELF, links, a FIFO, a sparse
    file, names over 100 and over 255 bytes, non-ASCII names."""
    src = root / "src"
    (src / "usr/lib/python3").mkdir(parents=True)
    for pkg in ("json", "email"):
        shutil.copytree(Path(json.__file__).parent.parent / pkg, src / "usr/lib/python3" / pkg)
    (src / "usr/bin").mkdir(parents=True)
    shutil.copy2(Path(sys.executable).resolve(), src / "usr/bin/python3")
    os.symlink("python3", src / "usr/bin/python")
    os.link(src / "usr/bin/python3", src / "usr/bin/python3-hard")
    deep = src / "opt" / ("d" * 60) / ("e" * 60) / ("f" * 60)
    deep.mkdir(parents=True)
    (deep / ("n" * 120 + ".txt")).write_text("long name\n")
    os.symlink("../" * 3 + "x" * 150, deep / "longlink")
    (src / "opt/café-é.txt").write_text("non-ascii\n")
    os.mkfifo(src / "opt/fifo")
    with open(src / "opt/sparse.bin", "wb") as fh:
        fh.truncate(8 << 20)
        fh.seek(4 << 20)
        fh.write(b"data in the middle")
    (src / "etc").mkdir()
    (src / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/bash\n")
    return src


def _gnu_tar(src: Path, out: Path, *options: str) -> bytes:
    subprocess.run(["tar", "-C", str(src), *options, "-cf", str(out), "."], check=True)
    return out.read_bytes()


def _index(blob: bytes, tmp: Path, diff: bytes, reader: str, mp: pytest.MonkeyPatch) -> Any:
    path = tmp / f"blob-{hashlib.sha256(blob).hexdigest()[:12]}"
    path.write_bytes(blob)
    layer = Layer(
        index=0,
        diff_id="sha256:" + hashlib.sha256(diff).hexdigest(),
        digest="sha256:" + hashlib.sha256(blob).hexdigest(),
        media_type="",
        size=len(blob),
        locator=FileSlice(path=str(path), size=len(blob)),
    )
    mp.setattr(layers, "TAR_READER", reader)
    return layers.index_layer(layer).to_json()


def _same_index(tar: bytes, tmp: Path, mp: pytest.MonkeyPatch, gz: bool = False) -> Any:
    blob = gzip.compress(tar) if gz else tar
    fast = _index(blob, tmp, tar, "tarstream", mp)
    ref = _index(blob, tmp, tar, "tarfile", mp)
    assert fast == ref
    return fast


@pytest.mark.parametrize(
    "options",
    [
        ("--format=gnu",),
        ("--format=gnu", "--sparse"),
        ("--format=posix",),
        ("--format=posix", "--sparse"),
        ("--format=ustar",),
    ],
    ids=["gnu", "gnu-sparse", "pax", "pax-sparse", "ustar"],
)
def test_gnu_tar_layers_index_like_tarfile(
    options: tuple[str, ...], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = _tree(tmp_path)
    try:
        tar = _gnu_tar(src, tmp_path / "layer.tar", *options)
    except subprocess.CalledProcessError:
        if "--format=ustar" in options:  # names over 255 bytes do not fit ustar
            shutil.rmtree(src / "opt")
            tar = _gnu_tar(src, tmp_path / "layer.tar", *options)
        else:
            raise
    index = _same_index(tar, tmp_path, monkeypatch, gz=True)
    paths = {e[0]: e for e in index["entries"]}
    pair = {"usr/bin/python3", "usr/bin/python3-hard"}
    assert len(pair & set(index["elf"])) == 1  # the first one stored; the other links to it
    assert sorted(paths[p][1] for p in pair) == ["f", "h"]
    assert paths["usr/bin/python"][7] == "python3"
    assert index["contents"]["etc/passwd"].startswith("root:x:0:0")
    if "opt" in {p.split("/")[0] for p in paths}:
        assert paths["opt/sparse.bin"][5] == 8 << 20
        assert paths["opt/fifo"][1] == "p"
        assert any(p.endswith("n" * 120 + ".txt") for p in paths)


def test_python_pax_with_global_headers_and_big_ids(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    buf = io.BytesIO()
    with tarfile.open(
        fileobj=buf, mode="w", format=tarfile.PAX_FORMAT, pax_headers={"comment": "global"}
    ) as tar:
        for name, uid, data in (
            ("app/ü" * 40 + ".py", 3_000_000, b"print(1)\n"),
            ("app/big-id", 2**40, b""),
            ("app/requirements.txt", 0, b"numpy==2\n"),
        ):
            info = tarfile.TarInfo(name)
            info.uid = uid
            info.size = len(data)
            info.mtime = 1_700_000_000
            tar.addfile(info, io.BytesIO(data))
    index = _same_index(buf.getvalue(), tmp_path, monkeypatch)
    uids = {e[0]: e[3] for e in index["entries"]}
    assert uids["app/big-id"] == 2**40
    assert index["contents"]["app/requirements.txt"] == "numpy==2\n"


def test_truncated_and_garbage_streams(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = _tree(tmp_path)
    tar = _gnu_tar(src, tmp_path / "layer.tar", "--format=gnu")
    for reader in ("tarstream", "tarfile"):
        with pytest.raises(CorruptInput):
            _index(tar[: len(tar) // 2], tmp_path, tar, reader, monkeypatch)
        with pytest.raises(CorruptInput):
            _index(b"not a tar" * 100, tmp_path, b"not a tar" * 100, reader, monkeypatch)


def test_fallback_replays_pending_headers() -> None:
    """A sparse member after a long-name header: tarstream hands both to tarfile."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        info = tarfile.TarInfo("x" * 150)
        info.type = tarfile.GNUTYPE_SPARSE
        tar.addfile(info)
    stream = _BytesStream(buf.getvalue())
    with pytest.raises(tarstream.Fallback) as caught:
        list(tarstream.iter_members(stream))
    replay = caught.value.replay
    assert replay == buf.getvalue()[: len(replay)]
    assert len(replay) == 3 * 512  # 'L' header + its name block + the sparse header


class _BytesStream:
    def __init__(self, data: bytes) -> None:
        self._io = io.BytesIO(data)

    def read(self, n: int = -1) -> bytes:
        return self._io.read(n)

    def skip(self, n: int) -> None:
        self._io.seek(n, 1)


def test_bad_header_after_the_first_is_corrupt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """tarfile would end the archive silently there, hiding what follows; tarstream
    refuses the layer, as the engines do."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name in ("etc/os-release", "etc/passwd", "app/main.py"):
            info = tarfile.TarInfo(name)
            info.size = 3
            tar.addfile(info, io.BytesIO(b"x\n\n"))
    data = bytearray(buf.getvalue())
    data[1024 + 100] ^= 0x01  # second header's mode field: checksum no longer matches
    blob = bytes(data)
    with pytest.raises(CorruptInput, match="bad checksum"):
        _index(blob, tmp_path, blob, "tarstream", monkeypatch)
    reference = _index(blob, tmp_path, blob, "tarfile", monkeypatch)
    assert [e[0] for e in reference["entries"]] == ["etc/os-release"]  # the rest hidden


def _mixed_layer(fmt: int = tarfile.GNU_FORMAT) -> bytes:
    """Every branch of the layer reader's inline fast path (`layers._read_tarstream`)
    and its exits to the general one, among files of many sizes (headers and heads
    fall across the reader's pieces when those are small). Names longer than 100 bytes
    are GNU long-name headers in the GNU format; in the ustar format, Go's archive/tar's
    and docker's, a ustar prefix (the fast path joins it)."""
    deep = "opt/venv/lib/python3.11/site-packages/" + "pkg/sub/" * 8  # 102 bytes
    elf = Path(sys.executable).resolve().read_bytes()
    members: list[tuple[str, bytes, bytes, int, str]] = [  # name, type, data, mode, link
        ("./", tarfile.DIRTYPE, b"", 0o755, ""),
        ("app/", tarfile.DIRTYPE, b"", 0o755, ""),
        ("app/bin", tarfile.DIRTYPE, b"", 0o755, ""),
        ("app/tiny", tarfile.REGTYPE, b"\x7fEL", 0o644, ""),  # padding made "F" below
        ("app/bin/tool", tarfile.REGTYPE, elf, 0o755, ""),
        ("app/bin/run", tarfile.REGTYPE, b"#!/usr/bin/python3\nprint()\n", 0o755, ""),
        ("app/bin/data", tarfile.REGTYPE, b"\x00" * 900, 0o755, ""),
        ("app/run.sh", tarfile.REGTYPE, b"#!/bin/sh\n" + b"x" * 400, 0o755, ""),
        ("app/run2", tarfile.REGTYPE, b"no shebang", 0o755, ""),
        ("etc/passwd", tarfile.REGTYPE, b"root:x:0:0:root:/root:/bin/sh\n", 0o644, ""),
        ("etc/sudoers", tarfile.REGTYPE, b"#" * (300 << 10), 0o440, ""),
        ("x/__pycache__/m.cpython-311.pyc", tarfile.REGTYPE, b"\xa7\r\r\n" * 5, 0o644, ""),
        ("app/link", tarfile.SYMTYPE, b"", 0o777, "bin/tool"),
        ("app/hard", tarfile.LNKTYPE, b"", 0o755, "app/bin/tool"),
        ("app/.wh.gone", tarfile.REGTYPE, b"", 0o644, ""),
        ("app/./odd//name.py", tarfile.REGTYPE, b"x = 1\n", 0o644, ""),
        ("app/dot.", tarfile.REGTYPE, b"y\n", 0o644, ""),
        ("app/café.py", tarfile.REGTYPE, b"z = 2\n", 0o644, ""),
        (deep, tarfile.DIRTYPE, b"", 0o755, ""),
        (deep + "mod.py", tarfile.REGTYPE, b"x = 3\n", 0o644, ""),
        (deep + "_ext.cpython-311-x86_64-linux-gnu.so", tarfile.REGTYPE, elf, 0o755, ""),
        (deep + "link.py", tarfile.SYMTYPE, b"", 0o777, "mod.py"),
        (deep + "pkg-1.0.dist-info/METADATA", tarfile.REGTYPE, b"Name: pkg\n", 0o644, ""),
        (deep + ".wh.gone.py", tarfile.REGTYPE, b"", 0o644, ""),
        (deep + "./odd.py", tarfile.REGTYPE, b"y = 4\n", 0o644, ""),
        ("./" + deep + "dotted.py", tarfile.REGTYPE, b"z = 5\n", 0o644, ""),
        # a `tar -C rootfs -c .` base: every name starts with "./"
        ("./srv/", tarfile.DIRTYPE, b"", 0o755, ""),
        ("./srv/hostname", tarfile.REGTYPE, b"box\n", 0o644, ""),
        ("./srv/tool", tarfile.REGTYPE, elf[:4096], 0o755, ""),
        ("./srv/bin", tarfile.SYMTYPE, b"", 0o777, "./tool"),
        ("./srv/.wh.old", tarfile.REGTYPE, b"", 0o644, ""),
        ("././srv/twice", tarfile.REGTYPE, b"t\n", 0o644, ""),
        ("./.hidden", tarfile.REGTYPE, b"h\n", 0o644, ""),
    ]
    for i in range(300):
        data = bytes([65 + i % 26]) * (1 + (i * 37) % 700)
        members.append((f"lib/p{i % 7}/m{i}.py", tarfile.REGTYPE, data, 0o600 + i % 64, ""))
        if i % 50 == 0:
            members.append((f"lib/p{i % 7}/ELF{i}.so", tarfile.REGTYPE, elf[:4096], 0o755, ""))
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tar:
        for name, kind, data, mode, link in members:
            info = tarfile.TarInfo(name)
            info.type, info.size, info.mode, info.linkname = kind, len(data), mode, link
            # owners, modes and mtimes that repeat and differ (the reader memoises them)
            info.mtime = 1_700_000_000 + len(name) % 4
            info.uid, info.gid = len(name) % 3, len(data) % 5
            tar.addfile(info, io.BytesIO(data))
    out = bytearray(buf.getvalue())
    at = out.index(b"app/tiny\0") + 512 + 3
    out[at] = ord("F")  # "\x7fEL" + "F" in the padding: still not an ELF file
    return bytes(out)


@pytest.mark.parametrize("fmt", [tarfile.GNU_FORMAT, tarfile.USTAR_FORMAT], ids=["gnu", "ustar"])
@pytest.mark.parametrize("chunk", [1000, 4096, 1 << 20])
def test_fast_path_indexes_like_tarfile_across_piece_boundaries(
    chunk: int, fmt: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(layers, "CHUNK", chunk)
    tar = _mixed_layer(fmt)
    index = _same_index(tar, tmp_path, monkeypatch)
    assert set(index["elf"]) >= {"app/bin/tool", "lib/p0/ELF0.so"}
    assert "app/tiny" not in index["elf"]
    assert index["contents"]["x/__pycache__/m.cpython-311.pyc"] == "\xa7\r\r\n" * 4
    assert index["contents"]["app/run.sh"].startswith("#!/bin/sh\n")
    assert "app/run2" not in index["contents"]
    assert any(s.startswith("etc/sudoers: ") for s in index["skipped"])
    deep = "opt/venv/lib/python3.11/site-packages/" + "pkg/sub/" * 8
    assert sorted(index["whiteouts"]) == sorted(["app/gone", deep + "gone.py", "srv/old"])
    assert "srv/tool" in index["elf"]
    assert {"srv", "srv/hostname", "srv/bin", "srv/twice", ".hidden"} <= {
        e[0] for e in index["entries"]
    }
    assert deep + "_ext.cpython-311-x86_64-linux-gnu.so" in index["elf"]
    assert index["contents"][deep + "pkg-1.0.dist-info/METADATA"] == "Name: pkg\n"
    assert {deep + "odd.py", deep + "dotted.py", deep + "link.py"} <= {
        e[0] for e in index["entries"]
    }
    assert len({(e[2], e[3], e[4], e[6]) for e in index["entries"]}) > 20


def test_fast_path_takes_ustar_prefixed_and_dot_slash_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A name split into the ustar prefix (Go's archive/tar: a third of a Python layer's
    names) stays on the fast path when its whole name is clean, as does one that only
    starts with "./": only the entries that need the general path (`_index_entry`)
    take it."""
    tar = _mixed_layer(tarfile.USTAR_FORMAT)
    path = tmp_path / "layer.tar"
    path.write_bytes(tar)
    digest = "sha256:" + hashlib.sha256(tar).hexdigest()
    layer = Layer(0, digest, digest, "", len(tar), FileSlice(path=str(path), size=len(tar)))
    general: list[str] = []
    index_entry = layers._index_entry
    monkeypatch.setattr(
        layers, "_index_entry", lambda *a: general.append(a[1].name) or index_entry(*a)
    )
    index = layers.index_layer(layer)
    deep = "opt/venv/lib/python3.11/site-packages/" + "pkg/sub/" * 8
    assert len([e for e in index.entries if e[0].startswith(deep)]) == 6
    # names that need cleaning or are whiteouts, the hard link, the non-ASCII name
    assert sorted(general) == sorted(
        [
            ".",
            "app/./odd//name.py",
            "app/.wh.gone",
            "app/hard",
            "app/café.py",
            deep + ".wh.gone.py",
            deep + "./odd.py",
            "./srv/.wh.old",
            "././srv/twice",
            "./.hidden",
        ]
    )


def test_fast_path_keeps_the_entry_limit_and_batches(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The inline loop calls `_Batches.after_entry` only when it has something to do:
    the limit must still be exact, and hand-overs must join into the one-pass index."""
    from auditor import indexcodec

    tar = _mixed_layer()
    path = tmp_path / "layer.tar"
    path.write_bytes(tar)
    digest = "sha256:" + hashlib.sha256(tar).hexdigest()
    layer = Layer(0, digest, digest, "", len(tar), FileSlice(path=str(path), size=len(tar)))
    whole = layers.index_layer(layer)
    count = len(whole.entries)
    assert layers.index_layer(layer, max_entries=count).entries == whole.entries
    with pytest.raises(CorruptInput, match=f"over {count - 1} entries"):
        layers.index_layer(layer, max_entries=count - 1)
    monkeypatch.setattr(layers, "BATCH_ENTRIES", 7)
    monkeypatch.setattr(layers, "BATCH_CONTENTS", 3)
    parts = indexcodec.Parts()
    rest = layers.index_layer(layer, handoff=parts.add)
    assert len(parts.frames) >= count // 7
    assert indexcodec.decode(parts.finish(rest)) == whole
