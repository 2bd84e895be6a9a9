"""PY006 bytecode: application and site-packages code ships without usable bytecode.

Why it matters: without `__pycache__/*.pyc` every container start compiles every
imported module again (hundreds of ms for a Django app, seconds for big ML stacks),
and if the code is read-only (as it should be, SEC003/SEC004) the work is redone at
every start. A `.pyc` in timestamp mode is only valid while the source's mtime and
size match the ones recorded in its header: tools that rewrite layer timestamps
(SOURCE_DATE_EPOCH, rewrite-timestamp) silently turn every pyc stale. Timestamp pycs
also make rebuilds non-reproducible; checked-hash pycs (PEP 552) do not.

What the app imports is judged: the site directories on the sys.path of the
interpreter or venv the app runs (auditor/facts/apppython.py; every site directory
when the files do not say) and the app directories. pip, setuptools and wheel are
left out: the app does not import them, and the official python images delete their
pycs on purpose. Read from the image: each `.py` there, its
`__pycache__/<name>.cpython-XY.pyc`, and that pyc's 16-byte header (flags, source
mtime and size). Warning per location when more than 20% of the sources have no
valid pyc (missing or stale), they are more than a handful (5) and they hold more
than 100 KB of source; fewer or smaller is info (a few app modules: CPython compiles
some 1-5 MB of source a second, so 100 KB costs at most about a tenth of a second at
start), as are valid pycs that are timestamp-based (not reproducible). Distro-owned files,
the scripts the config runs directly (`python main.py`: a __main__ script never uses
a pyc) and setup.py, conftest.py, manage.py, noxfile.py are not counted.

Only the pyc the app's interpreter reads counts: its cache tag (`cpython-311`) and its
optimization level (`.opt-2.pyc` only under `-OO` or PYTHONOPTIMIZE=2, read from the
config's Env and command; a plain `python` never reads them: `compileall -o 2` alone
leaves every module to compile at each start).

Example: `PYTHONDONTWRITEBYTECODE=1 pip install ...` or `pip install --no-compile`.

How to fix: `python -m compileall -q --invalidation-mode checked-hash <dirs>` as the
last step that writes the code (or `pip install --compile`, then compileall).

References: PEP 552; https://docs.python.org/3/library/compileall.html
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from auditor.context import CheckContext
from auditor.facts import pyc
from auditor.findings import CheckInfo, Dimension, Finding, Severity, Skip
from auditor.kinds import DIR, FILE

if TYPE_CHECKING:  # deferred: start-up time, see README "Performance"
    from auditor.fs import FileSystem

INFO = CheckInfo(
    id="PY006",
    name="bytecode",
    title="Python code ships without valid precompiled bytecode",
    severity=Severity.WARNING,
    criterion="precompiled bytecode (fast start)",
    dimension=Dimension.FAST,
)
OFFLOAD = True  # walks the tree on its own: may run beside the others (auditor/runner.py)

MISSING_RATIO = 0.2
HANDFUL = 5  # this many modules without bytecode cost little start-up time: info
SMALL_SOURCE = 100_000  # nor does this much source to compile (bytes; module doc)
TOOLING = frozenset({"pip", "setuptools", "wheel"})  # installers: not imported by the app
NOT_IMPORTED = frozenset({"setup.py", "conftest.py", "manage.py", "noxfile.py"})


@dataclass
class Tally:
    sources: int = 0
    missing: int = 0
    stale: int = 0
    timestamp: int = 0
    hashed: int = 0
    invalid_bytes: int = 0  # source bytes of the missing and stale ones
    unread: int = 0  # of the missing: with pycs the interpreter never reads (other -O level)
    example: str | None = None

    @property
    def costly(self) -> bool:
        """Enough to compile at every start to matter: more than a handful of modules
        holding more than SMALL_SOURCE bytes."""
        return self.missing + self.stale > HANDFUL and self.invalid_bytes > SMALL_SOURCE


def entry_scripts(ctx: CheckContext) -> set[str]:
    """.py files the config runs directly (`python main.py`): a script run as __main__
    is compiled in memory, never from a pyc, so it needs none."""
    config = ctx.facts.config
    workdir = "/" + str(config.get("WorkingDir") or "").strip("/")
    out = set()
    for arg in [*(config.get("Entrypoint") or []), *(config.get("Cmd") or [])]:
        if isinstance(arg, str) and arg.endswith(".py"):
            out.add(posixpath.normpath(posixpath.join(workdir, arg)).strip("/"))
    return out


#: python's own options that may share a word with -O (`-OO`, `-Ou`, `-BO`)
_FLAG_WORD = re.compile(r"^-[bBdEhiIOPqRsSuvx]+$")


@dataclass(frozen=True)
class Wanted:
    """The pyc name the app's interpreter reads for a module (`STEM.cpython-311.pyc`,
    `STEM.cpython-311.opt-2.pyc` under -OO): its cache tag (None: any, the interpreter
    is not known) and optimization suffix (None: any, the level is not known)."""

    tag: str | None
    opt: str | None

    def usable(self, name: str, stem: str) -> bool:
        tag, _, opt = name[len(stem) + 1 : -4].partition(".")
        return (self.tag is None or tag == self.tag) and (self.opt is None or opt == self.opt)


def wanted(ctx: CheckContext) -> Wanted:
    """Which pyc the app's interpreter reads (module doc): its cache tag from its
    version, the optimization level from PYTHONOPTIMIZE and python's -O options in the
    config's command; a level the command may set in a way not parsed here (a shell
    string with -O) leaves the level open."""
    facts = ctx.facts
    app = facts.app_python.interpreter
    interp = next((i for i in facts.pythons if app in (i.executable, i.path)), None)
    known = interp is not None and re.fullmatch(r"\d+\.\d+", interp.version)
    tag = f"cpython-{interp.version.replace('.', '')}" if interp and known else None
    level = 0
    value = facts.env.get("PYTHONOPTIMIZE", "")
    if value:
        level = int(value) if value.isdigit() else 1  # as CPython's _Py_get_env_flag
    from auditor.facts.apppython import command_argv  # deferred: see README "Performance"

    argv = command_argv(facts.config)
    python = next(
        (i for i, a in enumerate(argv) if posixpath.basename(a).startswith("python")), None
    )
    if python is not None:
        options = 0
        for word in argv[python + 1 :]:
            if not _FLAG_WORD.match(word):
                break
            options += word.count("O")
        level = max(level, options)
    if any(re.search(r"(?:^|\s)-[A-Za-z]*O", a) and " " in a for a in argv):
        return Wanted(tag, None)  # `sh -c "python -OO app.py"`: not parsed here
    return Wanted(tag, f"opt-{level}" if level else "")


def tally(
    ctx: CheckContext,
    root: str,
    skip: set[str],
    tooling: frozenset[str] = frozenset(),
    want: Wanted = Wanted(None, None),
) -> Tally:
    fs = ctx.facts.fs
    dpkg = ctx.facts.dpkg
    scripts = entry_scripts(ctx)
    t = Tally()
    get, owned = fs.nodes.get, dpkg.files
    stack = [root]
    while stack:
        d = stack.pop()
        names = fs.listdir(d)
        caches = _pycs_by_stem(fs.listdir(f"{d}/__pycache__") if "__pycache__" in names else [])
        for name in names:
            path = f"{d}/{name}"
            # fs.get without its strip when there is nothing to strip (d is not the root)
            node = get(path) if d and d[0] != "/" else fs.get(path)
            if node is None:
                continue
            entry = node[0]
            if entry[1] == DIR:
                if name != "__pycache__" and path not in skip:
                    stack.append(path)
                continue
            if not name.endswith(".py") or entry[1] != FILE:
                continue
            if owned.get(path) is not None or path in scripts or name in NOT_IMPORTED:
                continue
            if path in tooling:
                continue
            t.sources += 1
            _judge(fs, t, path, entry.mtime, entry.size, caches, d, name[:-3], want)
    return t


def _pycs_by_stem(caches: list[str]) -> dict[str, list[str]]:
    """A __pycache__ listing by module stem: `STEM.TAG.pyc` and `STEM.TAG.opt-N.pyc`
    (listing order kept). Built once per directory, not once per source file."""
    out: dict[str, list[str]] = {}
    for name in caches:
        for stem in pyc.stems(name):  # tag, or tag + opt level
            out.setdefault(stem, []).append(name)
    return out


def _judge(
    fs: FileSystem,
    t: Tally,
    path: str,
    mtime: int,
    size: int,
    caches: dict[str, list[str]],
    d: str,
    stem: str,
    want: Wanted,
) -> None:
    every = caches.get(stem, [])
    pycs = [n for n in every if want.usable(n, stem)]
    found = pyc.header(fs.read(f"{d}/__pycache__/{pycs[0]}") or b"") if pycs else None
    if found is None:
        t.missing += 1
        t.unread += bool(every and not pycs)
    elif found.mode != pyc.TIMESTAMP:
        t.hashed += 1
        return
    elif (found.source_mtime, found.source_size) != (mtime & 0xFFFFFFFF, size & 0xFFFFFFFF):
        t.stale += 1
    else:
        t.timestamp += 1
        return
    t.invalid_bytes += size
    t.example = t.example or path


def app_locations(ctx: CheckContext) -> list[str]:
    """Where the app's code is imported from: the site entries of the app's environment
    (every site directory when it is unknown), and the app directories."""
    # deferred: start-up time, see README "Performance"
    from auditor.facts.distributions import site_dirs

    facts = ctx.facts
    app = facts.app_python.environment
    env = next((e for e in facts.environments if e.path == app), None)
    if env is None:
        sites = set(site_dirs(facts.fs))
    else:
        sites = {real for p in env.site if (real := facts.fs.resolve(p)) is not None}
        sites = {p for p in sites if (n := facts.fs.get(p)) is not None and n.entry.kind == DIR}
    return sorted(sites | set(facts.app_dirs))


def tooling_files(ctx: CheckContext) -> frozenset[str]:
    """Files of pip, setuptools and wheel (their RECORD): never the app's imports."""
    return frozenset(f for d in ctx.facts.distributions if d.name in TOOLING for f in d.files)


def run(ctx: CheckContext) -> Iterable[Finding]:
    facts = ctx.facts
    if not facts.pythons and not facts.venvs:
        raise Skip("no Python in the image")
    locations = app_locations(ctx)
    skip = set(locations) | {v.path for v in facts.venvs}
    tooling = tooling_files(ctx)
    want = wanted(ctx)
    for loc in locations:
        t = tally(ctx, loc, skip - {loc}, tooling, want)
        if not t.sources:
            continue
        invalid = t.missing + t.stale
        evidence = {
            "sources": t.sources,
            "missing": t.missing,
            "stale": t.stale,
            "timestamp": t.timestamp,
            "checked_hash": t.hashed,
            "invalid_bytes": t.invalid_bytes,
            "unread": t.unread,
        }
        if invalid / t.sources > MISSING_RATIO:
            detail = f"{t.missing} without a pyc"
            if t.unread:
                detail += (
                    f" `{_reader(want)}` reads, {t.unread} of them with only pycs of "
                    "another optimization level or Python version"
                )
            detail += f", {t.stale} with a stale timestamp pyc" if t.stale else ""
            yield INFO.finding(
                f"/{loc}: {invalid} of {t.sources} Python files lack valid bytecode ({detail})",
                "Run `python -m compileall -q --invalidation-mode checked-hash` on the code "
                "as the last step that writes it",
                path=loc,
                severity=Severity.WARNING if t.costly else Severity.INFO,
                evidence=evidence,
            )
        elif t.timestamp:
            yield INFO.finding(
                f"/{loc}: {t.timestamp} pyc files are timestamp-based (rebuilds differ; "
                "stale after timestamp rewrites)",
                "Compile with `--invalidation-mode checked-hash` for reproducible images",
                path=loc,
                severity=Severity.INFO,
                evidence=evidence,
            )


def _reader(want: Wanted) -> str:
    return "python -" + "O" * int(want.opt[4:]) if want.opt else "python"
