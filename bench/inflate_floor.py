"""The parallel in-process inflate floor: every gzip layer inflated once, all layers at
the same time over the cores (one thread per core, largest layer first), nothing else.

Why in-process and why parallel: imgaudit inflates inside its own workers, one layer
per worker, so the floor it is compared with is the fastest inflater it could use, run
the same way: `gzip -dc` one layer after another (the older floor) is both a slower
inflater and serial. zlib, zlib-ng and ISA-L all release the GIL while they inflate, so
threads reach every core. A layer is one deflate stream (or a few gzip members): it
cannot be split, so the floor is at least the largest layer's time.

With `--verify`, each layer's stored bytes are also hashed with sha256 as they pass,
by a thread of the layer's own beside its inflating one (as imgaudit's reader does;
hashlib releases the GIL): the blob digest, which any reader that checks what it reads
must compute (the diff_id of a compressed blob is not hashed: auditor/layers.py
`_verify`). That is the floor of a verifying reader; imgaudit's cold scan does it and
everything else besides (tar headers, ELF parsing, the merge, facts and checks).

Run by bench/run.py with whichever Python has the module (the bench's own venv has
zlib-ng and isal; imgaudit's has both where isal has a wheel):

    python -m bench.inflate_floor [--verify] MODULE JOBS PATH:OFFSET:SIZE ...   # JSON
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import importlib
import json
import queue
import resource
import sys
import threading
import time
from typing import Any

CHUNK = 1 << 20
MODULES = {"zlib": "zlib", "zlib_ng": "zlib_ng.zlib_ng", "isal": "isal.isal_zlib"}


def inflate(
    path: str, offset: int, size: int, module: Any, verify: bool = False
) -> tuple[int, list[str]]:
    """Bytes out of one stored gzip blob (every member), read in 1 MiB pieces;
    `verify`: the stored bytes' sha256 computed on the way, by a hashing thread fed
    through a bounded queue, and returned (the blob digest)."""
    total = 0
    pieces: queue.Queue[tuple[Any, bytes] | None] = queue.Queue(8)
    hasher = threading.Thread(target=_hash_all, args=(pieces,)) if verify else None
    blob = hashlib.sha256()
    if hasher is not None:
        hasher.start()
    with open(path, "rb") as fh:
        fh.seek(offset)
        left = size
        d = module.decompressobj(31)
        while left > 0:
            raw = fh.read(min(CHUNK, left))
            if not raw:
                break
            left -= len(raw)
            if hasher is not None:
                pieces.put((blob, raw))
            while raw:
                out = d.decompress(raw)
                total += len(out)
                if d.eof:
                    raw = d.unused_data
                    d = module.decompressobj(31)
                    if not raw.strip(b"\0"):
                        raw = b""
                else:
                    raw = b""
    if hasher is None:
        return total, []
    pieces.put(None)
    hasher.join()
    return total, ["sha256:" + blob.hexdigest()]


def _hash_all(pieces: queue.Queue[tuple[Any, bytes] | None]) -> None:
    while (item := pieces.get()) is not None:
        item[0].update(item[1])


def floor(
    slices: list[tuple[str, int, int]], module_name: str, jobs: int, verify: bool = False
) -> dict[str, Any]:
    module = importlib.import_module(MODULES[module_name])
    order = sorted(slices, key=lambda s: -s[2])
    cpu0 = time.process_time()
    start = time.perf_counter()

    def one(blob: tuple[str, int, int]) -> tuple[int, list[str]]:
        return inflate(blob[0], blob[1], blob[2], module, verify)

    with concurrent.futures.ThreadPoolExecutor(jobs) as pool:
        done = dict(zip(order, pool.map(one, order)))
    wall = time.perf_counter() - start
    out: dict[str, Any] = {"wall": wall, "cpu": time.process_time() - cpu0}
    out["bytes"] = sum(n for n, _ in done.values())
    if verify:  # per blob, in the order given: [blob digest]
        out["digests"] = [done[s][1] for s in slices]
    return out


def main(argv: list[str]) -> int:
    verify = argv[:1] == ["--verify"]
    module_name, jobs, *specs = argv[1:] if verify else argv
    slices = []
    for spec in specs:
        path, offset, size = spec.rsplit(":", 2)
        slices.append((path, int(offset), int(size)))
    result = floor(slices, module_name, int(jobs), verify)
    result["maxrss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
