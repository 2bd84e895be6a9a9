"""Generate auditor/data/debian_sonames.json: which Debian package ships each soname.

Why: when an image lacks a library (EL001), the remedy names the package to install
(`apt-get install libgl1`). The image's own dpkg data knows it only when the package is
installed and the file was deleted; for a library that was never installed, this table
answers, for Debian 12 (bookworm) on amd64, the base most Python images use.

Source: Debian's Contents index for bookworm/main/amd64 (every file of every package):
http://deb.debian.org/debian/dists/bookworm/main/Contents-amd64.gz (or the mirror in
$DEBIAN_MIRROR). Kept: files named like a soname (`name.so.N`, a major version only)
directly in /lib/x86_64-linux-gnu or /usr/lib/x86_64-linux-gnu, the multiarch
directories the loader searches; for each, the packages that ship it (several: a
library and its alternatives), runtime packages before -dev ones.

    python3 scripts/gen_debian_sonames.py            # download, write the JSON
    python3 scripts/gen_debian_sonames.py --from F   # use a downloaded Contents file
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import sys
import urllib.request
from pathlib import Path

SUITE = "bookworm"
ARCH = "amd64"
TRIPLET = "x86_64-linux-gnu"
MIRROR = os.environ.get("DEBIAN_MIRROR", "http://deb.debian.org/debian")
OUT = Path(__file__).resolve().parent.parent / "auditor" / "data" / "debian_sonames.json"
LINE = re.compile(rf"^(?:usr/)?lib/{TRIPLET}/(?P<name>[^/\s]+\.so\.\d+)\s+(?P<packages>\S+)$")


def contents_url() -> str:
    return f"{MIRROR}/dists/{SUITE}/main/Contents-{ARCH}.gz"


def parse(lines: list[str]) -> dict[str, list[str]]:
    """soname -> packages (runtime packages first, then by name); the JSON stores
    them space-separated."""
    found: dict[str, set[str]] = {}
    for line in lines:
        m = LINE.match(line.rstrip("\n"))
        if m is None:
            continue
        for item in m.group("packages").split(","):
            package = item.rsplit("/", 1)[-1]
            found.setdefault(m.group("name"), set()).add(package)
    return {
        name: sorted(packages, key=lambda p: (p.endswith("-dev"), p))
        for name, packages in sorted(found.items())
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--from", dest="source", type=Path, help="a downloaded Contents-*.gz")
    args = ap.parse_args(argv)
    if args.source is not None:
        raw = args.source.read_bytes()
    else:
        with urllib.request.urlopen(contents_url(), timeout=300) as response:
            raw = response.read()
    lines = gzip.decompress(raw).decode("utf-8", "replace").splitlines()
    table = parse(lines)
    # One soname per line (a readable diff when regenerated); packages space-separated.
    head = {"source": contents_url(), "distribution": f"debian {SUITE} ({ARCH}, main)"}
    rows = [f"{json.dumps(k)}:{json.dumps(' '.join(v))}" for k, v in table.items()]
    text = json.dumps(head)[:-1] + ',"sonames":{\n' + ",\n".join(rows) + "\n}}\n"
    json.loads(text)  # the writer above is hand-made: prove it is JSON
    OUT.write_text(text)
    print(f"{OUT}: {len(table)} sonames", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
