"""auditor/memory.py: big blocks the model frees go back to the kernel.

Each case runs in a fresh interpreter (glibc's malloc settings are per process). The
mmap threshold is first put where glibc's own adjustment leaves it once big blocks have
been freed (32 MiB: after the merge's dict tables), then the steps run, then a 24 MiB
block is made, and glibc's own count of the bytes it holds in blocks mapped one by one
(`mallinfo2().hblkhd`, which a free gives back to the kernel at once) tells whether
that block is one. Neither RSS nor a freed block as the starting point would do: where
the heap cannot grow, glibc maps more heap (and gives that back too), and whether a
freed block moved the threshold depends on what the interpreter left free at start-up
(both seen on CI).
"""

from __future__ import annotations

import ctypes
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
_LIBC = ctypes.CDLL(None)
_GLIBC = sys.platform.startswith("linux") and all(
    hasattr(_LIBC, name) for name in ("mallopt", "mallinfo2")
)

_PROBE = textwrap.dedent(
    """
    import ctypes, json, sys
    from auditor import memory

    class MallInfo2(ctypes.Structure):
        _fields_ = [(name, ctypes.c_size_t) for name in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
            "uordblks", "fordblks", "keepcost")]

    libc = ctypes.CDLL(None)
    mallinfo2 = libc.mallinfo2
    mallinfo2.restype = MallInfo2

    libc.malloc_trim(0)
    libc.mallopt(-3, 32 << 20)  # M_MMAP_THRESHOLD as glibc leaves it after big frees
    for step in sys.argv[1:]:
        getattr(memory, step)()
    before = mallinfo2().hblkhd
    block = bytearray(24 << 20)
    mapped = mallinfo2().hblkhd - before
    del block
    print(json.dumps({"mapped_kb": mapped // 1024}))
    """
)


def _mapped_kb(*steps: str) -> int:
    """KiB of the 24 MiB block that glibc mapped as a block of its own."""
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, *steps],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    return int(json.loads(out.stdout)["mapped_kb"])


@pytest.mark.skipif(not _GLIBC, reason="glibc's mallopt and mallinfo2 only")
def test_a_big_block_is_its_own_mapping_once_the_model_is_being_built() -> None:
    assert _mapped_kb() == 0  # from the heap, kept there once freed
    assert _mapped_kb("return_big_blocks") >= 24 * 1024


@pytest.mark.skipif(not _GLIBC, reason="glibc's mallopt and mallinfo2 only")
def test_reading_a_layer_takes_big_blocks_from_the_heap_again() -> None:
    assert _mapped_kb("return_big_blocks", "keep_big_blocks") == 0
