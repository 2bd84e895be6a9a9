"""IN001 unreadable-entries: what the image holds that imgaudit cannot model.

Not in criteria.md's table (it has no ID for it): IN001 is proposed for it.

Why it matters: every other check sees only what imgaudit could model. An image from
a stranger may hold tar entries of types a root filesystem does not use (a GNU volume
header, a multi-volume continuation), malformed whiteouts, absurd header values (an
mtime of 1e308, a uid of -5), or ELF files whose headers point past their end or that
are cut short. imgaudit does not stop on these (the rest of the image is still worth
auditing) and does not guess: it says what it could not model, so a clean report is
never silently partial.

What it covers, and what it does not: IN001 states facts about the image, and only
those. imgaudit's own limits are not: a file whose content it kept only in part
(over a capture size, e.g. a 280 KB `cacert.pem`) or an ELF file whose link facts lie
beyond what its streaming parser keeps while nothing in its header stops the loader
(a huge `libopenblas`) is in the image as written and loads as usual. Those are listed
in the JSON report's `skipped` section (`kind: reader-limit`), never as findings; the
entries IN001 reports are there too (`kind: unmodelled`). A damaged library that
something loads is EL001's: it says which programs and imports fail.

What is an error instead (exit 2, no report): anything that makes the layer itself
untrustworthy: `..` or absolute entry names, NUL in names, unreadable tar headers,
truncated or corrupt compression, digest mismatches, decompression bombs (over
`--max-ratio`) and tar bombs (over `--max-entries` entries).

Example: a layer written by a hand-rolled tar writer with PAX `mtime=inf`, or a
library truncated by an interrupted copy.

How to fix: rebuild the image with a standard builder (docker, buildah, kaniko);
for an ELF file, check where it came from (`readelf -h FILE`).
"""

from __future__ import annotations

from collections.abc import Iterable

from auditor.context import CheckContext
from auditor.findings import CheckInfo, Dimension, Finding, Severity

INFO = CheckInfo(
    id="IN001",
    name="unreadable-entries",
    title="Entries of the image imgaudit cannot model",
    severity=Severity.INFO,
    criterion="every tar entry and ELF file is read",
    dimension=Dimension.USABLE,
)

SHOWN = 50  # entries listed in the evidence; the message gives the full count


def run(ctx: CheckContext) -> Iterable[Finding]:
    from auditor.layerindex import reader_limit  # deferred: start-up time, see README

    fs = ctx.facts.fs
    skipped = [(layer, note) for layer, note in fs.skipped if not reader_limit(note)]
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
        (path, facts.reason)
        for path, facts, reader_limited in fs.unreadable_elf_files()
        if not reader_limited
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
