"""Which Dockerfile instruction wrote each step of the image's history.

The image config's history has one step per instruction of the final stage (and of the
stages it continues with `FROM <stage>`), after the base image's own steps. Each builder
writes a step's `created_by` in its own way:

    classic builder                                  BuildKit
    /bin/sh -c #(nop)  ENV A=1 B=2                   ENV A=1 B=2
    /bin/sh -c #(nop) COPY dir:<hash> in /app/src/   COPY src/ /app/src/ # buildkit
    /bin/sh -c #(nop) COPY --chown=1:1file:<h> in /x COPY --chown=1:1 /built /x # buildkit
    /bin/sh -c #(nop) WORKDIR /app                   WORKDIR /app
    |2 A=1 B=2 /bin/sh -c pip install .              RUN |2 A=1 B=2 /bin/sh -c pip install .
    /bin/echo exec form                              RUN /bin/echo exec form # buildkit

A step matches an instruction only when its text is what that instruction writes: the
same kind, and the same command, destination, keys and values once `${VAR}` is expanded
with the values the build used, as the history itself shows them: `|N K=V` prefixes of
RUN steps, BuildKit's `ARG K=V` steps, and the ENV steps matched to an instruction. An
ARG default is not trusted (--build-arg may have overridden it): a value nobody shows
matches any one word, never the literal rest. Instructions and steps are aligned in
order (a longest common subsequence that prefers the latest steps, so the final stage's
own steps win over a base step that happens to read the same). Steps before the first
match are the base image's; a step after it that matches nothing, or an instruction no
step matches, is reported as such (an out-of-date Dockerfile, a base image's ONBUILD
trigger): a line is never guessed.
"""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from auditor.dockerfile import Dockerfile, Instruction, arg_pairs, env_pairs, pattern
from auditor.history import INSTRUCTIONS, build_args

BUILDKIT_SUFFIX = " # buildkit"
# The history comes from the image, which may be hostile. Patterns hold at most one
# unknown value (`\S*`) per word (auditor/dockerfile.py), so one comparison is linear in
# the step's length; still, a step other than RUN longer than any real one (ENV, WORKDIR,
# COPY) matches nothing, RUN (literal patterns) is capped higher, and a history longer
# than any real build is not aligned (the alignment compares steps x instructions).
MAX_STEP_TEXT = 4 * 1024
MAX_RUN_TEXT = 1024 * 1024
MAX_STEPS = 4096
NOP = "/bin/sh -c #(nop) "
DEFAULT_SHELL: tuple[str, ...] = ("/bin/sh", "-c")
_CLASSIC_COPY = re.compile(r"^(?:--chown=\S*?)?(?:file|dir|multi):[0-9a-f]+ in (?P<dest>.*)$")


@dataclass(frozen=True)
class Step:
    """One history step as the builder wrote it."""

    index: int  # position in the config's history
    created_by: str
    empty_layer: bool
    layer: int | None  # the layer it made (None: an empty step, or past the layers)
    kind: str  # "RUN", "COPY", ... as far as the text says
    body: str  # the text after the kind, white space collapsed
    classic: bool = False  # written by the classic builder (`/bin/sh -c #(nop) ...`)

    @classmethod
    def parse(cls, index: int, created_by: str, empty: bool, layer: int | None) -> Step:
        text = " ".join(created_by.split())
        text = text.removesuffix(BUILDKIT_SUFFIX.strip()).strip()
        classic = text.startswith(NOP.strip())
        if classic:
            text = text[len(NOP.strip()) :].strip()
            kind, _, body = text.partition(" ")
        else:
            kind, _, body = text.partition(" ")
            if kind not in INSTRUCTIONS:  # the classic builder's RUN: no kind written
                kind, body, classic = "RUN", text, True
        return cls(index, created_by, empty, layer, kind, body.strip(), classic)


@dataclass(frozen=True)
class Expected:
    """What one instruction writes, as far as the Dockerfile and the history tell."""

    instruction: Instruction
    kind: str
    patterns: tuple[re.Pattern[str], ...]  # any of them, on the step's body
    shells: tuple[str, ...] = ()  # RUN, shell form: the shell's words joined

    def matches(self, step: Step) -> bool:
        if step.kind != self.kind:
            return False
        if len(step.body) > (MAX_RUN_TEXT if self.kind == "RUN" else MAX_STEP_TEXT):
            return False
        if self.kind == "RUN":
            return self._run_matches(step.body)
        return any(p.fullmatch(step.body) for p in self.patterns)

    def _run_matches(self, body: str) -> bool:
        # "|2 A=1 B=2 /bin/sh -c cmd", "/bin/sh -c cmd", exec form "a b"
        for p in self.patterns:
            for m in p.finditer(body):
                if m.end() != len(body):
                    continue
                prefix = body[: m.start()].strip()
                if self.shells:
                    if prefix in self.shells or (
                        prefix.startswith("|") and prefix.endswith(self.shells)
                    ):
                        return True
                elif not prefix or prefix.startswith("|"):
                    return True
        return False


@dataclass(frozen=True)
class Match:
    step: Step
    instruction: Instruction | None
    role: str  # "base" | "matched" | "unmatched"


@dataclass(frozen=True)
class Matching:
    dockerfile: Dockerfile
    steps: tuple[Match, ...]
    missing: tuple[Instruction, ...]  # instructions of the final stage no step matches
    too_long: bool = False  # the history has more than MAX_STEPS steps: not aligned

    def for_layer(self, layer: int | None) -> Instruction | None:
        if layer is None:
            return None
        for m in self.steps:
            if m.step.layer == layer:
                return m.instruction
        return None

    @property
    def matched(self) -> list[Match]:
        return [m for m in self.steps if m.role == "matched"]

    def to_json(self) -> dict[str, Any]:
        """The report's top-level `dockerfile` section."""
        stage = self.dockerfile.stages[-1]
        out: dict[str, Any] = {
            "path": self.dockerfile.path,
            "stage": stage.name if stage.name is not None else stage.index,
            "base_steps": sum(1 for m in self.steps if m.role == "base"),
            "matched": [
                {
                    "step": m.step.index,
                    "layer": m.step.layer,
                    "line": m.instruction.line,
                    "instruction": instruction_text(m.instruction),
                }
                for m in self.matched
                if m.instruction is not None
            ],
            "unmatched_steps": [
                {"step": m.step.index, "layer": m.step.layer, "created_by": m.step.created_by}
                for m in self.steps
                if m.role == "unmatched"
            ],
            "unmatched_instructions": [
                {"line": i.line, "instruction": instruction_text(i)} for i in self.missing
            ],
        }
        if self.too_long:
            out["problem"] = (
                f"the image's history has more than {MAX_STEPS} steps, more than any "
                "real build: it was not matched"
            )
        elif not self.steps:
            out["problem"] = "the image config has no build history: no line can be named"
        elif not self.matched:
            out["problem"] = (
                "no history step of the image matches an instruction of the Dockerfile's "
                "final stage: it is not the Dockerfile this image was built from"
            )
        elif self.missing or out["unmatched_steps"]:
            out["problem"] = (
                "the Dockerfile and the image's history differ (an out-of-date Dockerfile, "
                "or steps a base image's ONBUILD added): unmatched steps have no line"
            )
        return out


def instruction_text(instruction: Instruction) -> str:
    """The instruction on one line, as the report names it (a heredoc by its first
    line: `RUN <<EOT`)."""
    text = instruction.original
    if instruction.heredocs:
        text = text.split("\n", 1)[0]
    return " ".join(text.split())


def steps_of(config: Mapping[str, Any], layer_count: int) -> list[Step]:
    """The config's history as steps, each with the layer it made, matched to layers
    as auditor/history.py (and `docker history`) matches them."""
    history = config.get("history")
    if not isinstance(history, list):
        return []
    out = []
    layer = 0
    for i, h in enumerate(history):
        if not isinstance(h, dict):
            continue
        empty = bool(h.get("empty_layer"))
        position: int | None = None
        if not empty:
            position = layer if layer < layer_count else None
            layer += 1
        text = h.get("created_by")
        out.append(Step.parse(i, text if isinstance(text, str) else "", empty, position))
    return out


def match(dockerfile: Dockerfile, config: Mapping[str, Any], layer_count: int) -> Matching:
    """Align the image's history with the Dockerfile's final stage."""
    steps = steps_of(config, layer_count)
    instructions = dockerfile.final_instructions()
    if len(steps) > MAX_STEPS:
        return Matching(dockerfile, tuple(Match(s, None, "base") for s in steps), (), True)
    learned = learned_args(steps)
    expected = expectations(dockerfile, instructions, learned)
    pairs = _align(expected, steps)
    # second pass: the values the matched ENV steps show (what a --build-arg made of
    # `ENV APP_HOME=${APP_HOME}`) decide the instructions that use them
    observed = {i: _env_values(instructions[i], steps[j]) for i, j in pairs}
    observed = {i: values for i, values in observed.items() if values}
    if observed:
        expected = expectations(dockerfile, instructions, learned, observed)
        pairs = _align(expected, steps)
    by_step = {s: expected[i].instruction for i, s in pairs}
    first = min(by_step) if by_step else len(steps)
    out = []
    for position, step in enumerate(steps):
        if position in by_step:
            out.append(Match(step, by_step[position], "matched"))
        else:
            out.append(Match(step, None, "base" if position < first else "unmatched"))
    used = {i for i, _ in pairs}
    missing = tuple(e.instruction for i, e in enumerate(expected) if i not in used)
    return Matching(dockerfile, tuple(out), missing)


def _align(expected: Sequence[Expected], steps: Sequence[Step]) -> list[tuple[int, int]]:
    """Longest common subsequence of instructions and steps (pairs of positions); among
    equally long ones, each instruction takes the latest step it can."""
    n, m = len(expected), len(steps)
    ok = [[expected[i].matches(steps[j]) for j in range(m)] for i in range(n)]
    best = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(n):
        for j in range(m):
            best[i + 1][j + 1] = max(
                best[i][j + 1], best[i + 1][j], best[i][j] + 1 if ok[i][j] else 0
            )
    pairs = []
    i, j = n, m
    while i > 0 and j > 0:
        if ok[i - 1][j - 1] and best[i][j] == best[i - 1][j - 1] + 1:
            pairs.append((i - 1, j - 1))
            i, j = i - 1, j - 1
        elif best[i][j] == best[i - 1][j]:
            i -= 1
        else:
            j -= 1
    return pairs[::-1]


def _env_values(instruction: Instruction, step: Step) -> dict[str, str]:
    """`ENV A=${X} B=2` matched to `ENV A=/srv B=2`: {"A": "/srv", "B": "2"}."""
    if instruction.cmd != "ENV":
        return {}
    keys = [k for k, _ in env_pairs(instruction)]
    regex = " ".join(re.escape(k) + "=(.*)" for k in keys)
    m = re.fullmatch(regex, step.body)
    return dict(zip(keys, m.groups())) if m else {}


def learned_args(steps: Sequence[Step]) -> dict[str, str]:
    """Build-arg values the history shows: BuildKit's `ARG K=V` steps (recent BuildKit
    writes the value used; the classic builder, and dockerd 20.10's BuildKit 0.8, the
    default whatever --build-arg said: a wrong value can only fail a match), then the
    `|N K=V ...` prefixes of RUN steps (what every RUN saw; they win)."""
    out: dict[str, str] = {}
    for step in steps:
        if step.kind == "ARG" and not step.classic:
            for word in step.body.split():
                key, eq, value = word.partition("=")
                if eq:
                    out[key] = value
    for step in steps:
        if step.kind == "RUN" and step.body.startswith("|"):
            out.update(_prefix_args(step.body))
    return out


def _prefix_args(body: str) -> dict[str, str]:
    """`|2 A=1 B=2 /bin/sh -c ...`: the count says how many K=V words follow. A value
    with spaces is cut at its first word: a wrong value can only fail a match."""
    return build_args(body)[0]


# ---- what each instruction writes -------------------------------------------------------


def expectations(
    dockerfile: Dockerfile,
    instructions: Sequence[Instruction],
    learned: Mapping[str, str],
    observed: Mapping[int, Mapping[str, str]] | None = None,
) -> list[Expected]:
    """Each instruction's expected step, with ARG/ENV as they stand at that point.

    `learned`: build-arg values the history shows; an ARG whose value no step shows
    may have been overridden with --build-arg, so its default is not trusted (it
    matches any word). `observed`: per instruction position, the values an ENV step
    matched to it shows (`ENV APP_HOME=/srv/web`), which later instructions use."""
    observed = observed or {}
    env: dict[str, str | None] = {}
    workdir: str | None = None
    shell = DEFAULT_SHELL
    stage = None
    args: set[str] = set()  # names whose value is an ARG's (scoped to its stage)
    out = []
    for position, ins in enumerate(instructions):
        if ins.stage != stage:  # a stage continuing another keeps its ENV, not its ARGs
            stage = ins.stage
            for key in args:
                env.pop(key, None)
            args.clear()
        exp, workdir = _expected(ins, env, workdir, shell)
        out.append(exp)
        if ins.cmd == "ARG":
            for key in arg_pairs(ins):
                env[key] = learned.get(key)
                args.add(key)
        elif ins.cmd == "ENV":
            seen = observed.get(position, {})
            for key, value in env_pairs(ins):
                env[key] = seen[key] if key in seen else _value(value, env)
                args.discard(key)
        elif ins.cmd == "SHELL" and ins.json:
            shell = tuple(ins.value)
    return out


def _value(text: str, env: Mapping[str, str | None]) -> str | None:
    """The literal value of `text` once expanded, or None when part of it is unknown."""
    expanded = pattern(text, env)
    literal = re.sub(r"\\(.)", r"\1", expanded)
    if "\\S*" in expanded:
        return None
    return literal


def _compile(*texts: str) -> tuple[re.Pattern[str], ...]:
    return tuple(re.compile(t) for t in texts)


def _words(text: str) -> str:
    return " ".join(text.split())


def _expected(
    ins: Instruction, env: Mapping[str, str | None], workdir: str | None, shell: tuple[str, ...]
) -> tuple[Expected, str | None]:
    cmd = ins.cmd
    if cmd == "RUN":
        return _run(ins, shell), workdir
    if cmd in ("COPY", "ADD"):
        return _copy(ins, env), workdir
    if cmd in ("ENV", "LABEL"):
        text = " ".join(
            re.escape(_words(k)) + "=" + pattern(_words(v), env) for k, v in env_pairs(ins)
        )
        return Expected(ins, cmd, _compile(_ws(text))), workdir
    if cmd == "ARG":
        keys = list(arg_pairs(ins))
        text = " ".join(re.escape(k) + r"(?:=.*?)?" for k in keys)
        return Expected(ins, cmd, _compile(text)), workdir
    if cmd == "WORKDIR":
        return _workdir(ins, env, workdir)
    if cmd == "USER":
        return Expected(ins, cmd, _compile(pattern(_words(" ".join(ins.value)), env))), workdir
    if cmd in ("CMD", "ENTRYPOINT"):
        words = list(ins.value) if ins.json else [*shell, " ".join(ins.value)]
        quoted = " ".join(json.dumps(w, ensure_ascii=False) for w in words)
        return Expected(ins, cmd, _compile(re.escape(f"[{_words(quoted)}]"))), workdir
    if cmd in ("EXPOSE", "VOLUME", "STOPSIGNAL", "MAINTAINER"):
        # the builders print these differently (EXPOSE map[8080/tcp:{}]): each word,
        # expanded, must appear in the step
        parts = [pattern(w, env) for w in ins.value]
        text = "".join(rf"(?=.*(?<![\w.]){p}(?![\w.]))" for p in parts) + ".*"
        return Expected(ins, cmd, _compile(text)), workdir
    # HEALTHCHECK, SHELL, ONBUILD: the kind alone (each is rare and written differently)
    return Expected(ins, cmd, _compile(".*")), workdir


def _ws(regex: str) -> str:
    """Escaped spaces in a pattern built from collapsed text match one space."""
    return regex.replace("\\ ", " ")


def _run(ins: Instruction, shell: tuple[str, ...]) -> Expected:
    if ins.json:
        return Expected(ins, "RUN", _compile(re.escape(_words(" ".join(ins.value)))))
    candidates = [_words(" ".join(ins.value))]
    for doc in ins.heredocs:
        # BuildKit runs a lone heredoc's body in the shell, or a script with a #! line
        # from a mount; several are passed to the shell reconstituted
        candidates.append(_words(doc.content))
        candidates.append(f"/dev/pipes/{doc.name}")
    if ins.heredocs:
        docs = " ".join(_words(d.content + d.name) for d in ins.heredocs)
        candidates.append(_words(" ".join(ins.value)) + " " + docs)
    patterns = tuple(re.compile(_ws(re.escape(c))) for c in candidates if c)
    shells = (" ".join(shell),)
    return Expected(ins, "RUN", patterns, shells)


def _copy(ins: Instruction, env: Mapping[str, str | None]) -> Expected:
    words = list(ins.value)  # the exec form's words too: COPY ["a b", "/x/"]
    if not words:
        return Expected(ins, ins.cmd, ())
    dest = pattern(words[-1], env)
    docs = iter(ins.heredocs)
    sources = []
    for word in words[:-1]:
        doc = next(docs, None) if word.startswith("<<") else None
        sources.append(f"<<{doc.name}" if doc is not None else word)
    # classic builder: "<type>:<hash> in <dest>"
    classic = _CLASSIC_COPY.pattern[: -len("(?P<dest>.*)$")] + _ws(dest) + "$"
    flags = ""
    for name in ("parents", "chown", "chmod"):
        value = ins.flag(name)
        if value is not None:
            flags += " --parents" if name == "parents" else f" --{name}=" + pattern(value, env)
    srcs = " ".join(pattern(s, env) for s in sources)
    buildkit = "(?:--from=\\S+ )?" + (flags[1:] + " " if flags else "") + srcs + " " + dest
    return Expected(ins, ins.cmd, _compile(_ws(classic), _ws(buildkit)))


def _workdir(
    ins: Instruction, env: Mapping[str, str | None], workdir: str | None
) -> tuple[Expected, str | None]:
    """Both builders record the resolved, cleaned absolute path (`WORKDIR /app/src`)."""
    text = _words(" ".join(ins.value))
    literal = _value(text, env)
    if literal is not None:
        if not literal.startswith("/"):
            if workdir is None:  # relative to the base image's, which is not known here
                rel = posixpath.normpath(literal)
                return Expected(ins, "WORKDIR", _compile(r"/(?:.*/)?" + re.escape(rel))), None
            literal = posixpath.join(workdir, literal)
        resolved = posixpath.normpath(literal)
        return Expected(ins, "WORKDIR", _compile(re.escape(resolved))), resolved
    target = pattern(text.rstrip("/") or "/", env)
    if not text.startswith(("/", "$")):
        base = re.escape(workdir.rstrip("/")) if workdir is not None else r"(?:/.*)?"
        target = base + "/" + target
    return Expected(ins, "WORKDIR", _compile(target)), None
