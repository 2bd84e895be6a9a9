"""The shipped reference tables for Python facts: stdlib pieces per version, CPython EOL.

Tables are package data (auditor/data/*.json), loaded once, so that updating a date
or a module list is a data change, not a code change.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from packaging.version import Version


@dataclass(frozen=True)
class StdlibPiece:
    name: str  # display name, e.g. "_dbm"
    kind: str  # "extension" | "package" | "module"
    tier: str  # "core" | "optional"
    any_of: tuple[str, ...]  # module names, one of which is enough
    since: Version
    why: str
    # the stdlib module that imports in the extension's place when it is missing (decimal
    # falls back to _pydecimal): the import works, slower; None: nothing stands in
    fallback: str | None = None
    fallback_before: Version | None = None  # the first version without that fallback

    def fallback_for(self, version: str) -> str | None:
        """The fallback module of this piece in Python `version`, if it has one."""
        v = python_version(version)
        if self.fallback is None or v is None:
            return None
        if self.fallback_before is not None and v >= self.fallback_before:
            return None
        return self.fallback


@dataclass(frozen=True)
class StdlibTable:
    pieces: tuple[StdlibPiece, ...]
    may_be_builtin: frozenset[str]
    bundled_wheels: dict[str, tuple[str, ...]]

    def expected(self, version: str) -> list[StdlibPiece]:
        v = python_version(version)
        if v is None:
            return []
        return [p for p in self.pieces if v >= p.since]

    def wheels_for(self, version: str) -> tuple[str, ...]:
        return self.bundled_wheels.get(version, ("pip",))


def python_version(version: str) -> Version | None:
    """A CPython version ("3.9", "3.13t", "3.11.7") as packaging orders it: 3.9 < 3.10.
    The free-threaded build's `t` is not part of the version."""
    # deferred: a scan answered from the result cache judges EOL dates without it
    from packaging.version import InvalidVersion, Version

    try:
        return Version(version.rstrip("t"))
    except InvalidVersion:
        return None


def _load(name: str) -> dict[str, Any]:
    data = json.loads(resources.files("auditor.data").joinpath(name).read_text())
    assert isinstance(data, dict)
    return data


@cache
def stdlib_table() -> StdlibTable:
    from packaging.version import Version  # deferred, see `python_version`

    raw = _load("stdlib.json")
    pieces = []
    for kind, key in (("extension", "extensions"), ("package", "packages"), ("module", "modules")):
        for item in raw.get(key, []):
            since = python_version(item["since"]) or Version("3.0")
            pieces.append(
                StdlibPiece(
                    item["name"],
                    kind,
                    item["tier"],
                    tuple(item.get("any_of") or [item["name"]]),
                    since,
                    item["why"],
                    item.get("fallback"),
                    python_version(item["fallback_before"]) if "fallback_before" in item else None,
                )
            )
    wheels = {v: tuple(d["bundled_wheels"]) for v, d in raw["versions"].items()}
    return StdlibTable(tuple(pieces), frozenset(raw["may_be_builtin"]), wheels)


@cache
def eol_dates() -> dict[str, dt.date]:
    return {v: dt.date.fromisoformat(d) for v, d in _load("python_eol.json")["eol"].items()}
