"""What breaks when a load tree fails, and how sure that is: the severity of EL001/EL002.

A root that fails is described the way a user meets it:
- a program: "/usr/bin/tool does not start" (error);
- an extension module: "`import cv2` fails" (error): the interpreter dlopen()s it on import;
- a library nothing in the image loads: it fails when a program dlopen()s it on
  demand (a plugin). That may never happen: a warning; and only info when it is a
  distribution package's optional plugin (owned by a dpkg package, in a subdirectory
  rather than a library directory the loader searches), the way Debian ships GTK image
  loaders or Qt platform plugins whose extra libraries are optional;
- anything built for another architecture than the image's never runs here: info.
A library found only for CPUs of a higher ISA level (glibc-hwcaps) makes a failure that
depends on the machine: a warning that says "may".
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from typing import Any

from auditor.facts.elfgraph import EXTENSION, LIBRARY, PROGRAM, Failure, LoadTree
from auditor.facts.owners import Owners, import_name, top_import
from auditor.findings import Severity

SHOWN = 50  # roots listed in a finding's evidence


@dataclass(frozen=True)
class Impact:
    tree: LoadTree
    severity: Severity
    what: str  # "`import cv2` fails", "/usr/bin/x does not start", ...
    needed_by: str | None

    def to_json(self, owners: Owners) -> dict[str, Any]:
        root = self.tree.root
        module = import_name(root) if self.tree.kind == EXTENSION else None
        return {
            "path": "/" + root,
            "kind": self.tree.kind,
            "import": module,
            "interpreter": "/" + self.tree.interpreter if self.tree.interpreter else None,
            "needed_by": "/" + self.needed_by if self.needed_by else None,
            "python_distribution": owners.python_distribution(root),
            "dpkg_package": owners.dpkg(root),
        }


class Judge:
    """Severity and wording per failing root."""

    def __init__(self, owners: Owners, library_dirs: set[str], resolve: Any) -> None:
        self.owners = owners
        self.library_dirs = library_dirs  # real paths of directories the loader searches
        self.resolve = resolve

    def impact(self, tree: LoadTree, failure: Failure | None, needed_by: str | None) -> Impact:
        root = tree.root
        cpu = failure is not None and bool(failure.cpu_dependent)
        if tree.foreign:
            return Impact(tree, Severity.INFO, f"/{root} (another architecture)", needed_by)
        if tree.kind == PROGRAM:
            what, severity = f"/{root} does not start", Severity.ERROR
        elif tree.kind == EXTENSION and (module := import_name(root)) is not None:
            what, severity = f"`import {top_import(module)}` fails (/{root})", Severity.ERROR
        else:
            what = f"/{root} cannot be loaded when a program dlopen()s it"
            severity = Severity.INFO if self.optional_plugin(tree) else Severity.WARNING
        if cpu and severity > Severity.WARNING:
            severity = Severity.WARNING
        return Impact(tree, severity, what, needed_by)

    def optional_plugin(self, tree: LoadTree) -> bool:
        """A distribution package's plugin: dpkg-owned, outside the loader's directories."""
        if tree.kind != LIBRARY or self.owners.dpkg(tree.root) is None:
            return False
        parent = self.resolve(posixpath.dirname(tree.root))
        return parent not in self.library_dirs


def ordered(impacts: list[Impact]) -> list[Impact]:
    """Most severe first; programs and imports before plugins; then by path."""
    rank = {PROGRAM: 0, EXTENSION: 1, LIBRARY: 2}
    return sorted(impacts, key=lambda i: (-int(i.severity), rank.get(i.tree.kind, 3), i.tree.root))


def describe(impacts: list[Impact], shown: int = 3) -> str:
    parts = [i.what for i in impacts[:shown]]
    if len(impacts) > shown:
        parts.append(f"and {len(impacts) - shown} more")
    return "; ".join(parts)
