"""The image config's build history, matched to layers.

History entries marked `empty_layer` (ENV, CMD, ...) made no layer; the others map,
in order, onto the layers, as `docker history` matches them. A history shorter than
the layer list (hand-made or squashed configs) leaves the last layers without a
`created_by`.
"""

from __future__ import annotations

import re
from typing import Any

#: The files a project's dependency install reads (requirements, constraints, locks,
#: pyproject/setup, and the README or LICENSE some build backends insist on), as a
#: pattern over a path: what a cache-friendly Dockerfile copies alone before the install
#: (BL001 asks for it; BL004 leaves that COPY alone).
MANIFESTS = (
    r"(?:^|/)(?:requirements[^/\s]*\.(?:txt|in)|constraints[^/\s]*\.txt|pyproject\.toml|"
    r"setup\.(?:py|cfg)|Pipfile(?:\.lock)?|poetry\.lock|uv\.lock|pdm\.lock|[^/\s]+\.lock|"
    r"environment\.ya?ml|README[^/\s]*|LICENSE[^/\s]*)$"
)


_ARG_WORD = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")

#: The instructions a history entry may name (BuildKit writes the name; the classic
#: builder writes `/bin/sh -c #(nop) NAME ...`, or nothing before a RUN's command).
INSTRUCTIONS = frozenset(
    {"RUN", "COPY", "ADD", "ENV", "ARG", "LABEL", "WORKDIR", "USER", "EXPOSE", "CMD",
     "ENTRYPOINT", "VOLUME", "STOPSIGNAL", "HEALTHCHECK", "SHELL", "ONBUILD", "MAINTAINER"}
)  # fmt: skip


def step_parts(created_by: str) -> tuple[str, str]:
    """(instruction, the rest) of a history entry as either builder writes it, white
    space collapsed: `("RUN", "|1 A=1 /bin/sh -c make")`, `("ENV", "A=1 B=2")`."""
    text = " ".join(created_by.split()).removesuffix(" # buildkit").strip()
    if text.startswith("/bin/sh -c #(nop) "):
        kind, _, body = text[len("/bin/sh -c #(nop) ") :].partition(" ")
        return kind, body.strip()
    kind, _, body = text.partition(" ")
    if kind not in INSTRUCTIONS:  # the classic builder's RUN: no instruction written
        return "RUN", text
    return kind, body.strip()


def build_args(body: str) -> tuple[dict[str, str], str]:
    """A RUN step's build arguments and its command: `|2 A=1 B=2 /bin/sh -c cmd` gives
    ({"A": "1", "B": "2"}, "/bin/sh -c cmd"). The count says how many `K=V` words
    follow; a value with spaces is cut at its first word."""
    words = body.split(" ")
    try:
        count = int(words[0][1:]) if words[0].startswith("|") else -1
    except ValueError:
        count = -1
    if count < 0:
        return {}, body
    args: dict[str, str] = {}
    for word in words[1 : count + 1]:
        if not _ARG_WORD.match(word):
            break
        key, _, value = word.partition("=")
        args[key] = value
    return args, " ".join(words[1 + len(args) :])


def created_by_per_layer(config: dict[str, Any], layer_count: int) -> list[str | None]:
    history = config.get("history")
    out: list[str | None] = [None] * layer_count
    if not isinstance(history, list):
        return out
    steps = [h for h in history if isinstance(h, dict) and not h.get("empty_layer")]
    # Matched in order, as far as both go: what `docker history` does (it stops at the
    # last layer; layers past the end of the history stay without a step).
    for i, step in enumerate(steps[:layer_count]):
        text = step.get("created_by")
        out[i] = clean_step(text) if isinstance(text, str) else None
    return out


def clean_step(text: str) -> str:
    """Docker's `/bin/sh -c #(nop) COPY ...` becomes `COPY ...`; BuildKit's `RUN /bin/sh -c x`
    becomes `RUN x`: the Dockerfile line as written. The build arguments a RUN step
    was given (`|2 A=1 B=2`, both builders) are left out, as the Dockerfile line has
    none, and what looks like a secret is masked (`auditor/redaction.py`): every report
    quotes these texts."""
    from auditor.redaction import redact  # deferred: start-up time, see README

    return redact(_clean_step(text))


def _clean_step(text: str) -> str:
    text = text.strip().removesuffix("# buildkit").strip()
    if text.startswith("RUN |"):  # BuildKit with build args: "RUN |2 A=1 B=2 /bin/sh -c cmd"
        text = text[len("RUN ") :]
    for prefix in ("/bin/sh -c #(nop) ", "|"):
        if text.startswith(prefix):
            if prefix == "|":
                # build args: "|2 A=1 B=2 /bin/sh -c cmd", or exec form "|2 A=1 B=2 prog arg"
                _, _, rest = text.partition(" /bin/sh -c ")
                if rest:
                    return "RUN " + rest.strip()
                _, command = build_args(text)
                return "RUN " + command.strip() if command and command != text else text
            return text[len(prefix) :].strip()
    if text.startswith("/bin/sh -c "):
        return "RUN " + text[len("/bin/sh -c ") :].strip()
    if text.startswith("RUN /bin/sh -c "):
        return "RUN " + text[len("RUN /bin/sh -c ") :].strip()
    return text
