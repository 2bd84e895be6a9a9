"""CC002 dev-files: development headers and static libraries in the final image.

Why it matters: /usr/include, Python.h and static archives (*.a) are only used to compile
and link. At run time they are dead weight (often tens of MB) and a sign that the build
stage and the runtime stage are the same image.

How it is found: files under /usr/include and /usr/local/include, any Python.h, and every
*.a file, with their bytes.

Example: `2431 header files under /usr/include (38 MB)`.

How to fix: install -dev packages only in a builder stage; in a single stage, purge them
(`apt-get purge --auto-remove libpq-dev python3-dev`) in the RUN step that used them.
"""

from __future__ import annotations

from collections.abc import Iterable

from auditor.context import CheckContext
from auditor.findings import CheckInfo, Dimension, Finding, Severity

INFO = CheckInfo(
    id="CC002",
    name="dev-files",
    title="Development headers or static libraries in the image",
    severity=Severity.WARNING,
    criterion="no development headers / static libs",
    dimension=Dimension.SMALL,
)

REMEDY = "Keep headers and static libraries in a builder stage; do not copy them into the runtime."


def run(ctx: CheckContext) -> Iterable[Finding]:
    dev = ctx.facts.dev_files
    if dev.include_files:
        yield INFO.finding(
            f"{dev.include_files} header files under /usr/include and /usr/local/include",
            REMEDY,
            path="usr/include" if ctx.facts.fs.get("usr/include") else "usr/local/include",
            bytes=dev.include_bytes,
            evidence={"files": dev.include_files},
        )
    for path in dev.python_h:
        yield INFO.finding(
            f"Python development headers present (/{path})",
            REMEDY,
            path=path,
            evidence={"file": "Python.h"},
        )
    if dev.static_libs:
        total = sum(size for _, size in dev.static_libs)
        paths = sorted(p for p, _ in dev.static_libs)
        yield INFO.finding(
            f"{len(paths)} static libraries (*.a)",
            REMEDY,
            path=paths[0],
            paths=paths[1:50],
            bytes=total,
            evidence={"count": len(paths)},
        )
