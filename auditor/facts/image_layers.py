"""The image's layers as checks see them: one summary per layer, in order.

What BL003, BL004, SZ001 and SZ005 need from the layers (size, entries, whether it
changes what lower layers wrote, the build step that made it, whether it is the base
image's), without the loader that read them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # deferred: start-up time, see README "Performance"
    from auditor.layerindex import EntryTable, LayerIndex


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
    entries: EntryTable  # every tar entry it holds, in tar order

    @property
    def empty(self) -> bool:
        """No entry, no whiteout, no opaque directory: the layer changes nothing."""
        return not (self.entries or self.whiteouts or self.opaque_dirs)

    @property
    def changes_lower(self) -> bool:
        """It deletes or hides something a lower layer wrote."""
        return bool(self.whiteouts or self.opaque_dirs)


def summarise(
    index: LayerIndex, position: int, created_by: str | None, in_base: bool | None
) -> LayerFacts:
    return LayerFacts(
        index=position,
        diff_id=index.diff_id,
        created_by=created_by,
        in_base=in_base,
        size=index.size,
        files=index.files,
        whiteouts=len(index.whiteouts),
        opaque_dirs=len(index.opaque_dirs),
        entries=_table(index),
    )


def _table(index: LayerIndex) -> EntryTable:
    from auditor.layerindex import EntryTable

    return EntryTable.of(index.entries)
