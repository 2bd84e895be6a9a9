"""The image's layers as checks see them: one summary per layer, in order.

What BL003, BL004, SZ001 and SZ005 need from the layers (size, entries, whether it
changes what lower layers wrote, the build step that made it, whether it is the base
image's), without the loader that read them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import compress
from operator import attrgetter, countOf

from auditor.layerindex import DIR, FILE, Entry, LayerIndex


@dataclass(frozen=True, eq=False)
class LayerFacts:
    index: int  # position in the image, 0 = the bottom layer
    diff_id: str
    created_by: str | None  # the Dockerfile step (history), cleaned; None: unknown
    in_base: bool | None  # the base image's layer (provenance); None: unknown
    size: int  # bytes of regular-file content it writes (what `docker history` shows)
    files: int  # entries that are not directories
    whiteouts: int  # paths it deletes from lower layers
    opaque_dirs: int  # directories whose lower content it hides
    entries: Sequence[Entry]  # every tar entry it holds, in tar order

    @property
    def empty(self) -> bool:
        """No entry, no whiteout, no opaque directory: the layer changes nothing."""
        return not (self.entries or self.whiteouts or self.opaque_dirs)

    @property
    def changes_lower(self) -> bool:
        """It deletes or hides something a lower layer wrote."""
        return bool(self.whiteouts or self.opaque_dirs)


def files_in(index: LayerIndex) -> int:
    """Entries of a layer that are not directories (files, links, devices): counted in C,
    once per layer of ~1M entries in a big image."""
    return len(index.entries) - countOf(map(_KIND, index.entries), DIR)


def size_of(index: LayerIndex) -> int:
    """`index.size` (bytes of the regular files the layer writes), summed in C: the
    report and the layer facts each ask, per layer of up to ~1M entries."""
    entries = index.entries
    return sum(compress(map(_SIZE, entries), map(FILE.__eq__, map(_KIND, entries))))


_KIND, _SIZE = attrgetter("kind"), attrgetter("size")


def summarise(
    index: LayerIndex, position: int, created_by: str | None, in_base: bool | None
) -> LayerFacts:
    return LayerFacts(
        index=position,
        diff_id=index.diff_id,
        created_by=created_by,
        in_base=in_base,
        size=size_of(index),
        files=files_in(index),
        whiteouts=len(index.whiteouts),
        opaque_dirs=len(index.opaque_dirs),
        entries=index.entries,
    )
