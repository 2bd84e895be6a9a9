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

Example: ``import cv2` fails: /opt/venv/lib/python3.11/site-packages/cv2/cv2.abi3.so
needs libGL.so.1 (needed by /opt/venv/.../opencv_python.libs/libQt5Gui-2db27984.so.5.15.19):
not found in the image`.

How to fix: install the package that provides the library (`apt-get install libgl1`),
use a wheel that does not need it (opencv-python-headless), or remove the ELF if it is
not used. References: ld.so(8), https://github.com/opencv/opencv-python#installation
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from auditor.context import CheckContext
from auditor.facts.elfgraph import Missing
from auditor.facts.owners import import_name, top_import
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
    """One finding per ELF: a Python extension module with everything missing in its
    whole dependency tree (that is what makes its import fail); any other ELF with its
    own missing DT_NEEDED, unless a module finding of its distribution already names
    them (a wheel's vendored libraries)."""
    facts = ctx.facts
    graph = facts.elf_graph
    owners = facts.owners
    direct: dict[str, list[Missing]] = {}
    for m in graph.missing:
        direct.setdefault(m.path, []).append(m)
    covered: dict[str, set[str]] = {}  # distribution -> names reported for its modules
    modules = {}
    for path, tree in graph.unresolved_tree.items():
        module = import_name(path)
        if module is not None:
            modules[path] = (module, tree)
            dist = owners.python_distribution(path)
            if dist is not None:
                covered.setdefault(dist, set()).update(tree)
    for path in sorted(set(direct) | set(modules)):
        dist = owners.python_distribution(path)
        evidence: dict[str, Any] = {
            "dpkg_package": owners.dpkg(path),
            "python_distribution": dist,
        }
        if path in modules:
            module, tree = modules[path]
            names = sorted(tree)
            via = [f"{n} (needed by /{tree[n]})" if tree[n] != path else n for n in names]
            message = (
                f"`import {top_import(module)}` fails: /{path} needs "
                + ", ".join(via)
                + ": not found in the image"
            )
            tried = next((m.tried for m in direct.get(path, [])), ())
            evidence["missing"] = [{"needed": n, "needed_by": "/" + tree[n]} for n in names]
            evidence["import"] = module
            evidence["searched"] = list(tried)
        else:
            skip = covered.get(dist or "", set())
            found = sorted(
                (m for m in direct[path] if m.needed not in skip), key=lambda m: m.needed
            )
            if not found:
                continue
            names = [m.needed for m in found]
            what = "program interpreter" if found[0].interp else "shared libraries"
            message = f"/{path} needs {what} {', '.join(names)}: not found in the image"
            evidence["missing"] = [{"needed": m.needed, "needed_by": "/" + path} for m in found]
            evidence["searched"] = list(found[0].tried)
            evidence["import"] = None
        evidence["needed"] = names
        if dist:
            remedy = (
                f"Install the system packages that provide {', '.join(names)}, or use a "
                f"build of {dist} that does not need them (e.g. a -headless variant)."
            )
        else:
            remedy = f"Install the packages that provide {', '.join(names)}, or remove /{path}."
        yield INFO.finding(message, remedy, path=path, evidence=evidence)
