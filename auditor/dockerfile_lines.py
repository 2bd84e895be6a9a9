"""Findings pointed at the Dockerfile line that wrote their layer (`--dockerfile`).

A developer fixes a Dockerfile, not a layer: a finding whose layer's history step
matches an instruction (auditor/dockerfile_match.py) gets `dockerfile: {path, line,
instruction}`, and its remedy names that line. A finding about the image config rather
than a layer (the user it runs as) points at the instruction that set it when there is
one, and otherwise says where the missing instruction goes. Findings in base layers, or
in steps the Dockerfile does not explain, get no line: the report's `dockerfile`
section says which steps matched nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from auditor.dockerfile import Dockerfile, Instruction, parse_file
from auditor.dockerfile_match import Matching, instruction_text, match
from auditor.findings import DockerfileLine, Finding

RUNS_AS_ROOT = "SEC001"


@dataclass(frozen=True)
class Located:
    findings: list[Finding]
    matching: Matching


def locate(path: str, config: dict, layer_count: int, findings: Sequence[Finding]) -> Located:
    """Parse the Dockerfile at `path`, match it to the image's history (`config`: the
    image config) and give each finding its line. Raises InputError for a Dockerfile
    that cannot be read or parsed."""
    return locate_in(parse_file(path), config, layer_count, findings)


def locate_in(
    dockerfile: Dockerfile, config: dict, layer_count: int, findings: Sequence[Finding]
) -> Located:
    matching = match(dockerfile, config, layer_count)
    return Located([_locate(f, matching) for f in findings], matching)


def _locate(finding: Finding, matching: Matching) -> Finding:
    if finding.check_id == RUNS_AS_ROOT and finding.layer is None:
        return _runs_as_root(finding, matching)
    instruction = matching.for_layer(finding.layer)
    if instruction is None:
        return finding
    return finding.with_(
        dockerfile=_line(matching.dockerfile, instruction),
        remedy=f"line {instruction.line}: `{instruction.short}`: {finding.remedy}",
    )


def _line(dockerfile: Dockerfile, instruction: Instruction) -> DockerfileLine:
    return DockerfileLine(dockerfile.path, instruction.line, instruction_text(instruction))


def _runs_as_root(finding: Finding, matching: Matching) -> Finding:
    """The image runs as root. The line is the USER instruction that made the last USER
    step (`USER root`, or a name that maps to uid 0); with no USER step at all, the
    remedy says before which line the instruction goes."""
    users = [m for m in matching.steps if m.step.kind == "USER"]
    last = users[-1].instruction if users else None
    if last is not None:
        return finding.with_(
            dockerfile=_line(matching.dockerfile, last),
            remedy=f"line {last.line}: `{last.short}` sets a root user: {finding.remedy}",
        )
    everything = matching.dockerfile.final_instructions()
    final = [i for i in everything if i.stage == _final(matching)]
    if not final or any(i.cmd == "USER" for i in everything):
        return finding  # a USER the history does not show: the Dockerfile is not the image's
    starts = [i for i in final if i.cmd in ("CMD", "ENTRYPOINT")]
    where = (
        f"before line {starts[0].line} (`{starts[0].short}`)"
        if starts
        else f"after line {final[-1].end_line} (`{final[-1].short}`)"
    )
    return finding.with_(
        remedy=f"{matching.dockerfile.path} sets no USER: {finding.remedy}, {where}"
    )


def _final(matching: Matching) -> int:
    return matching.dockerfile.stages[-1].index
