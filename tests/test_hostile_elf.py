"""Damaged ELF files, through the public scan path: each is recorded as unparseable
(IN001, info) or parsed for what it holds, and the scan goes on. The parser itself is
auditor/elf.py; these tests only hold it to the scan's contract."""

from __future__ import annotations

import io
import struct
from pathlib import Path

from elftools.elf.elffile import ELFFile

from tests import factory
from tests.factory import File, Layer
from tests.test_hostile_tar import in001, scan_json

GOOD = Path("/bin/true").resolve().read_bytes()
_EHDR = "<16sHHIQQQIHHHHHH"
_FIELDS = [
    "ident",
    "type",
    "machine",
    "version",
    "entry",
    "phoff",
    "shoff",
    "flags",
    "ehsize",
    "phentsize",
    "phnum",
    "shentsize",
    "shnum",
    "shstrndx",
]


def _header(**changes: int) -> bytes:
    values = dict(zip(_FIELDS, struct.unpack_from(_EHDR, GOOD, 0)))
    values.update(changes)
    return struct.pack(_EHDR, *values.values()) + GOOD[64:]


def _section(name: str) -> tuple[int, int]:
    sec = ELFFile(io.BytesIO(GOOD)).get_section_by_name(name)
    assert sec is not None
    return sec["sh_offset"], sec["sh_size"]


def _dynamic(rewrite: str) -> bytes:
    data = bytearray(GOOD)
    off, size = _section(".dynamic")
    for i in range(size // 16):
        tag, _ = struct.unpack_from("<qQ", data, off + 16 * i)
        if rewrite == "needed-offset-huge" and tag == 1:  # DT_NEEDED far past .dynstr
            struct.pack_into("<qQ", data, off + 16 * i, 1, 2**63)
        elif rewrite == "no-terminator":  # no DT_NULL: every entry a DT_NEEDED
            struct.pack_into("<qQ", data, off + 16 * i, 1, 0)
    return bytes(data)


def _dynstr_without_nul() -> bytes:
    data = bytearray(GOOD)
    off, size = _section(".dynstr")
    data[off : off + size] = b"A" * size
    return bytes(data)


# Nothing to read: every ELF parser must give up on these.
UNPARSEABLE = {
    "usr/lib/trunc16.so": GOOD[:16],
    "usr/lib/trunc63.so": GOOD[:63],
    "usr/lib/trunc-half.so": GOOD[: len(GOOD) // 2],
    "usr/lib/phoff-past-end.so": _header(phoff=10**12),
    "usr/lib/class-bad.so": b"\x7fELF\x09" + GOOD[5:],
    "usr/lib/all-ff.so": b"\x7fELF" + b"\xff" * 100_000,
}
# Damaged in parts a parser may or may not need (section headers, counts, the dynamic
# table's terminator or string offsets): parsed or reported, never a crash or a hang.
DAMAGED = {
    "usr/lib/shoff-past-end.so": _header(shoff=10**12),
    "usr/lib/shnum-giant.so": _header(shnum=65535),
    "usr/lib/shentsize-zero.so": _header(shentsize=0),
    "usr/lib/shstrndx-bad.so": _header(shstrndx=60000),
    "usr/lib/phnum-giant.so": _header(phnum=65535),
    "usr/lib/needed-offset-huge.so": _dynamic("needed-offset-huge"),
    "usr/lib/dynamic-no-terminator.so": _dynamic("no-terminator"),
    "usr/lib/dynstr-no-nul.so": _dynstr_without_nul(),
}


def test_damaged_elf_files_are_reported_and_the_scan_goes_on(tmp_path: Path) -> None:
    files = [File(p, d, mode=0o755) for p, d in {**UNPARSEABLE, **DAMAGED}.items()]
    files.append(File("usr/bin/true", GOOD, mode=0o755))
    files.append(File("etc/os-release", b"ID=debian\nVERSION_ID=12\n"))
    spec = factory.ImageSpec(layers=[Layer(files)])
    layout = factory.write_oci_dir(factory.build(spec), tmp_path / "l")
    report = scan_json(f"oci:{layout}")  # a subprocess with a hang timeout of its own
    (finding,) = in001(report)
    assert finding["severity"] == "info"
    reported = set(finding["evidence"]["unparseable"])
    assert set(UNPARSEABLE) <= reported <= set(UNPARSEABLE) | set(DAMAGED)
    assert finding["evidence"]["count"] == len(reported)
    assert finding["message"].startswith(f"{len(reported)} ELF files could not be parsed")
    assert sorted([finding["path"], *finding.get("paths", [])]) == sorted("/" + p for p in reported)
    assert all(isinstance(e, str) and e for e in finding["evidence"]["unparseable"].values())
    # The scan went on: every check ran to a result.
    assert report["results"] and all(r["status"] != "error" for r in report["results"])
