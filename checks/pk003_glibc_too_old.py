"""PK003 glibc-too-old: a wheel needs a newer glibc than the image ships.

Why it matters: a wheel tagged manylinux_2_28 promises to work on glibc 2.28 or newer;
installed on an older base (pip --platform, a COPY of a venv built elsewhere) its
extensions fail to load with `version 'GLIBC_2.28' not found`.

How it is found: the image's glibc version (the newest GLIBC_2.N that libc.so.6 defines),
against each distribution's wheel tags (`manylinux_2_X`, manylinux2014 = 2.17,
manylinux2010 = 2.12, manylinux1 = 2.5: the wheel works if its oldest tag does) and the
GLIBC_ symbol versions its extensions need.

Example: `numpy (manylinux_2_28_x86_64) needs glibc 2.28; the image has glibc 2.24`.

How to fix: install a wheel built for an older manylinux tag (let pip pick inside the
image), or use a newer base image.
"""

from __future__ import annotations

from collections.abc import Iterable

from auditor.context import CheckContext
from auditor.findings import CheckInfo, Dimension, Finding, Severity, Skip

INFO = CheckInfo(
    id="PK003",
    name="glibc-too-old",
    title="A wheel needs a newer glibc than the image has",
    severity=Severity.ERROR,
    criterion="portable: oldest glibc that works",
    dimension=Dimension.USABLE,
)


def _fmt(v: tuple[int, int]) -> str:
    return f"{v[0]}.{v[1]}"


def run(ctx: CheckContext) -> Iterable[Finding]:
    # deferred: start-up time, see README "Performance"
    from auditor.elffacts import ElfFacts
    from auditor.facts.elfgraph import parse_glibc
    from auditor.facts.owners import wheel_tags
    from auditor.facts.wheelpolicy import glibc_required

    facts = ctx.facts
    glibc = facts.glibc_version
    if glibc is None:
        raise Skip("no glibc in the image (libc.so.6 with version definitions not found)")
    owners = facts.owners
    for info, dist in sorted(owners.dist_names.items()):
        tags = wheel_tags(facts.fs, info)
        needs = [v for v in (glibc_required(t) for t in tags) if v is not None]
        if needs and min(needs) > glibc:
            yield INFO.finding(
                f"{dist} is a wheel for glibc {_fmt(min(needs))} or newer "
                f"({', '.join(tags)}); the image has glibc {_fmt(glibc)}",
                f"Reinstall {dist} inside the image so pip picks a compatible wheel, or "
                "use a newer base image.",
                path=info,
                evidence={"distribution": dist, "tags": tags, "image_glibc": _fmt(glibc)},
            )
    worst: dict[str, tuple[tuple[int, int], str]] = {}
    foreign = facts.unimportable_extensions  # never imported here (EL003)
    for path, elf in facts.fs.elf_files():
        owner = owners.python_distribution(path)
        if owner is None or not isinstance(elf, ElfFacts) or path in foreign:
            continue
        for versions in elf.verneed.values():
            for v in versions:
                parsed = parse_glibc(v)
                newer = parsed is not None and parsed > glibc
                if (
                    parsed is not None
                    and newer
                    and (owner not in worst or parsed > worst[owner][0])
                ):
                    worst[owner] = (parsed, path)
    for dist, (version, path) in sorted(worst.items()):
        yield INFO.finding(
            f"{dist}: /{path} needs GLIBC_{_fmt(version)}; the image has glibc {_fmt(glibc)}",
            f"Use a build of {dist} for an older manylinux tag, or a newer base image.",
            path=path,
            evidence={
                "distribution": dist,
                "needs": f"GLIBC_{_fmt(version)}",
                "image_glibc": _fmt(glibc),
            },
        )
