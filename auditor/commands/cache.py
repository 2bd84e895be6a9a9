"""`imgaudit cache`: what the layer and result caches hold; prune or clear them."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from auditor.cache import default_cache_dir
from auditor.errors import InputError


def configure_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("cache", help="show, prune or clear the cache", description=__doc__)
    p.add_argument(
        "action",
        nargs="?",
        choices=("info", "prune", "clear"),
        default="info",
        help="info (default): files and bytes per cache and format; prune: remove other "
        "formats, interrupted writes and, with --older-than, entries not used for that "
        "long; clear: remove both caches",
    )
    p.add_argument("--older-than", type=float, metavar="DAYS", help="prune: unused for DAYS")
    p.add_argument(
        "--cache-dir",
        type=Path,
        help="the cache directory (default: IMGAUDIT_CACHE_DIR, else $XDG_CACHE_HOME/imgaudit)",
    )
    p.add_argument("--format", "-f", choices=("table", "json"), default="table")
    p.set_defaults(execute=execute)


def execute(args: argparse.Namespace) -> int:
    from auditor import cachedir
    from auditor.units import human_bytes

    root: Path = args.cache_dir or default_cache_dir()
    if args.older_than is not None and (args.action != "prune" or args.older_than < 0):
        raise InputError("--older-than takes a number of days >= 0, with `prune`")
    if root.exists() and not root.is_dir():
        raise InputError(f"cache directory {root} is not a directory")
    if args.action in ("prune", "clear"):
        if args.action == "prune":
            removed = cachedir.prune(root, args.older_than)
        else:
            removed = cachedir.clear(root)
        if args.format == "json":
            doc = {"cache_dir": str(root), "removed_files": removed.files,
                   "removed_bytes": removed.bytes}  # fmt: skip
            sys.stdout.write(json.dumps(doc, indent=2) + "\n")
        else:
            print(f"{root}: removed {removed.files} files, {human_bytes(removed.bytes)}")
        return 0
    usage = cachedir.usage(root)
    if args.format == "json":
        doc = {"cache_dir": str(root), "areas": [u.to_json() for u in usage]}
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
        return 0
    print(f"cache directory: {root}")
    if not usage:
        print("empty")
    for u in usage:
        state = "in use" if u.current else "other format: `imgaudit cache prune` removes it"
        print(f"  {u.directory:<40} {u.files:>7} files {human_bytes(u.bytes):>10}  {state}")
    return 0
