"""IN001 unreadable-entries: parts of the image imgaudit skipped or could not parse.

Not in criteria.md's table (it has no ID for it): IN001 is proposed for it.

Why it matters: every other check sees only what imgaudit could model. An image from
a stranger may hold tar entries of types a root filesystem does not use, malformed
whiteouts, absurd header values (an mtime of 1e308, a uid of -5), files too large to
read for a check, or ELF files whose headers point past their end. imgaudit does not
stop on these (the rest of the image is still worth auditing) and does not guess:
it says what it skipped, so a clean report is never silently partial.

What is an error instead (exit 2, no report): anything that makes the layer itself
untrustworthy: `..` or absolute entry names, NUL in names, unreadable tar headers,
truncated or corrupt compression, digest mismatches, decompression bombs (over
`--max-ratio`) and tar bombs (over `--max-entries` entries).

Example: a layer written by a hand-rolled tar writer with PAX `mtime=inf`, or a
stripped binary with its section headers cut off.

How to fix: rebuild the image with a standard builder (docker, buildah, kaniko);
for an ELF file, check where it came from (`readelf -h FILE`).
"""

from __future__ import annotations

from collections.abc import Iterable

from auditor.context import CheckContext
from auditor.elffacts import UnreadableElf
from auditor.findings import CheckInfo, Dimension, Finding, Severity

INFO = CheckInfo(
    id="IN001",
    name="unreadable-entries",
    title="Entries imgaudit skipped or could not parse",
    severity=Severity.INFO,
    criterion="every tar entry and ELF file is read",
    dimension=Dimension.USABLE,
)

SHOWN = 50  # entries listed in the evidence; the message gives the full count


def run(ctx: CheckContext) -> Iterable[Finding]:
    fs = ctx.facts.fs
    skipped = fs.skipped
    if skipped:
        yield INFO.finding(
            f"{len(skipped)} tar entr{'y' if len(skipped) == 1 else 'ies'} skipped or "
            f"recorded in part: {skipped[0][1]}" + (" ..." if len(skipped) > 1 else ""),
            "Rebuild the image with a standard builder; see the evidence for each entry",
            evidence={
                "skipped": [{"layer": layer, "entry": text} for layer, text in skipped[:SHOWN]],
                "count": len(skipped),
            },
        )
    broken = [
        (path, facts.reason) for path, facts in fs.elf_files() if isinstance(facts, UnreadableElf)
    ]
    if broken:
        yield INFO.finding(
            f"{len(broken)} ELF file{'' if len(broken) == 1 else 's'} could not be parsed "
            f"(e.g. /{broken[0][0]}: {broken[0][1]}); link checks skip "
            f"{'it' if len(broken) == 1 else 'them'}",
            "Check where the file came from (readelf -h FILE); a damaged binary will not run",
            path=broken[0][0],
            paths=tuple(p for p, _ in broken[1:SHOWN]),
            evidence={"unparseable": {p: e for p, e in broken[:SHOWN]}, "count": len(broken)},
        )
