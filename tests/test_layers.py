"""The streaming layer reader: compressions, digests, tar entry kinds and names."""

from __future__ import annotations

import dataclasses
import gzip
import tarfile
from pathlib import Path

import pytest

from auditor.errors import CorruptInput
from auditor.layerindex import LayerIndex
from auditor.layers import index_layer
from auditor.sources.interface import FileSlice
from auditor.sources.interface import Layer as SourceLayer
from tests import factory

ITEMS: list[factory.Item] = [
    factory.Dir("etc", mode=0o755),
    factory.File("etc/os-release", b'ID=debian\nVERSION_ID="12"\n'),
    factory.File("usr/bin/tool", b"#!/bin/sh\necho hi\n" * 500, mode=0o4755, uid=0, gid=50),
    factory.Symlink("usr/bin/alias", "tool"),
    factory.Hardlink("usr/bin/tool2", "usr/bin/tool"),
    factory.Special("dev/fifo", "fifo"),
    factory.Whiteout("var/old"),
    factory.Opaque("opt"),
]


def source_layer(
    tmp_path: Path, blob: bytes, diff: bytes | None = None, digest: str | None = None
) -> SourceLayer:
    path = tmp_path / f"blob-{factory.sha256(blob)[7:19]}"
    path.write_bytes(blob)
    return SourceLayer(
        index=0,
        diff_id=factory.sha256(diff if diff is not None else blob),
        digest=digest or factory.sha256(blob),
        media_type="",
        size=len(blob),
        locator=FileSlice(str(path)),
    )


def index_of(tmp_path: Path, layer: factory.Layer) -> LayerIndex:
    diff = factory.layer_tar(layer)
    return index_layer(source_layer(tmp_path, factory.compress(diff, layer.compression), diff))


@pytest.mark.parametrize("compression", ["none", "gzip", "zstd", "estargz"])
def test_compressions_give_the_same_index(tmp_path: Path, compression: str) -> None:
    index = index_of(tmp_path, factory.Layer(ITEMS, compression=compression))  # type: ignore[arg-type]
    plain = index_of(tmp_path, factory.Layer(ITEMS, compression="none"))
    assert {**index.to_json(), "digest": ""} == {**plain.to_json(), "digest": ""}
    by_path = {e.path: e for e in index.entries}
    tool = by_path["usr/bin/tool"]
    assert (tool.kind, tool.mode, tool.uid, tool.gid, tool.size) == ("f", 0o4755, 0, 50, 9000)
    assert (by_path["usr/bin/alias"].kind, by_path["usr/bin/alias"].link) == ("l", "tool")
    assert (by_path["usr/bin/tool2"].kind, by_path["usr/bin/tool2"].link) == ("h", "usr/bin/tool")
    assert by_path["dev/fifo"].kind == "p"
    assert by_path["etc"].kind == "d"
    assert index.whiteouts == ["var/old"]
    assert index.opaque_dirs == ["opt"]
    assert index.contents["etc/os-release"] == b'ID=debian\nVERSION_ID="12"\n'
    assert index.tar_size == len(factory.layer_tar(factory.Layer(ITEMS)))
    assert index.size == 9000 + len(b'ID=debian\nVERSION_ID="12"\n')


def test_estargz_really_has_many_members(tmp_path: Path) -> None:
    blob = factory.compress(factory.layer_tar(factory.Layer(ITEMS)), "estargz")
    assert blob.count(b"\x1f\x8b\x08") >= 3


def test_zstd_multiple_frames_and_skippable_frames(tmp_path: Path) -> None:
    import zstandard

    diff = factory.layer_tar(factory.Layer(ITEMS))
    c = zstandard.ZstdCompressor()
    skippable = b"\x50\x2a\x4d\x18" + (8).to_bytes(4, "little") + b"metadata"
    blob = c.compress(diff[:3000]) + skippable + c.compress(diff[3000:])
    index = index_layer(source_layer(tmp_path, blob, diff))
    assert index.contents["etc/os-release"].startswith(b"ID=debian")


def test_gzip_zero_padding_is_accepted(tmp_path: Path) -> None:
    diff = factory.layer_tar(factory.Layer(ITEMS))
    blob = gzip.compress(diff) + b"\0" * 1000
    assert index_layer(source_layer(tmp_path, blob, diff)).whiteouts == ["var/old"]


def test_gzip_trailing_garbage_is_an_error(tmp_path: Path) -> None:
    diff = factory.layer_tar(factory.Layer(ITEMS))
    blob = gzip.compress(diff) + b"garbage!"
    with pytest.raises(CorruptInput, match="trailing garbage"):
        index_layer(source_layer(tmp_path, blob, diff))


@pytest.mark.parametrize("compression", ["gzip", "zstd", "estargz"])
def test_truncated_blob_is_named_truncated(tmp_path: Path, compression: str) -> None:
    diff = factory.layer_tar(factory.Layer(ITEMS))
    blob = factory.compress(diff, compression)  # type: ignore[arg-type]
    cut = blob[: len(blob) - 20]
    with pytest.raises(
        CorruptInput, match=f"layer 0 .*truncated {compression.replace('estargz', 'gzip')} stream"
    ):
        index_layer(source_layer(tmp_path, cut, diff, digest=factory.sha256(cut)))


def test_large_gzip_output_at_the_end_is_not_mistaken_for_truncation(tmp_path: Path) -> None:
    """A last member whose output exceeds one step (`PIECE`) after all input was read."""
    data = b"\0" * (12 << 20)
    layer = factory.Layer([factory.File("zeros", data)], compression="gzip")
    diff = factory.layer_tar(layer)
    index = index_layer(source_layer(tmp_path, gzip.compress(diff, 9), diff))
    assert index.size == len(data)


def test_corrupt_zstd_is_an_error(tmp_path: Path) -> None:
    diff = factory.layer_tar(factory.Layer(ITEMS))
    blob = bytearray(factory.compress(diff, "zstd"))
    blob[len(blob) // 2] ^= 0xFF
    blob[len(blob) // 2 + 1] ^= 0xFF
    with pytest.raises(CorruptInput, match="layer 0"):
        index_layer(source_layer(tmp_path, bytes(blob), diff, digest=factory.sha256(bytes(blob))))


def test_digest_and_an_uncompressed_diff_id_are_verified(tmp_path: Path) -> None:
    diff = factory.layer_tar(factory.Layer(ITEMS))
    blob = gzip.compress(diff)
    with pytest.raises(CorruptInput, match="digest mismatch"):
        index_layer(source_layer(tmp_path, blob, diff, digest=factory.sha256(b"other")))
    with pytest.raises(CorruptInput, match="diff_id mismatch"):  # the tar is the blob
        index_layer(source_layer(tmp_path, diff, diff + b"x", digest=factory.sha256(diff)))
    # gzip's own CRC-32 still checks the inflater when the diff_id is not hashed
    bad_crc = blob[:-8] + bytes([blob[-8] ^ 1]) + blob[-7:]
    with pytest.raises(CorruptInput, match="corrupt gzip"):
        index_layer(source_layer(tmp_path, bad_crc, diff))


def test_empty_layer(tmp_path: Path) -> None:
    for compression in ("none", "gzip", "zstd"):
        index = index_of(tmp_path, factory.Layer([], compression=compression))  # type: ignore[arg-type]
        assert (index.entries, index.whiteouts, index.size) == ([], [], 0)


LONG = "usr/lib/python3/dist-packages/" + "very-long-directory-name/" * 6 + "module_file.py"
LONG_LINK = "usr/share/" + "x" * 120


@pytest.mark.parametrize("fmt", [tarfile.PAX_FORMAT, tarfile.GNU_FORMAT])
def test_long_names(tmp_path: Path, fmt: int) -> None:
    assert len(LONG) > 150
    layer = factory.Layer(
        [
            factory.File(LONG, b"x = 1\n"),
            factory.Symlink("usr/bin/long", "/" + LONG_LINK),
            factory.Hardlink("usr/lib/short.py", LONG),
        ],
        tar_format=fmt,
    )
    raw = factory.layer_tar(layer)
    marker = b"././@LongLink" if fmt == tarfile.GNU_FORMAT else b"path="
    assert marker in raw
    by_path = {e.path: e for e in index_of(tmp_path, layer).entries}
    assert by_path[LONG].size == 6
    assert by_path["usr/bin/long"].link == "/" + LONG_LINK
    assert by_path["usr/lib/short.py"].link == LONG


def test_implicit_parents_are_not_invented_by_the_reader(tmp_path: Path) -> None:
    layer = factory.Layer([factory.File("a/b/c/file", b"1")], auto_parents=False)
    index = index_of(tmp_path, layer)
    assert [e.path for e in index.entries] == ["a/b/c/file"]


def test_dot_slash_names(tmp_path: Path) -> None:
    info = tarfile.TarInfo("./etc/x")
    info.size = 2
    layer = factory.Layer([factory.Raw(info, b"hi")], auto_parents=False)
    assert [e.path for e in index_of(tmp_path, layer).entries] == ["etc/x"]


@pytest.mark.parametrize(
    ("name", "message"),
    [("../etc/passwd", "'..'"), ("a/../../b", "'..'"), ("/etc/passwd", "absolute path")],
)
def test_unsafe_names_are_errors(tmp_path: Path, name: str, message: str) -> None:
    info = tarfile.TarInfo(name)
    layer = factory.Layer([factory.Raw(info)], auto_parents=False, compression="none")
    with pytest.raises(CorruptInput, match=message):
        index_of(tmp_path, layer)


def test_unsafe_hardlink_target_is_an_error(tmp_path: Path) -> None:
    info = tarfile.TarInfo("etc/x")
    info.type = tarfile.LNKTYPE
    info.linkname = "../../etc/shadow"
    layer = factory.Layer([factory.Raw(info)], compression="none")
    with pytest.raises(CorruptInput, match=r"'\.\.'"):
        index_of(tmp_path, layer)


def test_elf_files_are_reduced_to_link_facts(tmp_path: Path) -> None:
    import sys

    layer = factory.Layer([factory.host_file(sys.executable, "usr/bin/python3")])
    index = index_of(tmp_path, layer)
    assert "usr/bin/python3" in index.elf
    assert "usr/bin/python3" not in index.contents


def test_cpython_binaries_carry_the_version_they_were_built_as(tmp_path: Path) -> None:
    """The version string is found in the interpreter (static build) or in libpython
    (shared build, whose executable is a stub); the oracle is the interpreter itself."""
    import subprocess
    import sys
    import sysconfig

    def version_of(python: str) -> str:
        cmd = [python, "-c", "import sys; print(sys.version.split()[0])"]
        return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip()

    v = f"{sys.version_info.major}.{sys.version_info.minor}"
    # LIBDIR, not base_prefix/lib: Debian's python3 keeps libpython in the multiarch dir.
    libdir = str(sysconfig.get_config_var("LIBDIR"))
    libpython = Path(libdir) / str(sysconfig.get_config_var("INSTSONAME"))
    items = [
        factory.host_file(sys.executable, f"opt/py/bin/python{v}"),  # the stub
        factory.host_file(libpython, f"opt/py/lib/{libpython.name}"),
        factory.host_file(sys.executable, "opt/py/bin/tool"),  # not named like a python
    ]
    debian = Path("/usr/bin/python3.11")
    if debian.exists():
        items.append(factory.host_file(debian, "usr/bin/python3.11"))
    index = index_of(tmp_path, factory.Layer(items))
    found = index.elf[f"opt/py/lib/{libpython.name}"].python_versions
    assert found == (version_of(sys.executable),)
    assert index.elf["opt/py/bin/tool"].python_versions == ()
    if debian.exists():
        assert index.elf["usr/bin/python3.11"].python_versions == (version_of(str(debian)),)
        assert index.elf["usr/bin/python3.11"].needed  # the link facts are still read


def test_executable_scripts_keep_their_shebang(tmp_path: Path) -> None:
    script = b"#!/opt/venv/bin/python\n" + b"# padding\n" * 100
    layer = factory.Layer(
        [
            factory.File("app/run.py", script, mode=0o755),
            factory.File("app/data.py", script, mode=0o644),  # not executable
            factory.File("app/blob", b"\x00" * 1000, mode=0o755),  # no shebang
        ]
    )
    index = index_of(tmp_path, layer)
    assert index.contents["app/run.py"] == script[:256]
    assert "app/data.py" not in index.contents and "app/blob" not in index.contents


def test_index_round_trips_through_json(tmp_path: Path) -> None:
    index = index_of(tmp_path, factory.Layer(ITEMS))
    assert LayerIndex.from_json(index.to_json()) == index


def test_aufs_metadata_is_ignored(tmp_path: Path) -> None:
    """Old AUFS-built layers carry `.wh..wh.plnk/...` and `.wh..wh.aufs`: bookkeeping,
    neither content nor whiteouts."""
    layer = factory.Layer(
        [
            factory.File(".wh..wh.aufs", b""),
            factory.Dir(".wh..wh.plnk"),
            factory.File(".wh..wh.plnk/123.456", b"x"),
            factory.File("etc/x", b"1"),
        ]
    )
    index = index_of(tmp_path, layer)
    assert [e.path for e in index.entries] == ["etc", "etc/x"]
    assert (index.whiteouts, index.opaque_dirs) == ([], [])


def _source_layers(tmp_path: Path, layers: list[factory.Layer]) -> tuple[SourceLayer, ...]:
    out = []
    for i, layer in enumerate(layers):
        diff = factory.layer_tar(layer)
        blob = factory.compress(diff, layer.compression)
        (tmp_path / f"{i}.blob").write_bytes(blob)
        out.append(
            SourceLayer(
                i,
                factory.sha256(diff),
                factory.sha256(blob),
                "",
                len(blob),
                FileSlice(str(tmp_path / f"{i}.blob")),
            )
        )
    return tuple(out)


STACK = [
    factory.Layer(ITEMS),
    factory.Layer([factory.File("app/a.py", b"a" * 100)], compression="zstd"),
    factory.Layer([factory.File("etc/os-release", b"ID=alpine\n")], compression="none"),
]


@pytest.fixture
def fork_events(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """ "fork" for each worker process started; a test appends its own events."""
    import multiprocessing.context

    events: list[str] = []
    start = multiprocessing.context.ForkProcess.start

    def logged_start(self: multiprocessing.context.ForkProcess) -> None:
        events.append("fork")
        start(self)

    monkeypatch.setattr(multiprocessing.context.ForkProcess, "start", logged_start)
    return events


def test_worker_processes_give_the_serial_indexes_and_fill_the_cache(tmp_path: Path) -> None:
    from auditor.cache import LayerCache
    from auditor.capture import DEFAULT_POLICY
    from auditor.layers import index_layers

    layers = _source_layers(tmp_path, STACK)
    layers = (*layers, layers[0])  # a layer twice in one image: read once
    serial = index_layers(layers, None, jobs=1)
    cache = LayerCache(tmp_path / "cache", DEFAULT_POLICY)
    parallel = index_layers(layers, cache, jobs=2)
    assert parallel == serial
    assert parallel[0] is parallel[3]
    assert len(list(cache.dir.iterdir())) == 3  # written by the workers
    again = LayerCache(tmp_path / "cache", DEFAULT_POLICY)
    assert index_layers(layers, again, jobs=2) == serial
    assert (again.hits, again.misses) == (3, 0)


def test_small_layers_are_read_here_while_workers_read_the_big_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fork_events: list[str]
) -> None:
    """A layer up to SMALL_LAYER stored bytes is read in this process once the workers
    run (a worker of its own cost more than its reading); the indexes and the cache are
    what workers make. Without a big layer, workers read the small ones as before."""
    from auditor import layers as layers_module
    from auditor.cache import LayerCache
    from auditor.capture import DEFAULT_POLICY
    from auditor.layers import index_layers

    layers = _source_layers(tmp_path, STACK)
    serial = index_layers(layers, None, jobs=1)
    events = fork_events
    biggest = max(layer.size or 0 for layer in layers)
    monkeypatch.setattr(layers_module, "SMALL_LAYER", biggest - 1)  # the others are small
    cache = LayerCache(tmp_path / "cache", DEFAULT_POLICY)
    got = index_layers(layers, cache, jobs=2, while_waiting=lambda: events.append("wait"))
    assert got == serial
    assert events == ["fork", "wait"]  # one worker, for the big layer
    assert len(list(cache.dir.iterdir())) == 3
    events.clear()
    monkeypatch.setattr(layers_module, "SMALL_LAYER", biggest)  # every layer small
    assert index_layers(layers, None, jobs=2, while_waiting=lambda: events.append("w")) == serial
    assert events == ["fork", "fork", "w", "fork"]
    # a damaged small layer read here is the scan's error, as a worker's would be
    monkeypatch.setattr(layers_module, "SMALL_LAYER", biggest - 1)
    small = min(layers, key=lambda layer: layer.size or 0)
    broken = dataclasses.replace(small, digest="sha256:" + "0" * 64)
    others = tuple(broken if layer is small else layer for layer in layers)
    with pytest.raises(CorruptInput, match="digest mismatch"):
        index_layers(others, None, jobs=2)


def test_a_worker_error_is_raised_in_the_parent(tmp_path: Path) -> None:
    from auditor.layers import index_layers

    layers = _source_layers(tmp_path, STACK)
    broken = dataclasses.replace(layers[1], digest="sha256:" + "0" * 64)
    with pytest.raises(CorruptInput, match="digest mismatch"):
        index_layers((layers[0], broken, layers[2]), None, jobs=2)


def test_a_worker_that_dies_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    from auditor import layers as layers_module

    layers = _source_layers(tmp_path, STACK)
    monkeypatch.setattr(layers_module, "index_layer", lambda *a, **k: os._exit(3))
    with pytest.raises(RuntimeError, match=r"died \(exit code 3\)"):
        layers_module.index_layers(layers, None, jobs=2)


def test_the_wait_for_workers_is_given_to_the_caller_once(tmp_path: Path) -> None:
    """`while_waiting` runs once in the parent, while worker processes read (a scan
    imports its facts' modules then), and never when no worker is started."""
    import os

    from auditor.layers import index_layers

    layers = _source_layers(tmp_path, STACK)
    calls: list[int] = []

    def waiting() -> None:
        calls.append(os.getpid())

    serial = index_layers(layers, None, jobs=1, while_waiting=waiting)
    assert calls == []  # read in this process: nobody to wait for
    parallel = index_layers(layers, None, jobs=2, while_waiting=waiting)
    assert parallel == serial
    assert calls == [os.getpid()]  # once, in the parent


def test_the_wait_is_given_once_the_first_workers_run(
    tmp_path: Path, fork_events: list[str]
) -> None:
    """With more layers than workers, `while_waiting` runs once the first workers are
    forked, not after the last fork: the parent takes no result while it works, and a
    worker whose result is not taken waits in its send (the largest layer's result
    waited for the checks' imports on the critical path)."""
    from auditor.layers import index_layers

    events = fork_events
    layers = _source_layers(tmp_path, STACK)  # three layers
    index_layers(layers, None, jobs=2, while_waiting=lambda: events.append("wait"))
    assert events == ["fork", "fork", "wait", "fork"]
