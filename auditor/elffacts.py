"""What one ELF file says about loading it: typed, immutable, serialisable.

Two states, two types (a reader of the facts never guesses from missing keys):

- `ElfFacts`: the file was read: its header (what glibc's loader checks before it maps
  anything) and its link facts (PT_INTERP, DT_NEEDED, DT_SONAME, DT_RPATH, DT_RUNPATH,
  DT_FLAGS_1, symbol versions needed and defined).
- `UnreadableElf`: the file starts with the ELF magic but its link facts could not be
  read (truncated, corrupt, hostile, or beyond what the streaming parser keeps), with
  whatever of the header was read: the loader still judges such a file as a candidate
  (a truncated library of the right class and machine is found, then cannot load).

Both share `ElfHeader`. The raw EI_CLASS byte is kept as is: glibc skips a candidate
whose class byte is not its own (even a garbage one) and goes on searching, while other
header faults stop the search (auditor/facts/elfgraph.py). This module imports nothing
of the project: the layer index model stores these values.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

ELFCLASS32, ELFCLASS64 = 1, 2
DF_1_NODEFLIB = 0x00000800  # do not search the default directories (nor their cache entries)
DF_1_PIE = 0x08000000  # a position-independent executable: not loadable as a library


@dataclass(frozen=True, slots=True)
class ElfHeader:
    """The ELF header and program headers, as the loader's first read sees them.

    `ei_class` is the raw EI_CLASS byte (1 = 32-bit, 2 = 64-bit, anything else is
    garbage), None when the file ended before it. `header_fault` is glibc's message for
    an identification the loader refuses once the class matched (data encoding, version,
    OS ABI, padding, e_version); `fault` the first refusal after the machine matched
    (object type, program header size, program headers unreadable, unaligned or missing
    PT_LOAD). `mapped_end` is how many bytes of the file the PT_LOAD segments map: a
    shorter file is mapped past its end and the process dies with SIGBUS."""

    ei_class: int | None = None
    machine: str | None = None  # EM_X86_64, ...
    type: str | None = None  # ET_DYN, ET_EXEC, ...
    header_fault: str | None = None
    fault: str | None = None
    has_dynamic: bool = False  # a PT_DYNAMIC with content (separate debug files have none)
    mapped_end: int = 0
    # the CPython versions a python binary or libpython says it was built as
    # (auditor/versionprobe.py); empty for every other file
    python_versions: tuple[str, ...] = ()

    @property
    def elf_class(self) -> int | None:
        """32 or 64; None for a garbage or missing class byte."""
        return {ELFCLASS32: 32, ELFCLASS64: 64}.get(self.ei_class or 0)

    @property
    def loadable_type(self) -> bool:
        return self.type in ("ET_EXEC", "ET_DYN")


@dataclass(frozen=True, slots=True)
class ElfFacts(ElfHeader):
    """An ELF file whose link facts were read in full."""

    interp: str | None = None
    needed: tuple[str, ...] = ()
    soname: str | None = None
    rpath: tuple[str, ...] | None = None  # None: no DT_RPATH; () an empty one
    runpath: tuple[str, ...] | None = None  # None: no DT_RUNPATH (presence disables RPATH)
    flags_1: int = 0
    # library name (vn_file) -> versions needed from it (weak references left out: a
    # missing weak version is not an error for ld.so)
    verneed: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    verdef: tuple[str, ...] = ()  # versions defined (the base entry, the file's own name, left out)
    stripped: bool = True

    @property
    def is_pie(self) -> bool:
        return bool(self.flags_1 & DF_1_PIE)

    @property
    def nodeflib(self) -> bool:
        return bool(self.flags_1 & DF_1_NODEFLIB)

    @property
    def is_program(self) -> bool:
        """Run by the kernel rather than loaded by another object: ET_EXEC, a PIE, or an
        ET_DYN with a program interpreter and no DT_SONAME. libc.so.6 is runnable too (it
        has PT_INTERP) but carries a DT_SONAME and no PIE flag: a library."""
        if self.type == "ET_EXEC":
            return True
        if self.type != "ET_DYN":
            return False
        return self.is_pie or (self.interp is not None and not self.soname)


#: What the streaming parser (auditor/elf.py) says when its own bounds stopped it (the
#: kept head, the range cap, memory) rather than a fault of the file: such a file may be
#: whole and load fine, so its unread link facts are imgaudit's limit, not the image's.
READER_LIMITS = (
    "already passed in the stream",
    "over the cap of",
    "beyond what the streaming parser keeps",
    "MemoryError",
)


@dataclass(frozen=True, slots=True)
class UnreadableElf(ElfHeader):
    """An ELF file whose link facts could not be read; `reason` says why."""

    reason: str = ""

    def reader_limited(self, size: int) -> bool:
        """The parser's bounds stopped it, and nothing it read refuses the file: a header
        the loader accepts (no `header_fault`, no `fault`) and, for a file of `size`
        bytes, every byte its PT_LOAD segments map (a shorter file is truncated: SIGBUS).
        Such a file may load fine: its unread facts are not a fact about the image."""
        limited = any(marker in self.reason for marker in READER_LIMITS)
        whole = size >= self.mapped_end
        return limited and whole and self.header_fault is None and self.fault is None


AnyElf = ElfFacts | UnreadableElf


def to_json(facts: AnyElf) -> dict[str, Any]:
    """A compact JSON object (the layer index stores it); `from_json` reads it back."""
    out: dict[str, Any] = {
        "c": facts.ei_class,
        "m": facts.machine,
        "t": facts.type,
        "hf": facts.header_fault,
        "f": facts.fault,
        "d": facts.has_dynamic,
        "e": facts.mapped_end,
    }
    if facts.python_versions:
        out["pv"] = list(facts.python_versions)
    if isinstance(facts, UnreadableElf):
        out["error"] = facts.reason
        return out
    out.update(
        i=facts.interp,
        n=list(facts.needed),
        s=facts.soname,
        r=None if facts.rpath is None else list(facts.rpath),
        rr=None if facts.runpath is None else list(facts.runpath),
        f1=facts.flags_1,
        vn={k: list(v) for k, v in facts.verneed.items()},
        vd=list(facts.verdef),
        st=facts.stripped,
    )
    return out


def _strs(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError("bad ELF facts: expected a list of strings")
    return tuple(value)


def _opt_str(value: Any) -> str | None:
    if value is not None and not isinstance(value, str):
        raise ValueError("bad ELF facts: expected a string")
    return value


def _int(value: Any, nullable: bool = False) -> Any:
    if value is None and nullable:
        return None
    if type(value) is not int:
        raise ValueError("bad ELF facts: expected an integer")
    return value


def from_json(data: Any) -> AnyElf:
    """The value `to_json` wrote; ValueError for anything else (a damaged index)."""
    if not isinstance(data, dict):
        raise ValueError("bad ELF facts: not an object")
    header = {
        "ei_class": _int(data.get("c"), nullable=True),
        "machine": _opt_str(data.get("m")),
        "type": _opt_str(data.get("t")),
        "header_fault": _opt_str(data.get("hf")),
        "fault": _opt_str(data.get("f")),
        "has_dynamic": bool(data.get("d")),
        "mapped_end": _int(data.get("e", 0)),
        "python_versions": _strs(data["pv"]) if "pv" in data else (),
    }
    if "error" in data:
        return UnreadableElf(**header, reason=str(data["error"]))
    verneed = data.get("vn")
    if not isinstance(verneed, dict):
        raise ValueError("bad ELF facts: verneed")
    return ElfFacts(
        **header,
        interp=_opt_str(data.get("i")),
        needed=_strs(data.get("n")),
        soname=_opt_str(data.get("s")),
        rpath=None if data.get("r") is None else _strs(data.get("r")),
        runpath=None if data.get("rr") is None else _strs(data.get("rr")),
        flags_1=_int(data.get("f1", 0)),
        verneed={str(k): _strs(v) for k, v in verneed.items()},
        verdef=_strs(data.get("vd")),
        stripped=bool(data.get("st", True)),
    )
