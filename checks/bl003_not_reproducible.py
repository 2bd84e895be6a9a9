"""BL003 not-reproducible: the image carries build-time timestamps.

Why it matters: a reproducible build gives the same digest for the same source, so
caches hit, diffs between two builds show only real changes, and a rebuilt image
can be verified. Three kinds of evidence say this build is not reproducible:

- file mtimes not normalised within a layer: several distinct modification times
  in the day before the layer's history step, i.e. the clock of the build leaked
  (no SOURCE_DATE_EPOCH / `rewrite-timestamp`);
- timestamp-based `.pyc` files (the pyc header embeds the source mtime; see PEP 552);
- apt/dpkg logs (`/var/log/dpkg.log`, `/var/log/apt/*`, `alternatives.log`,
  `bootstrap.log`), which record the build time line by line.

Example: `RUN pip install .` without `SOURCE_DATE_EPOCH`; `RUN apt-get install ...`
without removing /var/log/dpkg.log.

How to fix: build with `SOURCE_DATE_EPOCH=$(git log -1 --format=%ct)` and BuildKit's
`--output type=image,rewrite-timestamp=true`; compile bytecode with
`python -m compileall --invalidation-mode checked-hash`; remove the logs in the RUN
that installs packages.

References: https://reproducible-builds.org/docs/source-date-epoch/,
https://docs.docker.com/build/ci/github-actions/reproducible-builds/,
https://peps.python.org/pep-0552/
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from typing import Any

from auditor.context import CheckContext
from auditor.findings import CheckInfo, Dimension, Finding, Severity

INFO = CheckInfo(
    id="BL003",
    name="not-reproducible",
    title="Build-time timestamps in the image (not reproducible)",
    severity=Severity.INFO,
    criterion="reproducible",
    dimension=Dimension.FAST,
)
OFFLOAD = True  # walks the tree on its own: may run beside the others (auditor/runner.py)
LOGS = ("var/log/dpkg.log", "var/log/alternatives.log", "var/log/bootstrap.log")
LOG_DIRS = ("var/log/apt/",)
WINDOW = 86_400  # seconds before the step's time in which mtimes count as "build time"
TOP = 20
_RFC3339 = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)?")


def epoch(text: object) -> int | None:
    """Seconds since the epoch of an RFC 3339 time (nanoseconds and `Z` allowed)."""
    m = _RFC3339.match(str(text or ""))
    if not m:
        return None
    when = dt.datetime.fromisoformat(m.group(1))
    tz = m.group(3)
    if tz and tz != "Z":
        when = when.replace(tzinfo=dt.datetime.fromisoformat("2000-01-01T00:00:00" + tz).tzinfo)
    else:
        when = when.replace(tzinfo=dt.timezone.utc)
    return int(when.timestamp())


def _times(config: dict[str, Any]) -> list[int | None]:
    """The history `created` time of each non-empty step, in layer order."""
    return [
        epoch(h.get("created"))
        for h in config.get("history") or []
        if isinstance(h, dict) and not h.get("empty_layer")
    ]


def unnormalised_layers(ctx: CheckContext) -> list[tuple[int, int]]:
    """(layer, distinct build-time mtimes) for layers whose mtimes leak the build clock."""
    layers = ctx.facts.layers
    times = _times(ctx.facts.image_config)
    if len(times) != len(layers):
        return []
    out = []
    for layer, step_time in zip(layers, times):
        if step_time is None:
            continue
        stamps = layer.entries.distinct_mtimes()
        build = {m for m in stamps if step_time - WINDOW <= m <= step_time + 60}
        if len(build) > 1:
            out.append((layer.index, len(build)))
    return out


def run(ctx: CheckContext) -> Iterator[Finding]:
    # deferred: start-up time, see README "Performance"
    from auditor.facts.pyc import TIMESTAMP

    for layer, count in unnormalised_layers(ctx):
        yield INFO.finding(
            f"layer {layer} has {count} distinct file modification times from its build: "
            "mtimes are not normalised",
            "build with SOURCE_DATE_EPOCH and rewrite-timestamp=true",
            layer=layer,
            evidence={"distinct_build_mtimes": count},
        )
    pycs = ctx.facts.pycs.get(TIMESTAMP, [])
    if ctx.options.get("allow"):  # `allowed` is False for every path without globs
        pycs = [p for p in pycs if not ctx.allowed(p)]
    if pycs:
        yield INFO.finding(
            f"{len(pycs)} timestamp-based .pyc file(s): their bytes depend on source mtimes",
            "compileall --invalidation-mode checked-hash (or unchecked-hash)",
            path=pycs[0],
            paths=pycs[1:TOP],
            evidence={"count": len(pycs)},
        )
    fs = ctx.facts.fs
    logs = [
        path
        for path in fs.file_paths_under(("var/log/",))  # where LOGS and LOG_DIRS are
        if (path in LOGS or path.startswith(LOG_DIRS))
        and fs.nodes[path].entry.size > 0
        and not ctx.allowed(path)
    ]
    if logs:
        yield INFO.finding(
            f"package manager logs record the build time: {', '.join('/' + p for p in logs)}",
            "remove /var/log/dpkg.log, /var/log/apt and alternatives.log in the install RUN",
            path=logs[0],
            paths=logs[1:],
        )
