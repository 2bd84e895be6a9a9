"""The small frozen types every check speaks: severity, dimension, check metadata, findings.

Checks create findings through their `CheckInfo` (`INFO.finding(...)`) so that the ID,
name and default severity are never retyped. The runner fills in provenance (the layer
and history step that wrote the path) when the check did not.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace
from typing import Any


class Severity(enum.IntEnum):
    """Ordered: a threshold `--fail-on warning` fails on warning and error."""

    INFO = 1
    WARNING = 2
    ERROR = 3

    @classmethod
    def parse(cls, text: str) -> Severity:
        try:
            return cls[text.strip().upper()]
        except KeyError:
            raise ValueError(f"unknown severity {text!r} (info, warning, error)") from None

    def __str__(self) -> str:
        return self.name.lower()


class Dimension(enum.Enum):
    SECURE = "secure"
    SMALL = "small"
    FAST = "fast"
    USABLE = "usable"


class Status(enum.Enum):
    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"
    ERROR = "error"


class Skip(Exception):
    """Raised by a check that cannot run on this image (the reason is reported)."""


@dataclass(frozen=True)
class DockerfileLine:
    """The Dockerfile instruction that wrote a finding's layer (`--dockerfile`)."""

    path: str  # the Dockerfile as the user named it
    line: int  # the instruction's first line, 1-based
    instruction: str  # the instruction on one line, as written

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "line": self.line, "instruction": self.instruction}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DockerfileLine:
        return cls(str(data["path"]), int(data["line"]), str(data["instruction"]))


@dataclass(frozen=True)
class Finding:
    check_id: str
    name: str
    severity: Severity
    message: str
    remedy: str
    path: str | None = None  # absolute image path, "/usr/bin/gcc"
    paths: tuple[str, ...] = ()  # further paths, when one finding covers several
    layer: int | None = None
    created_by: str | None = None
    bytes: int | None = None  # bytes at stake
    evidence: dict[str, Any] = field(default_factory=dict)
    in_base: bool | None = None  # the layer belongs to the base image (see --base)
    dockerfile: DockerfileLine | None = None  # the line that wrote the layer (--dockerfile)
    # "base" | "own" | "unknown": whose the finding is (auditor/facts/provenance.py);
    # None until the pipeline marks it
    origin: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "check_id": self.check_id,
            "name": self.name,
            "severity": str(self.severity),
            "message": self.message,
            "remedy": self.remedy,
            "evidence": self.evidence,
        }
        for key in ("path", "layer", "created_by", "bytes", "in_base", "origin"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        if self.paths:
            out["paths"] = list(self.paths)
        if self.dockerfile is not None:
            out["dockerfile"] = self.dockerfile.to_json()
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Finding:
        """The inverse of `to_json` (the result cache stores findings as JSON)."""
        return cls(
            check_id=data["check_id"],
            name=data["name"],
            severity=Severity.parse(data["severity"]),
            message=data["message"],
            remedy=data["remedy"],
            path=data.get("path"),
            paths=tuple(data.get("paths", ())),
            layer=data.get("layer"),
            created_by=data.get("created_by"),
            bytes=data.get("bytes"),
            evidence=dict(data.get("evidence") or {}),
            in_base=data.get("in_base"),
            dockerfile=DockerfileLine.from_json(data["dockerfile"])
            if data.get("dockerfile")
            else None,
            origin=data.get("origin"),
        )

    def sort_key(self) -> tuple[Any, ...]:
        return (-int(self.severity), self.check_id, self.path or "", self.message)

    def with_(self, **changes: Any) -> Finding:
        return replace(self, **changes)


@dataclass(frozen=True)
class CheckInfo:
    """A check's public identity: ID and slug are stable once shipped (criteria.md)."""

    id: str
    name: str
    title: str
    severity: Severity
    criterion: str
    dimension: Dimension

    def finding(
        self,
        message: str,
        remedy: str,
        *,
        path: str | None = None,
        paths: tuple[str, ...] | list[str] = (),
        severity: Severity | None = None,
        layer: int | None = None,
        created_by: str | None = None,
        bytes: int | None = None,
        evidence: dict[str, Any] | None = None,
    ) -> Finding:
        return Finding(
            check_id=self.id,
            name=self.name,
            severity=severity if severity is not None else self.severity,
            message=message,
            remedy=remedy,
            path=_abs(path),
            paths=tuple(p for p in (_abs(p) for p in paths) if p is not None),
            layer=layer,
            created_by=created_by,
            bytes=bytes,
            evidence=evidence or {},
        )


def _abs(path: str | None) -> str | None:
    if path is None:
        return None
    return path if path.startswith("/") else "/" + path


@dataclass(frozen=True)
class CheckResult:
    check_id: str
    name: str
    status: Status
    reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "check_id": self.check_id,
            "name": self.name,
            "status": self.status.value,
        }
        if self.reason:
            out["reason"] = self.reason
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CheckResult:
        return cls(data["check_id"], data["name"], Status(data["status"]), data.get("reason"))
