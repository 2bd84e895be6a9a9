"""SEC009 sudo: sudo (or doas) is installed, or sudoers grants rights.

Why it matters: sudo in a container undoes the non-root `USER`: whoever controls the
app can become root again, and NOPASSWD rules make that a one-liner. Containers are
started with the user they need; there is nothing to escalate to.

Example: `apt-get install sudo && echo 'app ALL=(ALL) NOPASSWD:ALL' > /etc/sudoers.d/app`.

How to fix: remove sudo from the final stage; do root-only work at build time
(RUN before USER) or in an init container.

References: https://docs.docker.com/build/building/best-practices/#user
"""

from __future__ import annotations

from collections.abc import Iterator

from auditor.context import CheckContext
from auditor.findings import CheckInfo, Dimension, Finding, Severity

INFO = CheckInfo(
    id="SEC009",
    name="sudo",
    title="sudo or doas installed, or sudoers rules present",
    severity=Severity.WARNING,
    criterion="no sudo/su setups",
    dimension=Dimension.SECURE,
)
PROGRAMS = ("usr/bin/sudo", "usr/bin/doas", "usr/local/bin/sudo", "bin/sudo")


def run(ctx: CheckContext) -> Iterator[Finding]:
    fs = ctx.facts.fs
    seen: set[str] = set()
    for path in PROGRAMS:
        real = fs.resolve(path)
        if real is None or real in seen or ctx.allowed(real):
            continue
        seen.add(real)
        yield INFO.finding(
            f"/{real} is installed: the runtime user may be able to become root",
            "remove sudo/doas from the final stage",
            path=real,
        )
    sudoers = ["etc/sudoers", *(f"etc/sudoers.d/{n}" for n in fs.listdir("etc/sudoers.d"))]
    for path in sudoers:
        data = fs.read(path)
        if data is None or ctx.allowed(path):
            continue
        for line in data.decode("utf-8", "replace").splitlines():
            rule = line.strip()
            if not rule or rule.startswith(("#", "Defaults", "@include", "Cmnd_Alias")):
                continue
            if rule.split()[0] == "root" or "NOPASSWD" not in rule:
                continue
            yield INFO.finding(
                f"/{path} grants passwordless sudo: {rule}",
                "delete the sudoers rule and sudo itself",
                path=path,
                severity=Severity.ERROR,
                evidence={"rule": rule},
            )
