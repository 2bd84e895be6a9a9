"""The baseline: an earlier scan an image is compared with (SZ005 size regression).

A fact given from outside the image: `--baseline REPORT.json`, `--baseline IMAGE`
(scanned the same way, now), or the last recorded scan of the repository in the
history store (auditor/baseline.py finds it). The result cache names it by its
identity, so a check that uses it is cached like any other.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # deferred: start-up time, see README "Performance"
    from auditor.fs import FileSystem


@dataclass(frozen=True, eq=False)
class Baseline:
    report: Mapping[str, Any]  # the earlier scan's JSON report (schema_version 1)
    label: str  # how findings name it: a file, an image, "the last recorded scan of ..."
    fs: FileSystem | None = None  # its filesystem, when the baseline was an image

    @cached_property
    def identity(self) -> str:
        """A digest of everything a comparison with it can depend on."""
        named = {"report": self.report, "label": self.label, "fs": self.fs is not None}
        text = json.dumps(named, sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(text.encode()).hexdigest()
