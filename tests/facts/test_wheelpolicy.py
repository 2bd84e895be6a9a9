"""The manylinux allowed-library list read straight from auditwheel's policy data must be
what auditwheel's own WheelPolicies gives, for every architecture it knows."""

from __future__ import annotations

import pytest
from auditwheel.architecture import Architecture
from auditwheel.libc import Libc
from auditwheel.policy import WheelPolicies

from auditor.facts.wheelpolicy import ARCH, allowed_libraries


def _auditwheel(architecture: str) -> frozenset[str]:
    arch = Architecture(ARCH.get(architecture, architecture))
    policies = WheelPolicies(libc=Libc.GLIBC, arch=arch)
    out: set[str] = set()
    for minor in range(5, 100):
        try:
            policy = policies.get_policy_by_name(f"manylinux_2_{minor}_{arch.value}")
        except LookupError:
            continue
        out |= set(policy.whitelist)
    return frozenset(out)


@pytest.mark.parametrize("architecture", sorted({*ARCH, *(a.value for a in Architecture)}))
def test_allowed_libraries_match_auditwheel(architecture: str) -> None:
    try:
        expected: frozenset[str] | type[Exception] = _auditwheel(architecture)
    except Exception as exc:  # the same kind of failure is expected
        expected = type(exc)
    if isinstance(expected, frozenset):
        assert allowed_libraries(architecture) == expected
    else:
        with pytest.raises(expected):
            allowed_libraries(architecture)


def test_allowed_libraries_of_x86_64() -> None:
    libs = allowed_libraries("amd64")
    assert {"libc.so.6", "libm.so.6", "libGL.so.1", "libglib-2.0.so.0"} <= libs
    assert "libssl.so.3" not in libs
    with pytest.raises(ValueError):
        allowed_libraries("no-such-arch")
