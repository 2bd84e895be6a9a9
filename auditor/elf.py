"""ELF link facts, extracted while a layer streams.

Only what linkage analysis needs is kept: class, machine, type, PT_INTERP, DT_NEEDED,
DT_SONAME, DT_RPATH, DT_RUNPATH, symbol versions needed and defined, stripped.
The file itself is never held in memory: it is spooled to a private temporary file
once it passes SPOOL_MEMORY bytes, then parsed with pyelftools, which seeks to the
ranges it needs.

A file that pyelftools cannot parse (truncated, corrupt, hostile) yields an
`{"error": ...}` record: the scan goes on and the file is reported as unparseable.
"""

from __future__ import annotations

import shutil
import tempfile
from typing import IO, Any

from elftools.common.exceptions import ELFError
from elftools.elf.dynamic import DynamicSection, DynamicSegment
from elftools.elf.elffile import ELFFile
from elftools.elf.gnuversions import GNUVerDefSection, GNUVerNeedSection

ELF_MAGIC = b"\x7fELF"
SPOOL_MEMORY = 8 << 20
MAX_LIST = 4096  # cap on DT_NEEDED / version entries kept per file (hostile input)


def parse_elf_stream(stream: IO[bytes], head: bytes, tmpdir: str | None = None) -> dict[str, Any]:
    """Parse an ELF whose first bytes (`head`) were already read from `stream`."""
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY, dir=tmpdir) as spool:
        spool.write(head)
        shutil.copyfileobj(stream, spool, 1 << 20)
        spool.seek(0)
        return parse_elf(spool)


def parse_elf(fh: IO[bytes]) -> dict[str, Any]:
    """Link facts of a seekable ELF file; `{"error": reason}` when it cannot be parsed."""
    try:
        return _parse(fh)
    except (
        ELFError,
        ValueError,
        KeyError,
        IndexError,
        AssertionError,
        OSError,
        TypeError,
        UnicodeDecodeError,
        AttributeError,
        RecursionError,
        OverflowError,
        MemoryError,
    ) as exc:
        return {"error": f"{type(exc).__name__}: {str(exc)[:200]}"}
    except Exception as exc:  # pyelftools raises construct errors of many kinds
        return {"error": f"{type(exc).__name__}: {str(exc)[:200]}"}


def _parse(fh: IO[bytes]) -> dict[str, Any]:
    elf = ELFFile(fh)
    facts: dict[str, Any] = {
        "class": elf.elfclass,
        "machine": elf["e_machine"],
        "type": elf["e_type"],
        "interp": None,
        "needed": [],
        "soname": None,
        "rpath": [],
        "runpath": [],
        "verneed": {},
        "verdef": [],
        "stripped": True,
    }
    dynamic: Any = None
    seg: Any
    for seg in elf.iter_segments():
        if seg["p_type"] == "PT_INTERP":
            facts["interp"] = seg.get_interp_name()
        elif isinstance(seg, DynamicSegment):
            dynamic = seg
    if dynamic is None:
        for sec in elf.iter_sections():
            if isinstance(sec, DynamicSection):
                dynamic = sec
                break
    if dynamic is not None:
        tag: Any
        for tag in dynamic.iter_tags():
            kind = tag.entry.d_tag
            if kind == "DT_NEEDED" and len(facts["needed"]) < MAX_LIST:
                facts["needed"].append(tag.needed)
            elif kind == "DT_SONAME":
                facts["soname"] = tag.soname
            elif kind == "DT_RPATH":
                facts["rpath"] = [p for p in tag.rpath.split(":") if p]
            elif kind == "DT_RUNPATH":
                facts["runpath"] = [p for p in tag.runpath.split(":") if p]
    for sec in elf.iter_sections():
        if sec["sh_type"] == "SHT_SYMTAB":
            facts["stripped"] = False
        elif isinstance(sec, GNUVerNeedSection):
            for verneed, auxes in sec.iter_versions():
                names = sorted({aux.name for aux in auxes})[:MAX_LIST]
                facts["verneed"][verneed.name] = names
        elif isinstance(sec, GNUVerDefSection):
            for verdef, auxes in sec.iter_versions():
                if verdef["vd_flags"] & 0x1:  # VER_FLG_BASE names the file itself
                    continue
                for aux in auxes:
                    if len(facts["verdef"]) < MAX_LIST:
                        facts["verdef"].append(aux.name)
                    break
    facts["verdef"] = sorted(set(facts["verdef"]))
    return facts
