"""One scan, start to finish: reference -> Image -> layer indexes -> FileSystem.

This is the only place that wires the steps together; each step only sees the output
of the one before (see the README's data-flow diagram).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from auditor.cache import LayerCache, default_cache_dir
from auditor.capture import DEFAULT_POLICY
from auditor.errors import CorruptInput
from auditor.fs import FileSystem
from auditor.history import created_by_per_layer
from auditor.layers import DEFAULT_MAX_ENTRIES, DEFAULT_MAX_RATIO, LayerIndex, index_layers
from auditor.sources import SourceOptions, open_image
from auditor.sources.interface import Image


@dataclass(frozen=True)
class ScanOptions:
    source: SourceOptions = field(default_factory=SourceOptions)
    cache_dir: Path | None = None  # None: the default (IMGAUDIT_CACHE_DIR or XDG cache)
    use_cache: bool = True
    jobs: int = 0  # worker processes for layer reads; 0 = one per core
    max_ratio: int = DEFAULT_MAX_RATIO
    max_entries: int = DEFAULT_MAX_ENTRIES  # tar entries per image, all layers together


@dataclass
class LoadedImage:
    """An image with its layers indexed and merged: everything facts are derived from."""

    image: Image
    indexes: list[LayerIndex]
    fs: FileSystem
    created_by: list[str | None]
    cache_hits: int = 0
    layers_read: int = 0


def load_image(reference: str, options: ScanOptions | None = None) -> LoadedImage:
    options = options or ScanOptions()
    image = open_image(reference, options.source)
    return load_layers(image, options)


def load_layers(image: Image, options: ScanOptions) -> LoadedImage:
    cache = None
    if options.use_cache:
        cache = LayerCache(options.cache_dir or default_cache_dir(), DEFAULT_POLICY)
    indexes = index_layers(
        image.layers, cache, options.jobs, DEFAULT_POLICY, options.max_ratio, options.max_entries
    )
    total = sum(len(ix.entries) for ix in indexes)
    if total > options.max_entries:
        raise CorruptInput(
            f"{image.source.reference}: {total} tar entries in all layers, over the limit of "
            f"{options.max_entries}; raise --max-entries to read it"
        )
    hits = cache.hits if cache is not None else 0
    unique = len({ly.diff_id for ly in image.layers})
    return LoadedImage(
        image=image,
        indexes=indexes,
        fs=FileSystem(indexes),
        created_by=created_by_per_layer(image.config, len(image.layers)),
        cache_hits=hits,
        layers_read=unique - hits,
    )
