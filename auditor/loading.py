"""Loading an image: reference -> Image -> layer indexes -> FileSystem.

The first three steps of the pipeline (sources, layers, fs); auditor/pipeline.py
wires them to the rest. Each step only sees the output of the one before (see the
README's data-flow diagram).

A `LoadedImage` reads its layers on first use, not when it is made: when the per-image
result cache (auditor/results.py) already holds everything a report needs, an
unchanged image is reported without touching a single layer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from auditor.cache import default_cache_dir
from auditor.errors import CorruptInput
from auditor.history import created_by_per_layer
from auditor.limits import DEFAULT_MAX_ENTRIES, DEFAULT_MAX_RATIO
from auditor.sources import SourceOptions, open_image
from auditor.sources.interface import Image

# deferred: start-up time, see README "Performance" (the layer reader, its inflaters and
# the filesystem model are imported when layers are read: a scan answered from the
# result cache reads none)
if TYPE_CHECKING:
    from auditor.fs import FileSystem
    from auditor.layerindex import LayerIndex


@dataclass(frozen=True)
class LoadOptions:
    source: SourceOptions = field(default_factory=SourceOptions)
    cache_dir: Path | None = None  # None: the default (IMGAUDIT_CACHE_DIR or XDG cache)
    use_cache: bool = True
    jobs: int = 0  # worker processes for layer reads; 0 = one per core
    max_ratio: int = DEFAULT_MAX_RATIO
    max_entries: int = DEFAULT_MAX_ENTRIES  # tar entries per image, all layers together

    @property
    def cache_root(self) -> Path | None:
        """Where the layer and result caches live; None when caching is off."""
        if not self.use_cache:
            return None
        return self.cache_dir or default_cache_dir()


class LayersNeeded(Exception):
    """A report needed the layers of an image opened with `layers_allowed=False`."""


class LoadedImage:
    """An image, its layers indexed and merged on first use: what facts derive from.

    `indexes` and `fs` read the layers (through the layer cache) the first time either
    is asked for; errors in the layers surface then, as `InputError`s.
    """

    def __init__(
        self,
        image: Image,
        options: LoadOptions | None = None,
        indexes: list[LayerIndex] | None = None,
        layers_allowed: bool = True,
    ) -> None:
        """`layers_allowed=False`: asking for the layers raises `LayersNeeded` (the fleet
        tries the result cache first, before it schedules the layers' reads)."""
        self.image = image
        self.options = options or LoadOptions()
        self.layers_allowed = layers_allowed
        self.created_by: list[str | None] = created_by_per_layer(image.config, len(image.layers))
        self._indexes = indexes
        self.cache_hits = 0
        self.layers_read = 0

    @property
    def fs_loaded(self) -> bool:
        """Whether the merged filesystem was built (it is, once anything asked for it)."""
        return "fs" in self.__dict__

    @property
    def indexes(self) -> list[LayerIndex]:
        return self.read()

    def read(self, while_waiting: Callable[[], object] | None = None) -> list[LayerIndex]:
        """The layer indexes, read now if they were not yet. `while_waiting`: work for
        this process while worker processes read the layers (called once, if they do)."""
        if self._indexes is None:
            if not self.layers_allowed:
                raise LayersNeeded(self.image.source.reference)
            self._indexes = self._read_layers(while_waiting)
        return self._indexes

    @cached_property
    def fs(self) -> FileSystem:
        from auditor.fs import FileSystem

        return FileSystem(self.indexes)

    def _read_layers(self, while_waiting: Callable[[], object] | None) -> list[LayerIndex]:
        from auditor.cache import LayerCache
        from auditor.capture import DEFAULT_POLICY
        from auditor.layers import index_layers

        options, image = self.options, self.image
        root = options.cache_root
        cache = LayerCache(root, DEFAULT_POLICY) if root is not None else None
        limits = (options.max_ratio, options.max_entries)
        indexes = index_layers(
            image.layers, cache, options.jobs, DEFAULT_POLICY, *limits, while_waiting=while_waiting
        )
        total = sum(len(ix.entries) for ix in indexes)
        if total > options.max_entries:
            raise CorruptInput(
                f"{image.source.reference}: {total} tar entries in all layers, over the limit "
                f"of {options.max_entries}; raise --max-entries to read it"
            )
        self.cache_hits = cache.hits if cache is not None else 0
        self.layers_read = len({ly.digest for ly in image.layers}) - self.cache_hits
        return indexes


def open_loaded(reference: str, options: LoadOptions | None = None) -> LoadedImage:
    """The image opened (manifest and config read), its layers not yet read."""
    options = options or LoadOptions()
    return LoadedImage(open_image(reference, options.source), options)


def load_image(reference: str, options: LoadOptions | None = None) -> LoadedImage:
    """The image with every layer read now (errors in layers raise here)."""
    options = options or LoadOptions()
    return load_layers(open_image(reference, options.source), options)


def load_layers(image: Image, options: LoadOptions) -> LoadedImage:
    loaded = LoadedImage(image, options)
    loaded.indexes  # noqa: B018 - read the layers now
    return loaded
