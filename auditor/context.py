"""What a check receives: the facts about the image and its own settings."""

from __future__ import annotations

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
