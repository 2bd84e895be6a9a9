"""Memory helpers for the steps that build many small objects or parse big files.

`gc_paused` is used where indexes are decoded and merged and where checks run;
`trim_heap` by the layer reader after a big ELF file; `return_big_blocks` where the
model is built, `keep_big_blocks` where a layer is read.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator
from typing import Any


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Build many small containers (index entries, merged nodes) with the cyclic garbage
    collector off. None of them form cycles, and with the collector on, every full
    collection triggered by the allocations re-walks all objects built so far: that
    was ~40% of loading and merging a 100k-entry image. Restores the previous state."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


_libc_functions: dict[str, Any] = {}


def _libc(name: str) -> Any:
    """The C library's function `name`, or None where there is none (not glibc)."""
    if name not in _libc_functions:
        try:
            import ctypes

            _libc_functions[name] = getattr(ctypes.CDLL(None), name)
        except (OSError, AttributeError):
            _libc_functions[name] = None
    return _libc_functions[name]


def trim_heap() -> None:
    """Give the heap's free memory back to the kernel (glibc; a no-op elsewhere).

    The ELF parser of a big library holds up to ~50 MB at once (PREFIX_CAP + TAIL_CAP,
    auditor/elf.py). Once that is freed, glibc keeps it: its mmap threshold grows to the
    largest buffer freed so far, so later buffers that size come from the heap and stay
    resident. A worker that read a 1.4 GB layer sat at ~65 MB RSS holding ~15 MB of live
    objects. Trimming after each big ELF (a few dozen per image, ~1 ms each) costs
    nothing measurable; a fixed mmap threshold (mallopt) cost 12% more CPU on gzip
    layers (every 4 MB inflate step became a fresh mapping)."""
    malloc_trim = _libc("malloc_trim")
    if malloc_trim:
        malloc_trim(0)


_M_TRIM_THRESHOLD = -1  # glibc's mallopt parameters
_M_MMAP_THRESHOLD = -3
_RETURNED = 128 * 1024  # glibc's own starting threshold
_KEPT = 32 * 1024 * 1024  # the most glibc's own adjustment reaches (64-bit)
_big_blocks_returned = False


def _set_mmap_threshold(size: int) -> bool:
    """glibc's mmap threshold fixed at `size`, and its trim threshold where glibc's own
    adjustment puts it (twice that): a free at the top of the heap below it stays."""
    mallopt = _libc("mallopt")
    return bool(
        mallopt and mallopt(_M_MMAP_THRESHOLD, size) and mallopt(_M_TRIM_THRESHOLD, 2 * size)
    )


def return_big_blocks() -> None:
    """From here on, each block of 128 KiB or more is a mapping of its own, given back to
    the kernel when freed (glibc; a no-op elsewhere).

    Why: building the model allocates and frees big blocks (decoded columns, the merge's
    dict as it grows, sorted lists). glibc raises its mmap threshold to the size of the
    largest mapped block freed so far, so the next blocks that size come from the heap,
    and once freed they stay resident between live ones. On a million-file image the
    scan's peak fell from ~260 to ~245 MB RSS with the threshold fixed here
    (bench/PROFILE.md). Not for reading layers: see `keep_big_blocks`."""
    global _big_blocks_returned
    _big_blocks_returned = _set_mmap_threshold(_RETURNED) or _big_blocks_returned


def keep_big_blocks() -> None:
    """Undo `return_big_blocks` for reading a layer (in a worker forked from a process
    that built a model before, or in-process): the reader's 1 MiB pieces, allocated and
    freed thousands of times, would each be a fresh mapping (a fixed low threshold cost
    12% more CPU on gzip layers; `trim_heap` gives back what big ELF files leave)."""
    if _big_blocks_returned:
        _set_mmap_threshold(_KEPT)
