"""`--format json`: the report contract, deterministic (sorted keys, stable order)."""

from __future__ import annotations

import json
import re

from auditor.report.model import Report

# Tar names that are not UTF-8 reach us as lone surrogates (surrogateescape). Written
# raw they would make the output invalid UTF-8; as `\udcXX` escapes the JSON stays
# valid and a reader gets the same string back.
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def render(report: Report) -> str:
    text = json.dumps(report.to_json(), indent=2, sort_keys=True, ensure_ascii=False)
    return _LONE_SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text) + "\n"
