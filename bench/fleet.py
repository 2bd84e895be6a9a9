"""Benchmark: `imgaudit fleet` against `imgaudit scan` per image in a loop.

    python3 bench/fleet.py [--images 36] [--bases 3] [--scheduler tcp://HOST:PORT]

Starts a private registry (docker-registry, stopped by PID), pushes a fleet of factory
images sharing `--bases` base stacks (real host libraries; 1-3 small app layers per
image), then scans the whole fleet three ways, each with a fresh layer cache and
history store:

- loop, no cache: `python3 -m auditor scan --no-cache` per image (every layer of
  every image is read);
- loop, shared cache: `python3 -m auditor scan` per image, one cache dir for all
  (what a cron job on one machine would do);
- fleet: `python3 -m auditor fleet --from-file` (default LocalCluster, 2 workers;
  or `--scheduler`).

Prints wall time, images per minute and layer reads (blobs actually decompressed and
indexed: counted from the cache entries written, or from the reports' layer lists
for the no-cache loop) and reads saved against one read per layer use. Timings
depend on the machine and its load; this is a measurement, not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from auditor.cache import SUFFIX as CACHE_SUFFIX  # noqa: E402
from tests.support.fleetimages import push_fleet  # noqa: E402
from tests.support.services import Registry  # noqa: E402


def cache_entries(cache: Path) -> int:
    return sum(1 for _ in cache.glob("layers/*/*" + CACHE_SUFFIX))


def loop(refs: list[str], work: Path, no_cache: bool) -> dict[str, float]:
    cache = work / ("loop-nocache" if no_cache else "loop-cache")
    env = {**os.environ, "IMGAUDIT_CACHE_DIR": str(cache), "PYTHONPATH": str(ROOT)}
    db = f"sqlite:///{work / ('loop-nocache.db' if no_cache else 'loop-cache.db')}"
    layer_uses = 0
    start = time.monotonic()
    for ref in refs:
        cmd = [sys.executable, "-m", "auditor", "scan", f"docker://{ref}", "-f", "json", "-q"]
        cmd += ["--db", db, "--record"] + (["--no-cache"] if no_cache else [])
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=ROOT)
        if proc.returncode not in (0, 1):
            raise SystemExit(f"scan {ref} failed: {proc.stderr.strip()}")
        layer_uses += len(json.loads(proc.stdout)["image"]["layers"])
    seconds = time.monotonic() - start
    reads = layer_uses if no_cache else cache_entries(cache)
    return {"seconds": seconds, "layer_uses": layer_uses, "reads": reads}


def fleet(refs: list[str], work: Path, scheduler: str | None) -> dict[str, float]:
    listing = work / "refs.txt"
    listing.write_text("".join(f"{r}\n" for r in refs))
    out = work / "fleet.json"
    cmd = [sys.executable, "-m", "auditor", "fleet", "--from-file", str(listing), "-q"]
    cmd += ["--db", f"sqlite:///{work / 'fleet.db'}", "--cache-dir", str(work / "fleet-cache")]
    cmd += ["-f", "json", "-o", str(out)] + (["--scheduler", scheduler] if scheduler else [])
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    start = time.monotonic()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=ROOT)
    seconds = time.monotonic() - start
    if proc.returncode != 0:
        raise SystemExit(f"fleet failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}")
    stats = json.loads(out.read_text())["stats"]
    return {
        "seconds": seconds,
        "engine_seconds": stats["seconds"],
        "layer_uses": stats["layer_refs"],
        "reads": stats["layers_read"],
        "transfers": stats.get("transfers"),
        "transferred_bytes": stats.get("transferred_bytes"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=36)
    parser.add_argument("--bases", type=int, default=3)
    parser.add_argument("--scheduler", help="a running Dask scheduler (default: LocalCluster)")
    args = parser.parse_args()
    registry = Registry.start()
    try:
        images = push_fleet(registry, args.images, args.bases)
        refs = [img.reference for img in images]
        with tempfile.TemporaryDirectory(prefix="imgaudit-bench-") as tmp:
            work = Path(tmp)
            rows = [
                ("loop, no cache", loop(refs, work, no_cache=True)),
                ("loop, shared cache", loop(refs, work, no_cache=False)),
                ("fleet (Dask)", fleet(refs, work, args.scheduler)),
            ]
    finally:
        registry.stop()
    print(f"{len(refs)} images over {args.bases} shared bases, {os.cpu_count()} cores")
    print(
        f"{'mode':<20} {'seconds':>8} {'images/min':>11} {'layer uses':>11} "
        f"{'reads':>6} {'reads saved':>12}"
    )
    for name, r in rows:
        per_min = 60.0 * len(refs) / r["seconds"]
        saved = r["layer_uses"] - r["reads"]
        print(
            f"{name:<20} {r['seconds']:>8.1f} {per_min:>11.1f} {r['layer_uses']:>11.0f} "
            f"{r['reads']:>6.0f} {saved:>12.0f}"
        )
    fleet_row = rows[2][1]
    print(
        f"fleet engine time (without starting the local cluster): "
        f"{fleet_row['engine_seconds']:.1f}s; results moved between workers: "
        f"{fleet_row['transfers']} ({fleet_row['transferred_bytes']} bytes)"
    )


if __name__ == "__main__":
    main()
