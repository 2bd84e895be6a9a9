"""auditor/memory.py: big blocks the model frees go back to the kernel.

Each case runs in a fresh interpreter (glibc's malloc settings are per process): a
16 MiB block is freed first (glibc then raises its mmap threshold to 16 MiB, as after the
merge's dict tables), then an 8 MiB block is made, touched and freed, and the test
reads how much memory stayed resident.
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
_HAS_MALLOPT = hasattr(ctypes.CDLL(None), "mallopt") and sys.platform.startswith("linux")

_PROBE = textwrap.dedent(
    """
    import json, sys
    from auditor import memory

    def rss_kb():
        with open("/proc/self/status") as fh:
            return next(int(line.split()[1]) for line in fh if line.startswith("VmRSS"))

    for step in sys.argv[1:]:
        getattr(memory, step)()
    before = rss_kb()
    first = bytearray(16 << 20)
    del first  # glibc's threshold follows the largest mapped block freed: now 16 MiB
    for step in sys.argv[1:]:
        getattr(memory, step)()
    block = bytearray(8 << 20)  # touched: zero-filled by bytearray
    del block
    print(json.dumps({"kept_kb": rss_kb() - before}))
    """
)


def _kept_kb(*steps: str) -> int:
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, *steps],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    return int(json.loads(out.stdout)["kept_kb"])


@pytest.mark.skipif(not _HAS_MALLOPT, reason="glibc's mallopt only")
def test_a_freed_big_block_goes_back_once_the_model_is_being_built() -> None:
    assert _kept_kb() > 6 * 1024  # glibc's own way: the 8 MiB stay on the heap
    assert _kept_kb("return_big_blocks") < 1024


@pytest.mark.skipif(not _HAS_MALLOPT, reason="glibc's mallopt only")
def test_reading_a_layer_keeps_big_blocks_on_the_heap_again() -> None:
    assert _kept_kb("return_big_blocks", "keep_big_blocks") > 6 * 1024
