"""CC002 dev-files: development headers and static libraries in the final image.

Why it matters: /usr/include, Python.h and static archives (*.a) are only used to compile
and link. At run time they are dead weight (often tens of MB) and a sign that the build
stage and the runtime stage are the same image.

How it is found: files under /usr/include and /usr/local/include, any Python.h, and every
*.a file, with their bytes. Each finding names the directory the headers are in: a
Python image's /usr/local/include holds only CPython's own headers
(/usr/local/include/python3.11, installed by `make install` for building C
extensions), which is not the -dev packages' /usr/include. CPython's own headers are
info (about 1 MB, part of the interpreter's install; pip needs them to build an sdist);
other headers and static libraries are a warning when the team's own steps add them
and info when they come with the base image (pick a base without them). Static
libraries inside a Python package's directory (numpy's `libnpymath.a`, which every numpy
wheel and python3-numpy ship for building extensions against numpy) are info too: they
come with the package, the way CPython's headers come with CPython. An
`include/python3.X` without Python.h (python3-numpy's `numpy` symlink left after
python3-dev was purged) holds no CPython headers and is not reported.

Example: `2431 header files under /usr/include (38 MB)`; `CPython's own headers: 189
files in /usr/local/include/python3.11`.

How to fix: install -dev packages only in a builder stage; in a single stage, purge them
(`apt-get purge --auto-remove libpq-dev python3-dev`) in the RUN step that used them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

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
BASE_REMEDY = (
    "The base image brings them: pick a base without them (its slim variant) for the runtime stage."
)
PACKAGED_REMEDY = (
    "Part of the packages that ship them (for building extensions against them); "
    "nothing to do unless the image is slimmed file by file."
)
CPYTHON_REMEDY = (
    "Part of CPython's install (pip builds sdists with them); drop them in a runtime "
    "stage only if nothing there compiles."
)


def run(ctx: CheckContext) -> Iterable[Finding]:
    # deferred: start-up time, see README "Performance"
    from auditor.facts.compilers import CPYTHON_HEADERS
    from auditor.facts.owners import in_site_directory

    dev = ctx.facts.dev_files
    fs = ctx.facts.fs
    for root, headers in sorted(dev.includes.items()):
        files = [p for p in fs.file_paths_under([root + "/"]) if not CPYTHON_HEADERS.match(p)]
        message = f"{_files(headers.files, 'header file')} under /{root}"
        evidence = {"files": headers.files, "directory": "/" + root}
        yield _by_origin(ctx, message, files, root, headers.bytes, evidence)
    for where, headers in sorted(dev.cpython.items()):
        if fs.get(f"{where}/Python.h") is None:
            # what a package links there after libpython3.X-dev is gone (python3-numpy's
            # include/python3.11/numpy symlink): no CPython headers, nothing to build with
            continue
        yield INFO.finding(
            f"CPython's own headers: {_files(headers.files, 'file')} in /{where} (Python.h)",
            CPYTHON_REMEDY,
            path=where,
            severity=Severity.INFO,
            bytes=headers.bytes,
            evidence={"files": headers.files, "directory": "/" + where, "cpython": True},
        )
    for path in dev.python_h:
        message = f"Python development headers present (/{path})"
        yield _by_origin(ctx, message, [path], path, None, {"file": "Python.h"})
    packaged = [(p, size) for p, size in dev.static_libs if in_site_directory(p)]
    loose = [(p, size) for p, size in dev.static_libs if not in_site_directory(p)]
    if loose:
        total = sum(size for _, size in loose)
        paths = sorted(p for p, _ in loose)
        message = f"{_static(len(paths))} (*.a)"
        yield _by_origin(ctx, message, paths, paths[0], total, {"count": len(paths)})
    if packaged:
        paths = sorted(p for p, _ in packaged)
        yield INFO.finding(
            f"{_static(len(paths))} (*.a) that Python packages ship",
            PACKAGED_REMEDY,
            path=paths[0],
            paths=paths[1:50],
            severity=Severity.INFO,
            bytes=sum(size for _, size in packaged),
            evidence={"count": len(paths), "packaged": True},
        )


def _static(n: int) -> str:
    return f"{n} static librar{'y' if n == 1 else 'ies'}"


def _files(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _by_origin(
    ctx: CheckContext,
    message: str,
    files: list[str],
    path: str,
    size: int | None,
    evidence: dict[str, Any],
) -> Finding:
    """The finding for `files` (shown at `path`): the base image's when every one of them
    is in a base layer (info, and said so), else a warning at the layer of the first
    file the team's own layers wrote."""
    provenance = ctx.facts.provenance
    fs = ctx.facts.fs
    layers = [(f, node.layer if (node := fs.get(f)) is not None else None) for f in files]
    own = [(f, layer) for f, layer in layers if provenance.in_base(layer) is not True]
    base = not own and provenance.base_layers is not None
    layer = (own or layers or [(path, None)])[0][1]
    listed = [f for f in files if f != path][:50]
    if base:
        message += ", from the base image"
    return INFO.finding(
        message,
        BASE_REMEDY if base else REMEDY,
        path=path,
        paths=listed if len(files) > 1 and path in files else [],
        layer=layer,
        severity=Severity.INFO if base else None,
        bytes=size,
        evidence=evidence,
    )
