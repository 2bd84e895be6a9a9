"""EL001 missing-library: a DT_NEEDED that nothing in the image satisfies.

Why it matters: the program (or `import` of the Python extension) fails at run time with
`error while loading shared libraries: libGL.so.1: cannot open shared object file`. The
classic case is opencv-python on a slim base: the wheel expects the system to provide
libGL.so.1, and `import cv2` dies in production, not in the build.

How it is found: every ELF's DT_NEEDED is resolved as glibc's (or musl's) dynamic loader
would, inside the image root: DT_RPATH, LD_LIBRARY_PATH from the image's Env,
DT_RUNPATH, /etc/ld.so.conf (+ includes), default and multiarch directories, with
$ORIGIN/$LIB/$PLATFORM expanded and wrong-class libraries skipped (auditor/facts/elfgraph.py
lists where this differs from ld.so). A missing PT_INTERP (program loader) is reported too.

Example: `/opt/venv/lib/python3.11/site-packages/cv2/cv2.abi3.so needs libGL.so.1: not
found (import cv2 fails)`.

How to fix: install the package that provides the library (`apt-get install libgl1`),
use a wheel that does not need it (opencv-python-headless), or remove the ELF if it is
not used. References: ld.so(8), https://github.com/opencv/opencv-python#installation
"""

from __future__ import annotations

from collections.abc import Iterable

from auditor.context import CheckContext
from auditor.facts.owners import import_name
from auditor.findings import CheckInfo, Dimension, Finding, Severity

INFO = CheckInfo(
    id="EL001",
    name="missing-library",
    title="A shared library an ELF needs is not in the image",
    severity=Severity.ERROR,
    criterion="every ELF's DT_NEEDED resolves inside the image",
    dimension=Dimension.USABLE,
)


def run(ctx: CheckContext) -> Iterable[Finding]:
    facts = ctx.facts
    graph = facts.elf_graph
    for m in graph.missing:
        owner = facts.owners.dpkg(m.path)
        dist = facts.owners.python_distribution(m.path)
        module = import_name(m.path)
        what = "program interpreter" if m.interp else "shared library"
        message = f"/{m.path} needs {what} {m.needed}: not found in the image"
        if module:
            message += f" (`import {module}` fails)"
        if dist:
            remedy = (
                f"Install the system package that provides {m.needed}, or use a build of "
                f"{dist} that does not need it (e.g. a -headless variant)."
            )
        else:
            remedy = f"Install the package that provides {m.needed}, or remove /{m.path}."
        evidence = {
            "needed": m.needed,
            "searched": list(m.tried),
            "dpkg_package": owner,
            "python_distribution": dist,
            "import": module,
        }
        yield INFO.finding(message, remedy, path=m.path, evidence=evidence)
