"""The parallel in-process inflate floor: every gzip layer inflated once, all layers at
the same time over the cores (one thread per core, largest layer first), nothing else.

Why in-process and why parallel: imgaudit inflates inside its own workers, one layer
per worker, so the floor it is compared with is the fastest inflater it could use, run
the same way: `gzip -dc` one layer after another (the older floor) is both a slower
inflater and serial. zlib, zlib-ng and ISA-L all release the GIL while they inflate, so
threads reach every core. A layer is one deflate stream (or a few gzip members): it
cannot be split, so the floor is at least the largest layer's time.

Run by bench/run.py with whichever Python has the module (the bench's own venv has
zlib-ng and isal; imgaudit's has both where isal has a wheel):

    python -m bench.inflate_floor MODULE JOBS PATH:OFFSET:SIZE ...   # prints JSON
"""

from __future__ import annotations

import concurrent.futures
import importlib
import json
import resource
import sys
import time
from typing import Any

CHUNK = 1 << 20
MODULES = {"zlib": "zlib", "zlib_ng": "zlib_ng.zlib_ng", "isal": "isal.isal_zlib"}


def inflate(path: str, offset: int, size: int, module: Any) -> int:
    """Bytes out of one stored gzip blob (every member), read in 1 MiB pieces."""
    total = 0
    with open(path, "rb") as fh:
        fh.seek(offset)
        left = size
        d = module.decompressobj(31)
        while left > 0:
            raw = fh.read(min(CHUNK, left))
            if not raw:
                break
            left -= len(raw)
            while raw:
                total += len(d.decompress(raw))
                if d.eof:
                    raw = d.unused_data
                    d = module.decompressobj(31)
                    if not raw.strip(b"\0"):
                        raw = b""
                else:
                    raw = b""
    return total


def floor(slices: list[tuple[str, int, int]], module_name: str, jobs: int) -> dict[str, Any]:
    module = importlib.import_module(MODULES[module_name])
    order = sorted(slices, key=lambda s: -s[2])
    cpu0 = time.process_time()
    start = time.perf_counter()

    def one(blob: tuple[str, int, int]) -> int:
        return inflate(blob[0], blob[1], blob[2], module)

    with concurrent.futures.ThreadPoolExecutor(jobs) as pool:
        out = sum(pool.map(one, order))
    wall = time.perf_counter() - start
    return {"wall": wall, "cpu": time.process_time() - cpu0, "bytes": out}


def main(argv: list[str]) -> int:
    module_name, jobs, *specs = argv
    slices = []
    for spec in specs:
        path, offset, size = spec.rsplit(":", 2)
        slices.append((path, int(offset), int(size)))
    result = floor(slices, module_name, int(jobs))
    result["maxrss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
