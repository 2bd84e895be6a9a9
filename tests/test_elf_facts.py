"""ELF link facts from the forward-only parser, on real host files, hostile input and a
big padded library streamed through `index_layer` in bounded memory."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import struct
import tarfile
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
from elftools.elf.dynamic import DynamicSection
from elftools.elf.elffile import ELFFile
from elftools.elf.gnuversions import GNUVerNeedSection

from auditor import layers
from auditor.elf import PREFIX_CAP, parse_elf
from auditor.elffacts import AnyElf, ElfFacts, UnreadableElf
from auditor.layers import index_layer
from auditor.sources.interface import FileSlice, Layer
from tests.support.downloads import MANYLINUX2014, opencv_wheels, pypi_or_skip

LIBSQLITE = "/usr/lib/x86_64-linux-gnu/libsqlite3.so.0"
LIBC = "/lib/x86_64-linux-gnu/libc.so.6"
HOST_FILES = [LIBSQLITE, LIBC, "/usr/bin/ls", "/usr/bin/python3"]


def _pyelftools_facts(path: str) -> dict[str, Any]:
    """The same facts through pyelftools' general object model (an independent reader)."""
    with open(path, "rb") as fh:
        elf = ELFFile(fh)
        needed: list[str] = []
        soname = None
        verneed: dict[str, list[str]] = {}
        stripped = True
        sec: Any
        for sec in elf.iter_sections():
            if isinstance(sec, DynamicSection):
                tag: Any
                for tag in sec.iter_tags():
                    if tag.entry.d_tag == "DT_NEEDED":
                        needed.append(tag.needed)
                    elif tag.entry.d_tag == "DT_SONAME":
                        soname = tag.soname
            elif isinstance(sec, GNUVerNeedSection):
                for vn, auxes in sec.iter_versions():
                    verneed[str(vn.name)] = sorted({a.name for a in auxes})
            if sec["sh_type"] == "SHT_SYMTAB":
                stripped = False
        return {
            "class": elf.elfclass,
            "machine": elf["e_machine"],
            "type": elf["e_type"],
            "needed": needed,
            "soname": soname,
            "verneed": verneed,
            "stripped": stripped,
        }


def _as_dict(facts: AnyElf) -> dict[str, Any]:
    """The typed facts in _pyelftools_facts' shape."""
    assert isinstance(facts, ElfFacts), facts
    return {
        "class": facts.elf_class,
        "machine": facts.machine,
        "type": facts.type,
        "needed": list(facts.needed),
        "soname": facts.soname,
        "verneed": {k: list(v) for k, v in facts.verneed.items()},
        "stripped": facts.stripped,
    }


@pytest.mark.parametrize("path", [p for p in HOST_FILES if os.path.exists(p)])
def test_facts_agree_with_pyelftools(path: str) -> None:
    with open(path, "rb") as fh:
        facts = parse_elf(fh)
    assert _as_dict(facts) == _pyelftools_facts(path)


def test_interp_and_glibc_versions_defined() -> None:
    with open("/usr/bin/ls", "rb") as fh:
        ls = parse_elf(fh)
    assert isinstance(ls, ElfFacts)
    assert ls.interp == "/lib64/ld-linux-x86-64.so.2"
    assert "libc.so.6" in ls.needed and ls.is_program
    with open(LIBC, "rb") as fh:
        libc = parse_elf(fh)
    assert isinstance(libc, ElfFacts)
    assert "GLIBC_2.34" in libc.verdef and "GLIBC_2.2.5" in libc.verdef
    assert libc.soname == "libc.so.6" and not libc.is_program


@pytest.mark.parametrize("cut", [4, 20, 63, 200, 4096, 40000])
def test_truncated_elf_gives_an_error_record(cut: int) -> None:
    data = Path(LIBSQLITE).read_bytes()[:cut]
    facts = parse_elf(io.BytesIO(data))
    assert isinstance(facts, UnreadableElf) and facts.reason
    if cut >= 64:  # the header was read: what the loader needs to judge the file
        assert (facts.elf_class, facts.machine, facts.type) == (64, "EM_X86_64", "ET_DYN")
        phnum = struct.unpack_from("<H", data, 0x38)[0]
        if cut >= 64 + 56 * phnum:  # and the program headers: how much the segments map
            assert facts.mapped_end > cut and facts.fault is None
        else:  # glibc: "cannot read file data" when the program headers are cut
            assert facts.fault == "cannot read file data"


def test_corrupt_headers_give_an_error_record() -> None:
    data = bytearray(Path(LIBSQLITE).read_bytes())
    struct.pack_into("<Q", data, 0x20, len(data) * 4)  # e_phoff far past the end
    facts = parse_elf(io.BytesIO(bytes(data)))
    assert isinstance(facts, UnreadableElf) and facts.fault == "cannot read file data"
    data = bytearray(Path(LIBSQLITE).read_bytes())
    data[4] = 7  # bad class byte
    facts = parse_elf(io.BytesIO(bytes(data)))
    assert isinstance(facts, UnreadableElf) and facts.ei_class == 7 and facts.elf_class is None


class _PaddedLibrary(io.RawIOBase):
    """A real host library with PAD zero bytes inserted before its section header table
    (e_shoff patched): a valid ELF of ~PAD bytes, produced without holding it."""

    def __init__(self, path: str, pad: int) -> None:
        data = bytearray(Path(path).read_bytes())
        shoff = struct.unpack_from("<Q", data, 0x28)[0]
        struct.pack_into("<Q", data, 0x28, shoff + pad)
        self.parts = [bytes(data[:shoff]), None, bytes(data[shoff:])]
        self.pad = pad
        self.size = len(data) + pad
        self._i = 0
        self._left = pad

    def readable(self) -> bool:
        return True

    def readinto(self, buf: Any) -> int:
        while self._i < 3:
            part = self.parts[self._i]
            if part is None:
                n = min(len(buf), self._left)
                if n:
                    buf[:n] = bytes(n)
                    self._left -= n
                    return n
                self._i += 1
                continue
            if part:
                n = min(len(buf), len(part))
                buf[:n] = part[:n]
                self.parts[self._i] = part[n:]
                return n
            self._i += 1
        return 0


def test_big_library_streams_through_index_layer_in_bounded_memory(tmp_path: Path) -> None:
    pad = 300 << 20
    lib = _PaddedLibrary(LIBSQLITE, pad)
    tar_path = tmp_path / "layer.tar"
    with tarfile.open(tar_path, "w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("usr/lib/libhuge.so")
        info.size = lib.size
        tar.addfile(info, io.BufferedReader(lib, 1 << 20))
    digest = hashlib.sha256()
    with open(tar_path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    diff_id = "sha256:" + digest.hexdigest()
    layer = Layer(
        0,
        diff_id,
        diff_id,
        "application/vnd.oci.image.layer.v1.tar",
        None,
        FileSlice(str(tar_path)),
    )
    tracemalloc.start()
    try:
        index = index_layer(layer)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    facts = index.elf["usr/lib/libhuge.so"]
    with open(LIBSQLITE, "rb") as fh:
        expected = parse_elf(fh)
    assert facts == expected
    assert isinstance(facts, ElfFacts) and "libc.so.6" in facts.needed
    # What the ELF parser may keep (its prefix) and the reader thread may hold ready
    # (its queue, the piece being parsed, one being decoded), plus slack: not the file.
    bound = PREFIX_CAP + (layers._AHEAD + 2) * layers.PIECE + (8 << 20)
    assert peak < bound, f"peak {peak >> 20} MiB while streaming a {lib.size >> 20} MiB ELF"


@pytest.mark.parametrize("release", ["5.0.0.93", "4.10.0.84"])
def test_patchelf_layout_of_repaired_wheels_agrees_with_pyelftools(
    tmp_path: Path, release: str
) -> None:
    """auditwheel-repaired libraries (patchelf moved .dynstr next to a new .dynamic, far
    beyond the kept head: cv2.abi3.so is 72 MB) parse the same as with pyelftools.
    4.10.0.84 (the realistic set's official-guide) vendors a 37 MB libopenblas whose
    section headers sit between .dynamic and the .dynstr patchelf appended."""
    import zipfile

    if release == "5.0.0.93":
        opencv = opencv_wheels()
    else:
        pin = f"opencv-python=={release}"
        opencv = pypi_or_skip([pin], platforms=MANYLINUX2014, label="opencv-4")
    wheels = sorted(opencv.glob(f"opencv_python-{release}-*manylinux*.whl"))
    assert wheels
    checked = 0
    with zipfile.ZipFile(wheels[0]) as zf:
        for name in zf.namelist():
            if not (name.endswith(".so") or ".so." in name):
                continue
            target = tmp_path / "lib.so"
            target.write_bytes(zf.read(name))
            with open(target, "rb") as fh:
                facts = parse_elf(fh)
            assert _as_dict(facts) == _pyelftools_facts(str(target)), name
            checked += 1
    assert checked > 10


def _shift_after_first_segment(data: bytes, pad: int) -> bytes:
    """The same 64-bit ELF with `pad` zero bytes inserted where its second PT_LOAD
    starts (page-aligned, so addresses stay congruent): everything from .text on, the
    .dynamic section included, moves `pad` bytes further into the file, while .dynstr
    and the version tables stay in the first segment."""
    out = bytearray(data)
    phoff, shoff = struct.unpack_from("<QQ", data, 0x20)
    phnum = struct.unpack_from("<H", data, 0x38)[0]
    shentsize, shnum = struct.unpack_from("<HH", data, 0x3A)
    loads = sorted(
        struct.unpack_from("<Q", data, phoff + i * 56 + 8)[0]
        for i in range(phnum)
        if struct.unpack_from("<I", data, phoff + i * 56)[0] == 1
    )
    cut = loads[1]
    assert cut % 4096 == 0
    for i in range(phnum):
        at = phoff + i * 56 + 8
        if struct.unpack_from("<Q", data, at)[0] >= cut:
            struct.pack_into("<Q", out, at, struct.unpack_from("<Q", data, at)[0] + pad)
    for i in range(shnum):
        at = shoff + i * shentsize + 0x18
        if struct.unpack_from("<Q", data, at)[0] >= cut:
            struct.pack_into("<Q", out, at, struct.unpack_from("<Q", data, at)[0] + pad)
    struct.pack_into("<Q", out, 0x28, shoff + pad)
    return bytes(out[:cut]) + bytes(pad) + bytes(out[cut:])


def test_dynamic_section_far_beyond_the_kept_head() -> None:
    """.dynamic 40 MB into the file (past PREFIX_CAP): parsed through the forward path,
    same facts as the compact original, memory bounded by the caps."""
    from auditor.elf import PREFIX_CAP, TAIL_CAP

    original = Path(LIBSQLITE).read_bytes()
    big = _shift_after_first_segment(original, 40 << 20)
    with open(LIBSQLITE, "rb") as fh:
        expected = parse_elf(fh)
    stream = io.BytesIO(big)
    tracemalloc.start()
    try:
        facts = parse_elf(stream)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert isinstance(facts, ElfFacts)
    assert facts.mapped_end > 40 << 20  # the segments moved; everything else is the same
    assert facts == dataclasses.replace(expected, mapped_end=facts.mapped_end)
    assert peak < PREFIX_CAP + TAIL_CAP + (8 << 20)
