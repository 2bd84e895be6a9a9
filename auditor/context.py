"""What a check receives: the facts about the image and its own settings."""

from __future__ import annotations

import datetime as dt
import fnmatch
from dataclasses import dataclass, field
from typing import Any

from auditor.facts import Facts


@dataclass
class CheckContext:
    facts: Facts
    options: dict[str, Any] = field(default_factory=dict)  # this check's settings (config)
    strict: bool = False  # --strict: also flag what a stock distro ships
    today_used: dt.date | None = None  # the date `today()` gave: results depend on it

    def option(self, key: str, default: Any) -> Any:
        return self.options.get(key, default)

    def allowed(self, path: str) -> bool:
        """The path matches this check's `allow` globs from the config (absolute paths)."""
        globs = self.options.get("allow")
        if not globs:  # the common case, asked once per file by some checks
            return False
        path = "/" + path.lstrip("/")
        return any(fnmatch.fnmatchcase(path, g) for g in globs)

    def layer_of(self, path: str | None) -> int | None:
        """The layer that last wrote `path` (None: not in the image). Two-phase checks
        record it while gathering, so their findings need no layer when judged."""
        node = self.facts.fs.get(path) if path else None
        return node.layer if node is not None else None

    def today(self) -> dt.date:
        """The date EOL and age checks compare against: today in UTC, unless the check's
        `today` option (a date or YYYY-MM-DD) pins it, which keeps CI runs reproducible.
        Asking makes the check's result depend on the date (see auditor/results.py)."""
        self.today_used = self.check_date()
        return self.today_used

    def check_date(self) -> dt.date:
        """`today()` without recording that the result depends on it."""
        fixed = self.options.get("today")
        if isinstance(fixed, dt.date):
            return fixed
        if fixed:
            return dt.date.fromisoformat(str(fixed))
        return today_utc()


def today_utc() -> dt.date:
    return dt.datetime.now(dt.timezone.utc).date()
