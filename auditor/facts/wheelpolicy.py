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
    """Sonames every manylinux policy for this architecture allows (auditwheel's data)."""
    from auditwheel.architecture import Architecture
    from auditwheel.libc import Libc
    from auditwheel.policy import WheelPolicies

    arch = Architecture(ARCH.get(architecture, architecture))
    policies = WheelPolicies(libc=Libc.GLIBC, arch=arch)
    out: set[str] = set()
    for minor in range(5, 100):  # every manylinux_2_N policy auditwheel knows
        try:
            policy = policies.get_policy_by_name(f"manylinux_2_{minor}_{arch.value}")
        except LookupError:
            continue
        out |= set(policy.whitelist)
    return frozenset(out)


def glibc_required(tag: str) -> tuple[int, int] | None:
    """manylinux_2_28_x86_64 -> (2, 28); manylinux2014_x86_64 -> (2, 17); else None."""
    m = TAG_RE.search(tag)
    if m is None:
        return None
    if m.group(4):
        return LEGACY[m.group(4)]
    return int(m.group(2)), int(m.group(3))
