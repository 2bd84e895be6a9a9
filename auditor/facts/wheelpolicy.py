"""The manylinux policies, from auditwheel's installed policy data (not a hand copy).

A manylinux wheel may link only against the libraries its policy allows (glibc's
libraries, libstdc++, libgcc_s, libGL, libX11, libglib, ...); everything else must be
vendored (`<pkg>.libs/`, reached through RPATH $ORIGIN). The allowed list is the union
over the policies of the image's architecture, since each wheel in an image may carry a
different tag.
"""

from __future__ import annotations

import re
from functools import lru_cache

ARCH = {
    "amd64": "x86_64",
    "arm64": "aarch64",
    "386": "i686",
    "ppc64le": "ppc64le",
    "s390x": "s390x",
    "arm": "armv7l",
    "riscv64": "riscv64",
}
TAG_RE = re.compile(r"(?:^|-)(manylinux_(\d+)_(\d+)|manylinux(1|2010|2014))_")
LEGACY = {"1": (2, 5), "2010": (2, 12), "2014": (2, 17)}


@lru_cache(maxsize=8)
def allowed_libraries(architecture: str) -> frozenset[str]:
    """Sonames every manylinux policy for this architecture allows (auditwheel's data).

    Reads auditwheel's manylinux-policy.json the way `WheelPolicies(libc=GLIBC, arch=...)`
    and `get_policy_by_name` do, without importing `auditwheel.policy`: that module pulls
    in pyelftools and auditwheel's wheel tools, a large part of a scan's checks time for a
    JSON file (tests/facts compare the two over every architecture)."""
    import json
    from pathlib import Path

    import auditwheel
    from auditwheel.architecture import Architecture

    arch = Architecture(ARCH.get(architecture, architecture))
    data = Path(auditwheel.__file__).parent / "policy" / "manylinux-policy.json"
    base = arch.baseline.value
    policies: list[tuple[str, tuple[str, ...], frozenset[str]]] = []  # name, aliases, libs
    for policy in json.loads(data.read_text()):
        if arch.value in policy["symbol_versions"] or policy["name"] == "linux":
            if policy["name"] != "linux" and base not in policy["symbol_versions"]:
                raise KeyError(base)  # as auditwheel's constructor does
            aliases = tuple(f"{alias}_{base}" for alias in policy["aliases"])
            policies.append(
                (f"{policy['name']}_{base}", aliases, frozenset(policy["lib_whitelist"]))
            )
    out: set[str] = set()
    for minor in range(5, 100):  # every manylinux_2_N policy auditwheel knows
        wanted = f"manylinux_2_{minor}_{arch.value}"
        matches = [libs for name, aliases, libs in policies if wanted in (name, *aliases)]
        if len(matches) > 1:
            raise RuntimeError("Internal error. Policies should be unique")
        if matches:
            out |= matches[0]
    return frozenset(out)


def glibc_required(tag: str) -> tuple[int, int] | None:
    """manylinux_2_28_x86_64 -> (2, 28); manylinux2014_x86_64 -> (2, 17); else None."""
    m = TAG_RE.search(tag)
    if m is None:
        return None
    if m.group(4):
        return LEGACY[m.group(4)]
    return int(m.group(2)), int(m.group(3))
