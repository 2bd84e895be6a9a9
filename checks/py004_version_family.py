"""PY004 version-family: a family of base images supports too few or too many Pythons.

Why it matters: an organisation's base images (myorg/base:3.11, :3.12, :3.13) are a
product. One supported version leaves teams no room to upgrade gradually; more than
three multiplies patching, testing and CVE work for versions nobody should start on.
Two or three supported CPython versions per family is the sweet spot.

Runs when several images are scanned in one call:
`imgaudit scan myorg/base:3.11 myorg/base:3.12 myorg/base:3.13`. Images are grouped by
repository (the reference without tag or digest); each image's main interpreter (the
newest non-distro one, else the newest) is checked against the CPython EOL table
(PY003's data); a side-by-side table is printed and each family with fewer than 2 or
more than 3 supported versions gets a finding. A single-image scan skips this check.

How to fix: add the next CPython version to the family before the oldest reaches
end of life; retire versions past end of life.

References: https://devguide.python.org/versions/
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from auditor.context import CheckContext
from auditor.findings import CheckInfo, Dimension, Finding, Severity, Skip
from auditor.references import repository

from .py003_python_eol import status

INFO = CheckInfo(
    id="PY004",
    name="version-family",
    title="A base-image family supports fewer than 2 or more than 3 Python versions",
    severity=Severity.WARNING,
    criterion="2-3 supported versions per base family",
    dimension=Dimension.USABLE,
)

MIN_SUPPORTED, MAX_SUPPORTED = 2, 3


def run(ctx: CheckContext) -> Iterable[Finding]:
    raise Skip("needs several images of one repository in one call: imgaudit scan A:1 A:2 ...")


@dataclass(frozen=True)
class Python:
    version: str
    origin: str
    app: bool = False  # the interpreter the app runs (facts.app_python)


@dataclass(frozen=True)
class Member:
    reference: str
    interpreters: tuple[Python, ...]

    @classmethod
    def from_facts(cls, reference: str, facts: Mapping[str, Any] | None) -> Member:
        """An image as its report's `facts` describe it (`facts.pythons`)."""
        pythons = (facts or {}).get("pythons") or []
        return cls(
            reference,
            tuple(Python(p["version"], p["origin"], bool(p.get("app"))) for p in pythons),
        )


@dataclass(frozen=True)
class Row:
    repository: str
    reference: str
    python: str | None
    origin: str | None
    eol: str | None
    state: str

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


if TYPE_CHECKING:
    from packaging.version import Version


def _version_key(version: str) -> Version:
    """`version` as packaging orders it; an unreadable version sorts first."""
    # deferred: start-up time, see README "Performance" (packaging.version, ~1.5 ms)
    from packaging.version import Version

    from auditor.facts.stdlib_data import python_version

    return python_version(version) or Version("0")


def main_interpreter(interps: Sequence[Python]) -> Python | None:
    # deferred: start-up time, see README "Performance"
    from auditor.facts.pythons import DISTRO_ORIGINS

    if not interps:
        return None
    app = [i for i in interps if i.app]
    own = app or [i for i in interps if i.origin not in DISTRO_ORIGINS] or list(interps)
    return max(own, key=lambda i: _version_key(i.version))


def families(members: Sequence[Member], on: dt.date) -> tuple[list[Row], list[Finding]]:
    rows: list[Row] = []
    groups: dict[str, list[Row]] = {}
    for m in members:
        repo = repository(m.reference)
        main = main_interpreter(m.interpreters)
        if main is None:
            row = Row(repo, m.reference, None, None, None, "no python")
        else:
            state, eol = status(main.version, on)
            row = Row(repo, m.reference, main.version, main.origin, str(eol or ""), state)
        rows.append(row)
        groups.setdefault(repo, []).append(row)
    findings = []
    for repo, members_rows in sorted(groups.items()):
        supported = sorted(
            {r.python for r in members_rows if r.python and r.state in ("supported", "near-eol")},
            key=_version_key,
        )
        if MIN_SUPPORTED <= len(supported) <= MAX_SUPPORTED:
            continue
        few = len(supported) < MIN_SUPPORTED
        yield_msg = (
            f"family {repo} has {len(supported)} supported Python version(s)"
            f"{' (' + ', '.join(supported) + ')' if supported else ''}: "
            + ("fewer than 2" if few else "more than 3")
        )
        findings.append(
            INFO.finding(
                yield_msg,
                "Add the next CPython version before the oldest reaches end of life"
                if few
                else "Retire the oldest versions of the family",
                evidence={
                    "repository": repo,
                    "supported": supported,
                    "images": [r.reference for r in members_rows],
                    "versions": [r.python for r in members_rows],
                },
            )
        )
    return rows, findings
