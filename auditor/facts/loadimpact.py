"""What breaks when a load tree fails, and how sure that is: the severity of EL001/EL002.

A root that fails is described the way a user meets it, and only as far as running the
image would confirm it:
- a program: "/usr/bin/tool does not start" (error). A program inside a Python package's
  directory (site-packages: `torch/bin/test_shim`) is not on any PATH: whether anything
  runs it, the files cannot tell, so it is a warning;
- an extension module: "`import cv2.cv2` fails" (error), naming the module itself: the
  interpreter dlopen()s it when it is imported. Whether importing its package imports
  it, the files cannot tell either (`import cv2` does; `import numba` does not import
  its OpenMP and TBB threading layers, `numba.np.ufunc.omppool` and `tbbpool`, whose
  libraries numba's wheel leaves out on purpose). A module directly in a top-level
  package, or top-level itself, is usually what the package is (cv2.cv2,
  psycopg2._psycopg, _sqlite3): an error; one deeper inside a package is often an
  optional part: a warning;
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
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from auditor.facts.elfgraph import EXTENSION, LIBRARY, PROGRAM, Failure, LoadTree
from auditor.facts.owners import Owners, import_name, in_site_directory
from auditor.findings import Severity
from auditor.fs import DIR, FileSystem

SHOWN = 50  # roots listed in a finding's evidence


@dataclass(frozen=True)
class Impact:
    tree: LoadTree
    severity: Severity
    what: str  # "`import cv2.cv2` fails", "/usr/bin/x does not start", ...
    needed_by: str | None
    module: str | None = None  # an extension module's import name

    def to_json(self, owners: Owners) -> dict[str, Any]:
        root = self.tree.root
        return {
            "path": "/" + root,
            "kind": self.tree.kind,
            "import": self.module,
            "interpreter": "/" + self.tree.interpreter if self.tree.interpreter else None,
            "needed_by": "/" + self.needed_by if self.needed_by else None,
            "python_distribution": owners.python_distribution(root),
            "dpkg_package": owners.dpkg(root),
        }


class Judge:
    """Severity and wording per failing root."""

    def __init__(
        self,
        owners: Owners,
        library_dirs: set[str],
        resolve: Any,
        import_roots: frozenset[str] = frozenset(),
    ) -> None:
        self.owners = owners
        self.library_dirs = library_dirs  # real paths of directories the loader searches
        self.resolve = resolve
        # sys.path directories besides site-packages and lib-dynload (PYTHONPATH, .pth)
        self.import_roots = import_roots

    def impact(self, tree: LoadTree, failure: Failure | None, needed_by: str | None) -> Impact:
        root = tree.root
        cpu = failure is not None and bool(failure.cpu_dependent)
        module = None
        if tree.foreign:
            return Impact(tree, Severity.INFO, f"/{root} (another architecture)", needed_by)
        if tree.kind == PROGRAM:
            what = f"/{root} does not start"
            severity = Severity.WARNING if in_site_directory(root) else Severity.ERROR
        elif tree.kind == EXTENSION and (module := import_name(root, self.import_roots)):
            what = f"`import {module}` fails (/{root})"
            severity = Severity.ERROR if module.count(".") <= 1 else Severity.WARNING
        else:
            what = f"/{root} cannot be loaded when a program dlopen()s it"
            severity = Severity.INFO if self.optional_plugin(tree) else Severity.WARNING
        if cpu and severity > Severity.WARNING:
            severity = Severity.WARNING
        return Impact(tree, severity, what, needed_by, module)

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


def found_elsewhere(fs: FileSystem, names: Iterable[str]) -> dict[str, list[str]]:
    """Per library name the loader did not find, the files of that name somewhere in the
    image (links followed: a dangling link, as `rm libffi.so.8.1.2` leaves libffi.so.8,
    is no library): the first 20 by path. `FileSystem.files_named`: one pass over the
    files for the names not asked before (a pass each was ~8-15 ms on a 85k-file image,
    times a finding per missing library); EL001 and PY002 say "is not where the loader
    looks (the image has it at ...)" from it."""
    out: dict[str, list[str]] = {}
    for name, paths in sorted(fs.files_named(names).items()):
        for path in paths:
            real = fs.resolve(path)
            node = fs.get(real) if real is not None else None
            if node is not None and node.entry.kind != DIR:
                out.setdefault(name, []).append(path)
    return {name: paths[:20] for name, paths in out.items()}
