"""auditor/memory.py: big blocks the model frees go back to the kernel.

Each case runs in a fresh interpreter (glibc's malloc settings are per process): a
16 MiB block is freed first (glibc then raises its mmap threshold to 16 MiB, as after the
merge's dict tables), then an 8 MiB block is made, and glibc's own count of the bytes it
holds in blocks mapped one by one (`mallinfo2().hblkhd`, which a free gives back to the
kernel at once) tells whether that block is one. RSS would not tell: where the heap
cannot grow, glibc maps more of it, and that is given back too.
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

    mallinfo2 = ctypes.CDLL(None).mallinfo2
    mallinfo2.restype = MallInfo2

    for step in sys.argv[1:]:
        getattr(memory, step)()
    first = bytearray(16 << 20)
    del first  # glibc's threshold follows the largest mapped block freed: now 16 MiB
    for step in sys.argv[1:]:
        getattr(memory, step)()
    before = mallinfo2().hblkhd
    block = bytearray(8 << 20)
    mapped = mallinfo2().hblkhd - before
    del block
    print(json.dumps({"mapped_kb": mapped // 1024}))
    """
)


def _mapped_kb(*steps: str) -> int:
    """KiB of the 8 MiB block that glibc mapped as a block of its own."""
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
    assert _mapped_kb() == 0  # glibc's own way: from the heap, kept there once freed
    assert _mapped_kb("return_big_blocks") >= 8 * 1024


@pytest.mark.skipif(not _GLIBC, reason="glibc's mallopt and mallinfo2 only")
def test_reading_a_layer_takes_big_blocks_from_the_heap_again() -> None:
    assert _mapped_kb("return_big_blocks", "keep_big_blocks") == 0
