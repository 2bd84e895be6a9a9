"""SZ005 size-regression: the image grew too much since its baseline.

Why it matters: images rarely get big in one step. They creep: a debug tool here,
a forgotten cache there, a dependency that pulls in a 200 MB wheel. Each change
looks harmless in review; the only place the growth is visible is the image
itself. Comparing every build with the last good one catches the creep when it
happens, while the cause is one commit away.

The baseline is `--baseline REPORT.json` (a JSON report of an earlier scan),
`--baseline IMAGE` (any image reference), or, without `--baseline`, the last
recorded scan of the same repository in the history store (`--db URL`,
`IMGAUDIT_DB`, or `--record` for the default SQLite store). Without any of them
the check is skipped.

The check fails when the uncompressed image size grew by MORE than either limit:
10 percent of the baseline, or 50 MB (50,000,000 bytes). Either alone is enough,
because a small image can double without reaching 50 MB, and a 2 GB image can
gain 150 MB within 10 percent. Configure with `--size-regression-percent` and
`--size-regression-bytes` (or the check's `percent` / `bytes` options).

The finding names the top growers: directories (exact when the baseline is an
image; from the baseline report's largest directories otherwise) and Python
packages (from the reports' package inventory).

Example:

    $ imgaudit scan myorg/app:2.0 --baseline app-1.9.json
    SZ005 warning: image grew by 120.0 MB (+40.0%) since myorg/app:1.9 ...
      top growers: /opt/venv/lib +95.0 MB; torch +90.1 MB (2.1.0 -> 2.2.0)

How to fix: look at the growers, then at the layer that added them
(`imgaudit diff OLD NEW` lists every path). Remove build-only tools and caches in
the same RUN step that created them, use a multi-stage build, or pin the
dependency that grew. If the growth is intended, record the new scan: it becomes
the next baseline.

References: https://docs.docker.com/build/building/best-practices/,
https://github.com/wagoodman/dive
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from auditor.context import CheckContext
from auditor.facts.baseline import Baseline
from auditor.findings import CheckInfo, Dimension, Finding, Severity, Skip
from auditor.sizes import (
    REGRESSION_BYTES,
    REGRESSION_PERCENT,
    TOP_DIRECTORIES,
    directory_sizes,
    top_directories,
)
from auditor.units import human_bytes

INFO = CheckInfo(
    id="SZ005",
    name="size-regression",
    title="Image grew beyond the regression threshold since its baseline",
    severity=Severity.WARNING,
    criterion="regressions caught",
    dimension=Dimension.SMALL,
)

INPUTS = ("baseline",)  # a fact given from outside the image (auditor/check.py)
DEFAULT_PERCENT = REGRESSION_PERCENT
DEFAULT_BYTES = REGRESSION_BYTES
TOP_GROWERS = 5


def run(ctx: CheckContext) -> Iterable[Finding]:
    baseline = ctx.facts.baseline
    if baseline is None:
        raise Skip(
            "no baseline: pass --baseline REPORT.json|IMAGE, or record scans in a history "
            "store (--record, --db URL or IMGAUDIT_DB)"
        )
    # deferred: start-up time, see README "Performance" (most scans have no baseline)
    from auditor import diff

    regression = diff.Regression(
        old=diff.image_size(baseline.report),
        new=ctx.facts.image_size,
        percent_limit=float(ctx.option("percent", DEFAULT_PERCENT)),
        bytes_limit=int(ctx.option("bytes", DEFAULT_BYTES)),
    )
    broke = regression.exceeded
    if not broke:
        return
    directories, packages = _growers(ctx, baseline)
    label = baseline.label
    pct = f" ({regression.percent:+.1f}%)" if regression.percent is not None else ""
    names = [f"{c.name} +{human_bytes(c.delta)}" for c in directories[:3]] + [
        _package_text(c) for c in packages[:3]
    ]
    message = (
        f"image grew by {human_bytes(regression.delta)}{pct} since {label} "
        f"({human_bytes(regression.old)} -> {human_bytes(regression.new)}), "
        f"{' and '.join(broke)}"
    )
    if names:
        message += "; top growers: " + "; ".join(names)
    yield INFO.finding(
        message,
        "Check the growers and the layer that added them (`imgaudit diff OLD NEW`); "
        "remove build tools and caches in the step that created them or use a multi-stage "
        "build. If the growth is intended, record this scan as the new baseline.",
        bytes=regression.delta,
        evidence={
            "baseline": label,
            "baseline_digest": (baseline.report.get("image") or {}).get("digest"),
            "old_size": regression.old,
            "new_size": regression.new,
            "delta": regression.delta,
            "percent": round(regression.percent, 2) if regression.percent is not None else None,
            "limits": {"percent": regression.percent_limit, "bytes": regression.bytes_limit},
            "directories": [c.to_json() for c in directories[:TOP_GROWERS]],
            "packages": [c.to_json() for c in packages[:TOP_GROWERS]],
        },
    )


def _growers(ctx: CheckContext, baseline: Baseline) -> tuple[list[Any], list[Any]]:
    from auditor import diff  # deferred, as in run()

    current_dirs = directory_sizes(ctx.facts.fs)
    if baseline.fs is not None:
        dirs = diff.compare_sizes(directory_sizes(baseline.fs), current_dirs)
    else:
        dirs = diff.compare_top_lists(
            diff.report_directories(baseline.report),
            top_directories(current_dirs),
            TOP_DIRECTORIES,
        )
    facts_json = ctx.facts.to_json()
    old_sizes, old_versions = diff.report_packages(baseline.report)
    new_sizes, new_versions = diff.report_packages({"facts": facts_json})
    packages = diff.compare_sizes(old_sizes, new_sizes, old_versions, new_versions)
    return [c for c in dirs if c.delta > 0], [c for c in packages if c.delta > 0]


def _package_text(change: Any) -> str:
    text = f"{change.name} +{human_bytes(change.delta)}"
    if change.old_version and change.new_version and change.old_version != change.new_version:
        text += f" ({change.old_version} -> {change.new_version})"
    elif change.old_version is None:
        text += " (new)"
    return text
