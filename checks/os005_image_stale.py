"""OS005 image-stale: the image was built long ago, so its packages are old.

Why it matters: a base image is a snapshot. Every day after the build, fixes the
distribution published are missing from the image until it is rebuilt. The age
comes from the config's `created` timestamp (set by the builder); a build with
SOURCE_DATE_EPOCH pinned to an old date looks older than it is, which is why the
finding says which date it read.

Example: an image created 200 days ago (default limit: 90 days, configurable with
`[tool.imgaudit.checks.OS005] max-age-days = 30`).

How to fix: rebuild regularly (a scheduled CI job) with `--pull` so the base is
refreshed, and `apt-get upgrade` or a fresh base tag.

References: https://docs.docker.com/build/building/best-practices/#rebuild-your-images-often
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

from auditor.context import CheckContext
from auditor.findings import CheckInfo, Dimension, Finding, Severity, Skip

INFO = CheckInfo(
    id="OS005",
    name="image-stale",
    title="Image was built too long ago",
    severity=Severity.WARNING,
    criterion="kept up to date",
    dimension=Dimension.SECURE,
)
OPTIONS = {"max-age-days": 90}


def created_date(text: object) -> dt.date | None:
    if not isinstance(text, str) or len(text) < 10:
        return None
    try:
        return dt.date.fromisoformat(text[:10])
    except ValueError:
        return None


def gather(ctx: CheckContext) -> dict[str, Any]:
    return {"created": ctx.facts.image_config.get("created")}


def judge(ctx: CheckContext, g: dict[str, Any]) -> Iterator[Finding]:
    created = created_date(g["created"])
    if created is None or created.year < 1990:
        raise Skip("the image config has no usable `created` date")
    age = (ctx.today() - created).days
    limit = int(ctx.option("max-age-days", OPTIONS["max-age-days"]))
    if age > limit:
        yield INFO.finding(
            f"the image was created on {created.isoformat()}, {age} days ago (limit {limit} days)",
            "rebuild the image on a fresh base regularly",
            evidence={"created": created.isoformat(), "age_days": age, "max_age_days": limit},
        )


def run(ctx: CheckContext) -> Iterator[Finding]:
    return judge(ctx, gather(ctx))
