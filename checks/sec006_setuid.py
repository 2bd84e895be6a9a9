"""SEC006 setuid: setuid/setgid binaries beyond the distribution's standard ones.

Why it matters: a setuid-root program runs as root whoever starts it; each one is a
privilege-escalation path from the unprivileged container user. A Python service
never needs them. Stock Debian/Ubuntu ship a few (su, mount, passwd, chfn, ...),
owned by packages every Debian system has (Essential or Priority: required):
those are not flagged unless `--strict` asks to, because removing them fights the
distribution. Anything else (sudo, ping from iputils, a setuid bit the Dockerfile
added, any setuid file on a distro without a dpkg database) is flagged.

Example: `chmod u+s /usr/local/bin/tool`, or `apt-get install sudo`.

How to fix: drop the bit in the final stage:

    RUN find / -xdev -perm /6000 -type f -exec chmod a-s {} + || true

References: CIS Docker Benchmark 4.8, https://gtfobins.github.io/#+suid
"""

from __future__ import annotations

from collections.abc import Iterator

from auditor.context import CheckContext
from auditor.findings import CheckInfo, Dimension, Finding, Severity
from auditor.kinds import FILE, HARDLINK

INFO = CheckInfo(
    id="SEC006",
    name="setuid",
    title="Setuid/setgid binaries beyond the distribution's standard set",
    severity=Severity.WARNING,
    criterion="no setuid/setgid binaries beyond the distro's",
    dimension=Dimension.SECURE,
)


def run(ctx: CheckContext) -> Iterator[Finding]:
    facts = ctx.facts
    # Modes come grouped (`stat_groups`): only the few setuid/setgid groups' paths are
    # looked at, in path order as a walk gives them.
    hits = sorted(
        path
        for (kind, mode, _uid, _gid), paths in facts.fs.stat_groups().items()
        if kind in (FILE, HARDLINK) and mode & 0o6000
        for path in paths
    )
    for path in hits:
        node = facts.fs.get(path)
        assert node is not None
        e = node.entry
        if ctx.allowed(path):
            continue
        owner = facts.dpkg.owner(path)
        if owner is not None and owner.required and not ctx.strict:
            continue
        bits = " and ".join(b for b, m in (("setuid", 0o4000), ("setgid", 0o2000)) if e.mode & m)
        who = f"package {owner.name}" if owner else "no package (added by the build)"
        yield INFO.finding(
            f"{bits} file /{path} (mode {e.mode:04o}, uid {e.uid}, gid {e.gid}), from {who}",
            "remove the setuid/setgid bit (chmod a-s) or the program in the final stage",
            path=path,
            evidence={
                "mode": f"{e.mode:04o}",
                "uid": e.uid,
                "gid": e.gid,
                "package": owner.name if owner else None,
                "standard": bool(owner and owner.required),
            },
        )
