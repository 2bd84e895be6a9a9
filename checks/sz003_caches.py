"""SZ003 caches: package-manager caches, temporary files and logs left in the image.

Why it matters: none of these is used at run time, all of them are pulled with every
deploy. pip's wheel/http cache alone is often 50-300 MB.

What is counted (surviving files only, bytes per category): pip/uv/poetry caches
(`*/.cache/pip`, `.cache/uv`, `.cache/pypoetry`), conda's package cache (`pkgs/` of a
conda, mamba or micromamba installation, the directory beside its `conda-meta`, and
`~/.conda/pkgs`: downloaded package archives and their extracted copies; a file conda
hard-linked into an environment frees nothing when removed, so it is not counted), apt
package lists (`/var/lib/apt/lists`), apt archives and binary caches (`/var/cache/apt`),
content of /tmp and /var/tmp, log files under /var/log, and `__pycache__` bytecode whose
source file is gone. Only bytes a rebuild can reclaim count: empty files (apt's `lock`
files, which the official images keep and apt re-creates; an empty wtmp) and directories
(`partial/`, an empty /tmp) are structure, not cache, and never make a finding. A
category under `min-kb` (default 1024) is info, above it a warning.

Base or own: a cache in the base image's layers is the base's (`origin: base`): your
Dockerfile cannot reclaim it (deleting it in a later layer only adds a whiteout), a
slimmer or rebuilt base can.

Example: `RUN pip install -r requirements.txt` without `--no-cache-dir`;
`RUN apt-get update && apt-get install -y curl` without `rm -rf /var/lib/apt/lists/*`;
`RUN conda install -y numpy` without `conda clean --all --yes`.

How to fix: `pip install --no-cache-dir` (or `RUN --mount=type=cache,target=/root/.cache/pip`;
uv: `--no-cache` or `UV_NO_CACHE=1`; Poetry: `poetry install --no-cache`),
`apt-get install ... && rm -rf /var/lib/apt/lists/*` in the same RUN, and clean /tmp
in the step that filled it.

References: https://docs.docker.com/build/cache/optimize/#use-cache-mounts
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from operator import methodcaller
from typing import TYPE_CHECKING

from auditor.context import CheckContext
from auditor.findings import CheckInfo, Dimension, Finding, Severity
from auditor.kinds import FILE
from auditor.units import human_bytes

if TYPE_CHECKING:  # deferred: start-up time, see README "Performance"
    from auditor.fs import FileSystem

INFO = CheckInfo(
    id="SZ003",
    name="caches",
    title="Caches, temporary files and logs left in the image",
    severity=Severity.WARNING,
    criterion="no caches left",
    dimension=Dimension.SMALL,
)
OFFLOAD = True  # walks the tree on its own: may run beside the others (auditor/runner.py)
OPTIONS = {"min-kb": 1024}
TOP = 20

CATEGORIES: tuple[tuple[str, re.Pattern[str], str], ...] = (
    (
        "pip cache",
        re.compile(r"(?:^|/)\.cache/pip/"),
        "pip install --no-cache-dir (or a cache mount)",
    ),
    (
        "uv cache",
        re.compile(r"(?:^|/)\.cache/uv/"),
        "uv with --no-cache or UV_NO_CACHE=1 (or RUN --mount=type=cache,target=/root/.cache/uv)",
    ),
    (
        "Poetry cache",
        re.compile(r"(?:^|/)\.cache/pypoetry/"),
        "poetry install --no-cache, or rm -rf ~/.cache/pypoetry in the same RUN (or a cache mount)",
    ),
    (
        "apt lists",
        re.compile(r"^var/lib/apt/lists/(?!lock$|partial/?$|auxfiles/?$)"),
        "rm -rf /var/lib/apt/lists/* in the RUN that ran apt-get update",
    ),
    ("apt archives", re.compile(r"^var/cache/apt/"), "apt-get clean in the same RUN"),
    ("temporary files", re.compile(r"^(?:var/)?tmp/"), "remove temporary files in the same RUN"),
    ("logs", re.compile(r"^var/log/"), "remove /var/log/*.log, apt and dpkg logs in the same RUN"),
)


def _anchored(pattern: str) -> str:
    """`(?:^|/)x` searched == `(?:.*/)?x` matched at the start; `^x` == `x` matched."""
    if pattern.startswith("(?:^|/)"):
        return "(?:.*/)?" + pattern[len("(?:^|/)") :]
    return pattern.removeprefix("^")


# One alternation, matched once per path; alternatives are tried in CATEGORIES' order,
# so the first category that matches wins, as before.
_ANY = re.compile(
    "|".join(f"(?P<c{i}>{_anchored(p.pattern)})" for i, (_, p, _) in enumerate(CATEGORIES))
)

_STARTS = ("var/", "tmp/")

CONDA_CACHE = "conda package cache"
CONDA_REMEDY = "conda clean --all --yes (micromamba clean --all --yes) in the same RUN"


def conda_package_caches(fs: FileSystem) -> list[str]:
    """Where conda, mamba and micromamba keep the packages they downloaded and extracted:
    `pkgs/` beside a `conda-meta` directory (the root prefix; an environment under
    `envs/` has `conda-meta` but no `pkgs`), and `.conda/pkgs/` in a home directory."""
    dirs = fs.dir_paths()
    known = set(dirs)
    out = []
    for d in dirs:
        parent, _, name = d.rpartition("/")
        if name == "conda-meta":
            cache = f"{parent}/pkgs" if parent else "pkgs"
        elif name == "pkgs" and parent.rpartition("/")[2] == ".conda":
            cache = d
        else:
            continue
        if cache in known:
            out.append(cache + "/")
    return sorted(set(out))


def orphan_pycs(fs: FileSystem) -> list[str]:
    """`__pycache__/mod.cpython-311.pyc` whose `mod.py` is gone: never loaded again.
    A module's name may hold dots (PyInstaller hooks: `hook-playwright.async_api.py`):
    the stem is what `pyc.stems` says, not what precedes the first dot."""
    from auditor.facts import pyc  # deferred: start-up time, see README "Performance"

    out = []
    # `source in fs` without its strip (`source` has no slash to strip), for up to ~200k
    # pycs: a set of the `.py` paths (found in C, freed after) answers ~5x faster than
    # the model's lookups, which are bisections
    sources = set(filter(methodcaller("endswith", ".py"), fs.paths()))
    for path in fs.file_paths_ending(".pyc"):
        if not ("/__pycache__/" in path or path.startswith("__pycache__/")):
            continue
        cache_dir, _, name = path.rpartition("/")
        pkg_dir = cache_dir.rpartition("/")[0]
        if name.count(".") == 2:  # `mod.TAG.pyc`: nearly all of them, the stem is plain
            stem = name[: name.index(".")]
            if (f"{pkg_dir}/{stem}.py" if pkg_dir else f"{stem}.py") not in sources:
                out.append(path)
            continue
        if not any(
            (f"{pkg_dir}/{s}.py" if pkg_dir else f"{s}.py") in sources for s in pyc.stems(name)
        ):
            out.append(path)
    return out


def run(ctx: CheckContext) -> Iterator[Finding]:
    fs = ctx.facts.fs
    found: dict[str, list[tuple[str, int]]] = {}
    # Every category needs `.cache/` in the path (a directory named `*.cache` above it)
    # or a var/ or tmp/ start: only those paths are looked at, found by bisection, each
    # once; the order does not matter, each category's files are sorted below.
    caches = [d + "/" for d in fs.dir_paths() if d.endswith(".cache")]
    candidates = [p for p in fs.file_paths_under(caches) if not p.startswith(_STARTS)]
    for start in _STARTS:
        candidates += fs.paths_under(start)  # directories too: not FILE, left out below
    for path in candidates:
        m = _ANY.match(path)
        if m is None or ctx.allowed(path):
            continue
        node = fs.get(path)
        if node is None or node.entry.kind != FILE:
            continue
        if node.entry.size == 0:
            continue  # apt's lock, an empty wtmp or /tmp file: nothing to reclaim
        label = CATEGORIES[int(str(m.lastgroup)[1:])][0]
        found.setdefault(label, []).append((path, node.entry.size))
    for path in fs.file_paths_under(conda_package_caches(fs)):
        if ctx.allowed(path) or fs.hard_linked(path):
            continue
        size = fs.regular_file_size(path)
        if size:  # a hard link's own entry has no size: its bytes are the target's
            found.setdefault(CONDA_CACHE, []).append((path, size))
    orphans = [p for p in orphan_pycs(fs) if not ctx.allowed(p)]
    if orphans:
        found["bytecode of removed code"] = [(p, fs.get(p).entry.size) for p in orphans]  # type: ignore[union-attr]
    remedies = {label: remedy for label, _, remedy in CATEGORIES}
    remedies["bytecode of removed code"] = "remove __pycache__ with the code it belongs to"
    remedies[CONDA_CACHE] = CONDA_REMEDY
    min_bytes = float(ctx.option("min-kb", OPTIONS["min-kb"])) * 1000
    import heapq  # deferred: start-up time, see README "Performance"

    for label in sorted(found):
        files = found[label]
        total = sum(size for _, size in files)
        top = heapq.nsmallest(TOP, files, key=lambda f: (-f[1], f[0]))  # all are not named
        yield INFO.finding(
            f"{label}: {len(files)} file(s), {human_bytes(total)}",
            remedies[label],
            path=top[0][0],
            paths=[p for p, _ in top[1:]],
            bytes=total,
            severity=None if total >= min_bytes else Severity.INFO,
            evidence={"category": label, "files": len(files)},
        )
