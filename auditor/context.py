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

    def option(self, key: str, default: Any) -> Any:
        return self.options.get(key, default)

    def allowed(self, path: str) -> bool:
        """The path matches this check's `allow` globs from the config (absolute paths)."""
        path = "/" + path.lstrip("/")
        return any(fnmatch.fnmatchcase(path, g) for g in self.options.get("allow", ()))

    def today(self) -> dt.date:
        """The date age checks compare against (fixed by tests through options)."""
        fixed = self.options.get("today")
        return fixed if isinstance(fixed, dt.date) else dt.date.today()
