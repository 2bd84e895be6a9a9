"""EL003 libc-mismatch: glibc binaries in a musl image, or musl binaries in a glibc image.

Why it matters: a glibc program on Alpine fails with a confusing `not found` for a file
that exists (its PT_INTERP /lib64/ld-linux-x86-64.so.2 is missing), and manylinux wheels
copied into a musl image cannot be imported; the reverse holds for musl binaries.

How it is found: the image's C library (ld-musl-* or glibc's loader/libc.so.6 present)
against each ELF's PT_INTERP (ld-linux* vs ld-musl-*) and its DT_NEEDED libc
(libc.so.6 = glibc, libc.musl-*.so.1 = musl).

Example: `/usr/local/bin/tool is linked against glibc (libc.so.6) but the image uses musl`.

Also extension modules, where an import finds them, built for another platform: another
CPU (`pip install --platform manylinux2014_aarch64 --target ...` in an amd64 image) or
tagged for another platform's CPython (`NAME.cpython-311-x86_64-linux-musl.so`).
CPython imports only its own `NAME.cpython-311-x86_64-linux-gnu.so` (or `.abi3.so`,
`.so`): `import pkg.NAME` fails with ModuleNotFoundError, whatever the file links
against (EL001 and PK002 leave those files out). Severity as EL001 judges a module that
fails to import: an error for a top-level module or one directly in a package, else a
warning.

How to fix: use binaries and wheels built for the image's libc (musllinux wheels on
Alpine), or switch to a glibc base such as debian:bookworm-slim.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from auditor.context import CheckContext
from auditor.findings import CheckInfo, Dimension, Finding, Severity, Skip

if TYPE_CHECKING:  # deferred: start-up time, see README "Performance"
    from auditor.elffacts import ElfFacts

INFO = CheckInfo(
    id="EL003",
    name="libc-mismatch",
    title="An ELF is built for a different C library than the image has",
    severity=Severity.ERROR,
    criterion="no libc mix",
    dimension=Dimension.USABLE,
)


def elf_libc(facts: ElfFacts) -> str | None:
    """glibc / musl from an ELF's loader and libc dependency; None when it does not say."""
    interp = facts.interp or ""
    if "ld-musl" in interp:
        return "musl"
    if "ld-linux" in interp:
        return "glibc"
    for name in facts.needed:
        if name.startswith("libc.musl-"):
            return "musl"
        if name == "libc.so.6":
            return "glibc"
    return None


def run(ctx: CheckContext) -> Iterable[Finding]:
    from auditor.elffacts import ElfFacts  # deferred: start-up time, see README
    from auditor.facts.owners import import_name

    image_libc = ctx.facts.os.libc
    if image_libc not in ("glibc", "musl"):
        raise Skip("the image's C library is unknown (no glibc or musl loader found)")
    foreign = ctx.facts.unimportable_extensions
    for path, facts in ctx.facts.fs.elf_files():
        if not isinstance(facts, ElfFacts):
            continue
        libc = elf_libc(facts)
        if libc is None or libc == image_libc:
            continue
        module = import_name(path, ctx.facts.import_roots) if path in foreign else None
        never = (
            f": this image's CPython imports no module from it (`import {module}` fails)"
            if module
            else ""
        )
        yield INFO.finding(
            f"/{path} is built for {libc} but the image's C library is {image_libc}{never}",
            f"Use a build of it for {image_libc} (musllinux/manylinux wheel, distro package).",
            path=path,
            evidence={
                "elf_libc": libc,
                "image_libc": image_libc,
                "interp": facts.interp,
                "dpkg_package": ctx.facts.owners.dpkg(path),
                "python_distribution": ctx.facts.owners.python_distribution(path),
            },
        )
    yield from _other_platform_modules(ctx, image_libc)


def _other_platform_modules(ctx: CheckContext, image_libc: str) -> Iterable[Finding]:
    """Extension modules for another CPU (or another platform's CPython, when their libc
    is the image's) where an import finds them: CPython here never imports them."""
    from auditor.elffacts import ElfFacts  # deferred: start-up time, see README
    from auditor.facts.owners import import_name

    facts = ctx.facts
    for path, built_for in sorted(facts.unimportable_extensions.items()):
        elf = facts.fs.elf(path)
        if isinstance(elf, ElfFacts) and elf_libc(elf) not in (None, image_libc):
            continue  # reported above, as built for the other C library
        module = import_name(path, facts.import_roots) or "?"
        yield INFO.finding(
            f"/{path} is an extension module built for {built_for}, not for this image "
            f"({facts.architecture}, {image_libc}): its CPython imports no module from it "
            f"(`import {module}` fails)",
            "Install the package inside the image (or with pip's --platform set to the "
            "image's platform) so that pip picks its wheel for this platform.",
            path=path,
            severity=Severity.ERROR if module.count(".") <= 1 else Severity.WARNING,
            evidence={
                "built_for": built_for,
                "image_architecture": facts.architecture,
                "image_libc": image_libc,
                "import": module,
                "python_distribution": facts.owners.python_distribution(path),
            },
        )
