"""SZ004 docs: documentation, man and info pages, and locales in the image.

Why it matters: nobody reads man pages inside a production container; on Debian
bases /usr/share/doc, /usr/share/man and /usr/share/locale are easily 10-40 MB.
License files (`copyright`) are not counted: keep those.

Example: a Debian base without dpkg `path-exclude` rules.

How to fix: on Debian/Ubuntu, before installing packages:

    printf 'path-exclude /usr/share/doc/*\\npath-include /usr/share/doc/*/copyright\\n
    path-exclude /usr/share/man/*\\npath-exclude /usr/share/info/*\\n
    path-exclude /usr/share/locale/*\\n' > /etc/dpkg/dpkg.cfg.d/01_nodoc

or delete them in the RUN that installs packages. Categories below `min-kb`
(default 1024) are not reported; above `warn-mb` (default 10) a category is a
warning, else info.

References: https://wiki.ubuntu.com/ReducingDiskFootprint#Documentation
"""

from __future__ import annotations

from collections.abc import Iterator

from auditor.context import CheckContext
from auditor.findings import CheckInfo, Dimension, Finding, Severity
from auditor.units import human_bytes

INFO = CheckInfo(
    id="SZ004",
    name="docs",
    title="Documentation, man pages and locales shipped",
    severity=Severity.INFO,
    criterion="no docs or man pages",
    dimension=Dimension.SMALL,
)
OPTIONS = {"min-kb": 1024, "warn-mb": 10}
CATEGORIES = (
    ("docs", ("usr/share/doc/", "usr/local/share/doc/", "usr/share/gtk-doc/")),
    ("man pages", ("usr/share/man/", "usr/local/share/man/", "usr/local/man/")),
    ("info pages", ("usr/share/info/",)),
    ("locales", ("usr/share/locale/", "usr/share/i18n/")),
)
TOP = 10


def run(ctx: CheckContext) -> Iterator[Finding]:
    fs = ctx.facts.fs
    found: dict[str, list[tuple[str, int]]] = {}
    # Only files under the categories' prefixes can count: found by bisection, with
    # their sizes from the model's columns (no Node per file: ~100k in a big image).
    # No prefix of one category starts with another's: each file is in one category.
    for label, prefixes in CATEGORIES:
        paths, sizes = fs.file_sizes_under(prefixes)
        found[label] = [
            (path, size)
            for path, size in zip(paths, sizes)
            if (size or fs.regular_file_size(path) is not None)  # a regular file
            and not path.endswith("/copyright")
            and not ctx.allowed(path)
        ]
    min_bytes = float(ctx.option("min-kb", OPTIONS["min-kb"])) * 1000
    warn_bytes = float(ctx.option("warn-mb", OPTIONS["warn-mb"])) * 1_000_000
    import heapq  # deferred: start-up time, see README "Performance"

    for label, prefixes in CATEGORIES:
        files = found.get(label, [])
        total = sum(size for _, size in files)
        if not files or total < min_bytes:
            continue
        # Only the TOP largest are named: picked, not the ~100k files sorted
        top = heapq.nsmallest(TOP, files, key=lambda f: (-f[1], f[0]))
        yield INFO.finding(
            f"{label}: {len(files)} file(s), {human_bytes(total)} under "
            + ", ".join("/" + p.rstrip("/") for p in prefixes),
            "exclude docs, man pages and locales with dpkg path-exclude (keep copyright)",
            path=top[0][0],
            paths=[p for p, _ in top[1:]],
            bytes=total,
            severity=Severity.WARNING if total >= warn_bytes else None,
            evidence={"category": label, "files": len(files)},
        )
