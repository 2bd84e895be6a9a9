"""Platform strings (`linux/arm64/v8`) and picking a manifest from a multi-arch index."""

from __future__ import annotations

from dataclasses import dataclass

from auditor.errors import InputError

_HOST_ARCH = {
    "x86_64": "amd64",
    "amd64": "amd64",
    "aarch64": "arm64",
    "arm64": "arm64",
    "armv7l": "arm",
    "ppc64le": "ppc64le",
    "s390x": "s390x",
    "riscv64": "riscv64",
    "i686": "386",
}


@dataclass(frozen=True)
class Platform:
    os: str
    architecture: str
    variant: str | None = None

    @classmethod
    def parse(cls, text: str) -> Platform:
        parts = text.strip().split("/")
        if len(parts) not in (2, 3) or not all(parts):
            raise InputError(
                f"bad --platform {text!r}: expected os/arch[/variant], e.g. linux/amd64"
            )
        return cls(parts[0], parts[1], parts[2] if len(parts) == 3 else None)

    @classmethod
    def host(cls) -> Platform:
        import platform as host_platform  # deferred: start-up time

        machine = host_platform.machine().lower()
        return cls("linux", _HOST_ARCH.get(machine, "amd64"))

    def matches(self, os: str | None, architecture: str | None, variant: str | None) -> bool:
        if os != self.os or architecture != self.architecture:
            return False
        if self.variant is None or variant is None:
            return True
        return _normalise_variant(architecture, variant) == _normalise_variant(
            architecture, self.variant
        )

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)


def _normalise_variant(arch: str | None, variant: str) -> str:
    # arm64 images are commonly labelled v8 or not at all; treat them as the same.
    if arch == "arm64" and variant in ("v8", ""):
        return "v8"
    return variant
