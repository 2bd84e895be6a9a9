"""Libraries whose dynamic string table is larger than what the streaming parser keeps
still give their DT_NEEDED, DT_SONAME, DT_RPATH and version names (auditor/elf.py):
from the strings harvested as the table streams past the kept head (GNU ld writes the
soname, search path and version names after every symbol name), or, for a table after
.dynamic (patchelf's layout), by streaming the table and keeping what is asked for.

The big library is made by the host's assembler and linker: tens of thousands of C++
mangled symbols (the bulk of real big libraries' tables) with a version script, a
search path and real dependencies. The parser's caps are lowered for the test, so a
few MB stand for the hundreds of MB a real framework library has.
"""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import tarfile
import tempfile
import tracemalloc
import zipfile
from pathlib import Path
from typing import Any, cast

import pytest

import auditor.elf as elf
from auditor.elffacts import ElfFacts, UnreadableElf
from tests.support.downloads import opencv_wheels
from tests.support.services import cache_dir, file_lock
from tests.test_elf_facts import _as_dict, _pyelftools_facts

SYMBOLS = 40_000
CAP = 1 << 20


def big_library() -> Path:
    """A shared library with a ~4 MB .dynstr, built once into the test cache."""
    out = cache_dir() / "elf-fixtures" / f"libiabig-{SYMBOLS}.so.1"
    if out.exists():
        return out
    if shutil.which("gcc") is None:
        pytest.skip("gcc is not installed (assembles the big library)")
    # one builder at a time: xdist workers of several test files ask for it at once
    with file_lock(out.with_name(out.name + ".lock")):
        if not out.exists():
            _build_big_library(out)
    return out


def _build_big_library(out: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="imgaudit-big-") as tmp:
        work = Path(tmp)
        lines = [".text", ".globl use_libc", ".type use_libc,@function", "use_libc:",
                 " jmp memcpy@PLT"]  # fmt: skip
        for i in range(SYMBOLS):
            name = f"_ZN8imgaudit5tests6nested9namespace8function{i}EPKcRKSt6vectorIiSaIiEE"
            lines += [f".globl {name}", f".type {name},@function", f"{name}:", " ret"]
        (work / "big.s").write_text("\n".join(lines) + "\n")
        (work / "big.map").write_text("BIGLIB_1.0 { global: *; };\nBIGLIB_2.0 { } BIGLIB_1.0;\n")
        partial = out.with_name(out.name + ".partial")
        out.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["gcc", "-shared", "-o", str(partial), str(work / "big.s"),
             "-Wl,-soname,libiabig.so.1", "-Wl,--version-script=" + str(work / "big.map"),
             "-Wl,--disable-new-dtags,-rpath,$ORIGIN/../vendored:/opt/big/lib",
             "-Wl,--no-as-needed", "-lz", "-lm", "-Wl,-z,noexecstack"],
            check=True, capture_output=True,
        )  # fmt: skip
        partial.replace(out)


def _dynstr_size(path: Path) -> int:
    done = subprocess.run(["readelf", "-SW", str(path)], capture_output=True, text=True)
    m = re.search(r"\.dynstr\s+STRTAB\s+\S+\s+(\S+)\s+(\S+)", done.stdout)
    assert m is not None
    return int(m.group(1), 16) + int(m.group(2), 16)


def test_a_string_table_past_the_kept_head_is_harvested(monkeypatch: pytest.MonkeyPatch) -> None:
    path = big_library()
    assert _dynstr_size(path) > 3 * CAP  # the table runs well past the (lowered) cap
    monkeypatch.setattr(elf, "PREFIX_CAP", CAP)
    monkeypatch.setattr(elf, "TAIL_CAP", CAP)
    data = path.read_bytes()
    tracemalloc.start()
    try:
        facts = elf.parse_elf(io.BytesIO(data))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert isinstance(facts, ElfFacts), facts
    expected = _pyelftools_facts(str(path))
    assert _as_dict(facts) == expected
    assert facts.needed == ("libz.so.1", "libm.so.6", "libc.so.6")
    assert facts.rpath == ("$ORIGIN/../vendored", "/opt/big/lib")
    assert facts.verdef == ("BIGLIB_1.0", "BIGLIB_2.0")
    assert "GLIBC_2.14" in facts.verneed["libc.so.6"]
    # mangled names are not kept: memory is the caps, not the table
    assert peak < 4 * CAP + (2 << 20), peak


def test_without_the_harvest_the_file_says_what_it_could_not_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The same library with harvesting off: an UnreadableElf that says why (reported
    by IN001), never facts with names silently missing."""
    path = big_library()
    monkeypatch.setattr(elf, "PREFIX_CAP", CAP)
    monkeypatch.setattr(elf, "TAIL_CAP", CAP)
    monkeypatch.setattr(elf, "_HARVEST", re.compile(rb"(?!)"))
    facts = elf.parse_elf(io.BytesIO(path.read_bytes()))
    assert isinstance(facts, UnreadableElf)
    assert "lies beyond what the streaming parser keeps" in facts.reason
    assert (facts.elf_class, facts.machine, facts.has_dynamic) == (64, "EM_X86_64", True)


def test_a_string_table_after_dynamic_is_streamed(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """patchelf (auditwheel repair) moves .dynstr into a new segment after .dynamic:
    streamed (here every such table, BIG_STRTAB lowered to 0), the facts are the same."""
    opencv = opencv_wheels()
    wheels = sorted(opencv.glob("opencv_python-*manylinux*.whl"))
    assert wheels
    monkeypatch.setattr(elf, "BIG_STRTAB", 0)
    streamed = 0
    with zipfile.ZipFile(wheels[0]) as zf:
        for name in zf.namelist():
            if name.endswith("/") or (".libs/" not in name and not name.endswith("abi3.so")):
                continue
            target = tmp_path / "lib.so"
            target.write_bytes(zf.read(name))
            calls: list[Any] = []
            original = elf._Forward.stream_strings

            def spy(self: Any, *args: Any, calls: list[Any] = calls, orig: Any = original) -> Any:
                calls.append(args)
                return orig(self, *args)

            monkeypatch.setattr(elf._Forward, "stream_strings", spy)
            with open(target, "rb") as fh:
                facts = elf.parse_elf(fh)
            assert _as_dict(facts) == _pyelftools_facts(str(target)), name
            streamed += bool(calls)
    assert streamed > 10


class _LayerLikeStream:
    """What the layer reader hands the ELF parser through tarstream.Content: `read`,
    `skip` and `append_to`, with the bytes each passed on counted."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self.pos = 0
        self.copied = 0  # bytes handed out by read or append_to
        self.skipped = 0

    def read(self, n: int = -1) -> bytes:
        end = len(self._data) if n < 0 else min(len(self._data), self.pos + n)
        out = self._data[self.pos : end]
        self.pos = end
        self.copied += len(out)
        return out

    def skip(self, n: int) -> None:
        if self.pos + n > len(self._data):
            raise tarfile.ReadError("unexpected end of data")
        self.pos += n
        self.skipped += n

    def append_to(self, buf: bytearray, n: int) -> int:
        data = self.read(n)
        buf += data
        return len(data)


@pytest.mark.parametrize("member_cut", [None, 100_000])
def test_the_layer_readers_path_gives_the_same_facts_and_skips_without_copies(
    monkeypatch: pytest.MonkeyPatch, member_cut: int | None
) -> None:
    """Through tarstream.Content (the kept head grown by `append_to`, bytes that no
    harvest can use passed over by `pass_over`), the facts are those of a plain file
    object: harvested strings included (caps lowered, as above), and a member cut
    short is the same UnreadableElf. Past the harvest window nothing is copied."""
    from auditor import tarstream

    path = big_library()
    monkeypatch.setattr(elf, "PREFIX_CAP", CAP)
    monkeypatch.setattr(elf, "TAIL_CAP", CAP)
    data = path.read_bytes()
    if member_cut is not None:
        data = data[:member_cut]
    stream = _LayerLikeStream(data)
    content = tarstream.Content(stream, len(data))
    head = content.read(4)
    through_content = elf.parse_elf(cast(Any, content), head)
    plain = elf.parse_elf(io.BytesIO(data))
    assert type(through_content) is type(plain)
    if member_cut is None:
        assert isinstance(through_content, ElfFacts)
        assert _as_dict(through_content) == _as_dict(plain)
        assert through_content.verdef == ("BIGLIB_1.0", "BIGLIB_2.0")
        assert len(data) > 2 * CAP + (1 << 20)
        assert stream.skipped > 0  # past 2 x PREFIX_CAP: passed over, not copied
        assert stream.copied + stream.skipped <= len(data)
    else:
        assert isinstance(through_content, UnreadableElf)
        assert through_content.reason == cast(UnreadableElf, plain).reason


def test_the_kept_head_reused_from_a_bigger_file_shows_none_of_its_bytes() -> None:
    """The kept head's storage goes from one file to the next (auditor/elf.py `_Head`):
    a small library parsed after the big one (whose head filled the storage with its
    own tables) has exactly the facts of a fresh parse and of pyelftools, over and over;
    one storage is kept at a time, and `release_spare_heads` gives it back."""
    from tests.test_elf_facts import LIBSQLITE

    big = big_library().read_bytes()
    small_path = LIBSQLITE if Path(LIBSQLITE).exists() else "/usr/bin/ls"
    small = Path(small_path).read_bytes()
    elf.release_spare_heads()
    fresh = _as_dict(elf.parse_elf(io.BytesIO(small)))
    assert fresh == _pyelftools_facts(small_path)
    for _ in range(3):
        assert isinstance(elf.parse_elf(io.BytesIO(big)), ElfFacts)
        assert len(elf._spare_heads) == 1
        assert _as_dict(elf.parse_elf(io.BytesIO(small))) == fresh
    elf.release_spare_heads()
    assert elf._spare_heads == []


def test_a_head_past_its_storage_moves_to_a_bytearray() -> None:
    """The storage is PREFIX_CAP bytes; the parser never keeps more, but should a head
    outgrow it, the bytes move to a growing bytearray and nothing is lost."""
    short = elf._Head(b"abc")
    assert short.range(1, 100) == b"bc"  # cut at the head's end, not the storage's
    short.release()
    head = elf._Head(b"\x7fELF")
    size = len(head.buf)
    head += b"a" * (size - 4)
    head += b"bc"
    assert isinstance(head.buf, bytearray)
    assert len(head) == size + 2
    assert head.range(0, 6) == b"\x7fELFaa"
    assert head.range(size - 1, size + 10) == b"abc"
    head.release()
    elf.release_spare_heads()  # the mapping it left, filled above: not kept for later tests


def test_without_address_space_for_the_mapping_the_head_is_a_bytearray(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Under a low `ulimit -v` the mapping cannot be made: the head grows as a bytearray
    and the facts are the same."""
    from tests.test_elf_facts import LIBSQLITE

    small_path = LIBSQLITE if Path(LIBSQLITE).exists() else "/usr/bin/ls"
    data = Path(small_path).read_bytes()
    elf.release_spare_heads()

    def no_mapping(*args: Any, **kwargs: Any) -> Any:
        raise OSError(12, "Cannot allocate memory")

    monkeypatch.setattr(elf.mmap, "mmap", no_mapping)
    facts = elf.parse_elf(io.BytesIO(data))
    assert _as_dict(facts) == _pyelftools_facts(small_path)
    assert elf._spare_heads == []


def test_a_reused_head_is_not_shared_with_forked_workers() -> None:
    """A process holding a spare head forks layer workers (a long-lived process: the
    Python API, a fleet worker, a test run): each worker must get its own copy. An
    anonymous mapping is shared across fork by default, and two workers parsing side by
    side overwrote each other's tables (DT_NEEDED names such as '\\x0c')."""
    import os

    from auditor import elf

    elf.release_spare_heads()
    elf._Head(b"p" * 64).release()  # this process now holds a spare head
    pid = os.fork()
    if pid == 0:  # the worker takes the spare and writes its own file's bytes into it
        elf._Head(b"c" * 64)
        os._exit(0)
    os.waitpid(pid, 0)
    (spare,) = elf._spare_heads
    try:
        assert spare[:64] == b"p" * 64
    finally:
        elf.release_spare_heads()
