"""The layer model: what reading one layer yields, as pure data (no I/O, no imports
of the project but the ELF facts model, auditor/elffacts.py, itself pure data).

A `LayerIndex` holds every tar entry of one layer as an `Entry` tuple, the paths its
whiteouts delete, the directories it makes opaque, the file contents the capture
policy kept, and the ELF link facts of its ELF files. The reader (auditor/layers.py)
produces it, the layer cache (auditor/cache.py, auditor/indexcodec.py) stores it, and
the filesystem model (auditor/fs.py) merges indexes; facts and checks see entries
through `fs`, which offers the entry kinds below.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

from auditor import elffacts

# 2: ELF facts from the forward-only parser (auditor/elf.py); 3: the compact binary file
# (auditor/indexcodec.py) instead of gzip'd JSON; 4: typed ELF facts with the loader's
# header checks (auditor/elffacts.py); 5: section headers read in file order (a library
# patchelf rewrote, unreadable in 4, now has its link facts)
INDEX_FORMAT = 5

# Entry kinds
FILE, DIR, SYMLINK, HARDLINK, CHAR, BLOCK, FIFO = "f", "d", "l", "h", "c", "b", "p"
KINDS = frozenset({FILE, DIR, SYMLINK, HARDLINK, CHAR, BLOCK, FIFO})


class Entry(NamedTuple):
    """One tar entry (a tuple: compact in memory and as JSON)."""

    path: str
    kind: str
    mode: int
    uid: int
    gid: int
    size: int
    mtime: int
    link: str  # symlink target as written, or hard-link target path; "" otherwise


#: How a `LayerIndex.skipped` note ends when imgaudit kept only the head of a file's
#: content (its capture policy's limit): the file is in the image as written, so the
#: note is a limit of the reader, not a fact about the image.
CAPTURE_LIMIT = "over the capture limit of"


def reader_limit(note: str) -> bool:
    """Whether a skipped-entry note states imgaudit's own limit (the content was cut),
    not something the image holds that cannot be modelled (an unsupported entry type,
    a malformed whiteout, absurd metadata)."""
    return CAPTURE_LIMIT in note


@dataclass
class LayerIndex:
    """Everything later steps need from one layer, without its bytes."""

    diff_id: str
    entries: list[Entry] = field(default_factory=list)
    whiteouts: list[str] = field(default_factory=list)  # paths deleted from lower layers
    opaque_dirs: list[str] = field(default_factory=list)  # dirs whose lower content is hidden
    contents: dict[str, bytes] = field(default_factory=dict)  # captured file contents
    elf: dict[str, elffacts.AnyElf] = field(default_factory=dict)  # path -> ELF link facts
    skipped: list[str] = field(default_factory=list)  # entries not indexed, with the reason
    tar_size: int = 0  # bytes of the uncompressed tar stream

    @property
    def size(self) -> int:
        """Bytes of regular-file content the layer writes (what `docker history` shows)."""
        return sum(e.size for e in self.entries if e.kind == FILE)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": INDEX_FORMAT,
            "diff_id": self.diff_id,
            "entries": [list(e) for e in self.entries],
            "whiteouts": self.whiteouts,
            "opaque_dirs": self.opaque_dirs,
            "contents": {k: v.decode("latin-1") for k, v in self.contents.items()},
            "elf": {k: elffacts.to_json(v) for k, v in self.elf.items()},
            "skipped": self.skipped,
            "tar_size": self.tar_size,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LayerIndex:
        if data.get("format") != INDEX_FORMAT:
            raise ValueError("index format changed")
        return cls(
            diff_id=data["diff_id"],
            entries=[Entry(*e) for e in data["entries"]],
            whiteouts=list(data["whiteouts"]),
            opaque_dirs=list(data["opaque_dirs"]),
            contents={k: v.encode("latin-1") for k, v in data["contents"].items()},
            elf={k: elffacts.from_json(v) for k, v in data["elf"].items()},
            skipped=list(data["skipped"]),
            tar_size=int(data["tar_size"]),
        )
