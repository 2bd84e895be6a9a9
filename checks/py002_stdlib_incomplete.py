"""PY002 stdlib-incomplete: an interpreter lacks parts of its standard library.

Why it matters: a CPython built without OpenSSL, libffi, sqlite, bzip2, xz or zlib
headers silently skips those extension modules; slimming scripts delete
lib-dynload files or `ensurepip`. The image looks fine until the first `import ssl`,
`import ctypes`, `import sqlite3` or `python -m venv` fails in production.

What is checked, per interpreter and version (auditor/data/stdlib.json): the
extensions _ssl, _hashlib, _sqlite3, _ctypes, _bz2, _lzma, zlib, _uuid, pyexpat,
_decimal, _json (missing = error), readline, _curses, _dbm/_gdbm (missing = info),
the venv package (error) and ensurepip with its bundled wheels (info: only
`python -m venv` without --without-pip needs it; slim, distroless and Debian images
without python3-venv drop it and run fine). An extension whose pure-Python fallback is
in the standard library (decimal uses _pydecimal without _decimal, json its own
scanner without _json, uuid and, before 3.12, hashlib their own code) is a warning:
the import works, slower. A standard library without the `encodings` package is an
error: the interpreter stops at start.
An extension is present as `lib-dynload/<name>.*.so` or built into the interpreter:
built-in modules are not files, so they are read from the interpreter's
`_sysconfigdata_*.py` (MODBUILT_NAMES); without it, a distro-packaged interpreter is
assumed to have zlib, pyexpat, _json and _decimal built in (Debian and Ubuntu do).
Each present extension's own DT_NEEDED libraries must resolve in the image (e.g. _ssl
needs libssl.so.3): that part uses the ELF graph fact when available.

PYTHONHOME in the image's Env replaces every interpreter's own prefix: CPython then
looks for its standard library in `$PYTHONHOME/lib/pythonX.Y` (the part before a `:`)
and stops at start ("Fatal Python error: init_fs_encoding ... No module named
'encodings'") when the `encodings` package is not there; `ENV PYTHONHOME=/opt/venv`
(a venv has no standard library) does that to every python the container runs. Not
judged when the command sets PYTHONHOME itself (`env PYTHONHOME=...`), nor for a
relative PYTHONHOME.

A distro interpreter that is not the app's (Debian's python3 pulled in by mercurial or
a -dev package while the app runs on its own CPython, auditor/facts/apppython.py) is
not held to the app's standard: what it lacks is reported as info.

Example: `rm -rf /usr/local/lib/python3.12/lib-dynload/_sqlite3*` to save 200 KB.

How to fix: install the -dev packages before building CPython (libssl-dev, libffi-dev,
libsqlite3-dev, libbz2-dev, liblzma-dev, zlib1g-dev, uuid-dev, libreadline-dev,
libncurses-dev, libgdbm-dev, libexpat1-dev, libmpdec-dev), keep lib-dynload whole, and
copy the runtime libraries the extensions link against into the final stage.

References: https://devguide.python.org/getting-started/setup-building/#install-dependencies
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from auditor.context import CheckContext
from auditor.findings import CheckInfo, Dimension, Finding, Severity, Skip

INFO = CheckInfo(
    id="PY002",
    name="stdlib-incomplete",
    title="The standard library is incomplete",
    severity=Severity.ERROR,
    criterion="complete standard library",
    dimension=Dimension.USABLE,
)


def run(ctx: CheckContext) -> Iterable[Finding]:
    # deferred: start-up time, see README "Performance"
    from auditor.facts.pythons import DISTRO_ORIGINS

    facts = ctx.facts
    if not facts.pythons:
        raise Skip("no Python interpreter in the image")
    app = facts.app_python.interpreter
    home = _pythonhome(ctx)
    for interp in facts.pythons:
        # a distro Python the app does not run (a tool's dependency): only worth knowing
        tool = app is not None and interp.path != app and interp.origin in DISTRO_ORIGINS
        cap = Severity.INFO if tool else Severity.ERROR
        whose = " (a dependency of distro packages, not the app's interpreter)" if tool else ""
        if home is not None:
            lost = _home_without_stdlib(ctx, home, interp.version)
            if lost is not None:
                yield INFO.finding(
                    f"PYTHONHOME={home} (the image's Env): Python {interp.version} at "
                    f"/{interp.path} looks for its standard library in {lost}, which has no "
                    "encodings package: it stops at start (Fatal Python error: "
                    f"init_fs_encoding: No module named 'encodings'){whose}",
                    "Remove PYTHONHOME from the image's Env (a venv needs none: run its "
                    "bin/python), or set it to the interpreter's own prefix",
                    path=interp.path,
                    severity=cap,
                    evidence={
                        "interpreter": "/" + interp.path,
                        "pythonhome": home,
                        "stdlib": lost,
                        "app": not tool,
                    },
                )
                continue
            if not _own_prefix(ctx, home, interp.prefix):
                continue  # it runs with another prefix's standard library: not judged here
        if interp.stdlib is None:
            lib = f"/{interp.prefix}/lib/python{interp.version}"
            yield INFO.finding(
                f"Python {interp.version} at /{interp.path} has no standard library ({lib} "
                f"is missing){whose}",
                "Copy the whole installation prefix, not only the executable",
                path=interp.path,
                severity=cap,
                evidence={"interpreter": "/" + interp.path, "expected": lib, "app": not tool},
            )
            continue
        if home is None and _home_without_stdlib(ctx, "/" + interp.prefix, interp.version):
            yield INFO.finding(
                f"Python {interp.version} at /{interp.path}: its standard library "
                f"/{interp.stdlib} has no encodings package: it stops at start (Fatal Python "
                f"error: init_fs_encoding: No module named 'encodings'){whose}",
                "Keep the standard library whole (restore the encodings package)",
                path=interp.stdlib,
                severity=cap,
                evidence={
                    "interpreter": "/" + interp.path,
                    "missing": ["encodings"],
                    "app": not tool,
                },
            )
            continue
        missing = interp.missing
        # without lib-dynload at all, no stand-in is counted on (its own imports may be gone)
        dynload = ctx.facts.fs.get(f"{interp.stdlib}/lib-dynload") is not None
        core = [m for m in missing if m.tier == "core" and (m.fallback is None or not dynload)]
        slow = [m for m in missing if m.tier == "core" and m.fallback is not None and dynload]
        optional = [m for m in missing if m.tier != "core"]
        for group, severity in ((core, cap), (slow, min(cap, Severity.WARNING)),
                                (optional, Severity.INFO)):  # fmt: skip
            if not group:
                continue
            names = ", ".join(m.name + (f" ({m.detail})" if m.detail else "") for m in group)
            lacks = f"lacks {names}"
            if group is core and not dynload and any(m.kind == "extension" for m in group):
                lacks = f"has no lib-dynload directory: {lacks}"
            if group is slow:
                stand_ins = ", ".join(f"{m.name}: {m.fallback}" for m in group)
                lacks += (
                    f": the pure-Python fallbacks stand in ({stand_ins}), so the imports "
                    "work, slower"
                )
            yield INFO.finding(
                f"Python {interp.version} at /{interp.path} {lacks}{whose}",
                "Build CPython with the matching -dev packages installed and keep "
                "lib-dynload, venv and ensurepip whole",
                path=interp.stdlib or interp.path,
                severity=severity,
                evidence={
                    "interpreter": "/" + interp.path,
                    "version": interp.version,
                    "missing": [m.name for m in group],
                    "app": not tool,
                    **({"fallbacks": {m.name: m.fallback for m in group}} if group is slow else {}),
                },
            )
        for module, tree in _unloadable(ctx, interp.modules):
            unresolved = sorted({f.name for f in tree.failures})
            yield INFO.finding(
                f"{module.name} of Python {interp.version} cannot load: "
                f"{'; '.join(_why(ctx, tree))}{whose}",
                "Install the runtime libraries the extension links against in the final image",
                path=module.path,
                # as serious as the module missing: core modules are errors, readline etc. info
                severity=cap if module.tier == "core" else Severity.INFO,
                evidence={
                    "module": module.name,
                    "unresolved": unresolved,
                    "missing_versions": {g.library: list(g.versions) for g in tree.version_gaps},
                    "app": not tool,
                },
            )


def _pythonhome(ctx: CheckContext) -> str | None:
    """PYTHONHOME as every python of the container gets it from the image's Env; None
    when unset (or empty, which CPython ignores) or when the command sets it itself."""
    # deferred: start-up time, see README "Performance"
    from auditor.facts.apppython import command_argv

    home = ctx.facts.env.get("PYTHONHOME")
    if not home:
        return None
    if any(a.startswith("PYTHONHOME=") for a in command_argv(ctx.facts.config)):
        return None
    return home


def _home_without_stdlib(ctx: CheckContext, home: str, version: str) -> str | None:
    """The standard library directory PYTHONHOME makes Python `version` use, when it
    has no `encodings` package (the first module CPython imports from it); None when it
    has one, or when the files cannot say (a relative PYTHONHOME, a zip of the stdlib,
    a lib64 platlibdir)."""
    prefix = home.split(":", 1)[0].rstrip("/")
    if not prefix.startswith("/"):
        return None
    fs = ctx.facts.fs
    root = prefix.strip("/")
    base = f"{root}/" if root else ""
    for lib in ("lib", "lib64"):
        stdlib = f"{base}{lib}/python{version}"
        for landmark in ("encodings/__init__.py", "encodings/__init__.pyc"):
            if fs.resolve(f"{stdlib}/{landmark}") is not None:
                return None
        if fs.resolve(f"{base}{lib}/python{version.replace('.', '')}.zip") is not None:
            return None
    return f"{prefix}/lib/python{version}"


def _own_prefix(ctx: CheckContext, home: str, prefix: str) -> bool:
    """Whether PYTHONHOME names the interpreter's own prefix (links followed)."""
    fs = ctx.facts.fs
    named = home.split(":", 1)[0].strip("/")
    return fs.resolve(named) == fs.resolve(prefix)


def _unloadable(ctx: CheckContext, modules: Iterable[Any]) -> Iterable[tuple[Any, Any]]:
    """Shared stdlib extensions whose own libraries do not load, as the ELF graph (resolved
    the way ld.so would, inside the image) says: `_ssl` present but libssl missing is as
    broken as no `_ssl` at all, and so is a libffi.so.8 that is another library (its
    symbol versions missing: "version `LIBFFI_BASE_8.0' not found")."""
    graph = ctx.facts.elf_graph
    for m in modules:
        if m.state == "shared" and m.path:
            tree = graph.trees.get(m.path.strip("/"))
            if tree is not None and tree.fails:
                yield m, tree


def _why(ctx: CheckContext, tree: Any) -> list[str]:
    """Each failure of the tree as the loader meets it (EL001, EL002 say more)."""
    # deferred: start-up time, see README "Performance"
    from auditor.facts.elfgraph import MISSING, UNLOADABLE
    from auditor.facts.loadimpact import found_elsewhere

    missing = [f.name for f in tree.failures if f.kind == MISSING and f.reason == "not found"]
    elsewhere = found_elsewhere(ctx.facts.fs, missing)  # one pass for all of them
    absent = sorted({name for name in missing if name not in elsewhere})
    out = [f"{', '.join(absent)} not found in the image"] if absent else []
    for f in sorted(tree.failures, key=lambda f: f.name):
        if f.kind == MISSING and f.reason == "not found":
            if f.name in elsewhere:
                at = elsewhere[f.name][0]
                out.append(f"{f.name} is not where the loader looks (the image has it at /{at})")
        elif f.kind == UNLOADABLE and f.path:
            out.append(f"/{f.path} ({f.name}) cannot be loaded: {f.reason}")
        else:
            out.append(f"{f.name}: {f.reason}")
    for g in tree.version_gaps:
        out.append(f"/{g.resolved} ({g.library}) does not define {', '.join(g.versions)}")
    return out
