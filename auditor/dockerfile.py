"""A Dockerfile read into stages of instructions, each with the lines it spans.

Findings point at the Dockerfile line that made their layer (auditor/dockerfile_match.py
does the matching); this module only reads the file. The parsing itself is Docker's own:
the `dockerfile` distribution wraps BuildKit's Go parser, so line continuations, the
`# escape=` directive, comments inside continued lines and heredocs (`RUN <<EOT`) are
read exactly as `docker build` reads them, with the first and last line of each
instruction. What this module adds is what matching needs: the stages (`FROM ... AS
name`) and which stage the image is (the last one, through the chain of `FROM <stage>`),
and `${VAR}` substitution with the values the build used (ARG and ENV).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from auditor.errors import InputError


@dataclass(frozen=True)
class Heredoc:
    name: str  # the delimiter word, "EOT"
    content: str  # the document, with its trailing newline


@dataclass(frozen=True)
class Instruction:
    """One instruction as written: `cmd` upper case, `value` the parser's words."""

    cmd: str  # "RUN", "COPY", ...
    line: int  # first line, 1-based
    end_line: int
    original: str  # the instruction with continuations joined, as the parser gives it
    value: tuple[str, ...]  # arguments (shell form: one string; exec form: the words)
    flags: tuple[str, ...] = ()  # "--from=build", "--chown=app", ...
    json: bool = False  # exec form: RUN ["a", "b"]
    heredocs: tuple[Heredoc, ...] = ()
    stage: int = 0  # index of the stage it belongs to

    def flag(self, name: str) -> str | None:
        """The value of `--name=value`, if given."""
        for flag in self.flags:
            key, _, value = flag.partition("=")
            if key == f"--{name}":
                return value
        return None

    @property
    def short(self) -> str:
        """The instruction on one line, cut to a readable length (for messages)."""
        text = " ".join(self.original.split())
        return text if len(text) <= 60 else text[:57].rstrip() + "..."


@dataclass(frozen=True)
class Stage:
    index: int
    name: str | None  # `AS name`, lower case as Docker compares it
    base: str  # the FROM argument as written
    line: int  # the FROM line
    instructions: tuple[Instruction, ...]  # after FROM, in order


@dataclass(frozen=True)
class Dockerfile:
    path: str  # as the user gave it (reports and SARIF show it)
    stages: tuple[Stage, ...]
    global_args: Mapping[str, str | None] = field(default_factory=dict)  # ARGs before FROM

    def stage_by_name(self, name: str) -> Stage | None:
        name = name.lower()
        for stage in self.stages:
            if stage.name == name:
                return stage
        return None

    def chain(self, target: Stage | None = None) -> list[Stage]:
        """The stages whose instructions end up in `target`'s history (default: the
        last stage), base first: `FROM build` continues stage `build`'s history."""
        stage = target or self.stages[-1]
        out = [stage]
        seen = {stage.index}
        while True:
            parent = self.stage_by_name(stage.base)
            if parent is None or parent.index in seen or parent.index >= stage.index:
                break
            out.append(parent)
            seen.add(parent.index)
            stage = parent
        return out[::-1]

    def final_instructions(self) -> list[Instruction]:
        """Every instruction that wrote a history step of the image, in build order."""
        return [i for stage in self.chain() for i in stage.instructions]


def parse_text(text: str, path: str = "Dockerfile") -> Dockerfile:
    """Parse Dockerfile source. Raises InputError when Docker's parser rejects it or it
    has no FROM."""
    import dockerfile as parser  # deferred: only scans given --dockerfile load it

    try:
        commands = parser.parse_string(text)
    except parser.GoParseError as exc:
        raise InputError(f"{path}: not a Dockerfile: {_one_line(str(exc))}") from None
    return _build(path, commands)


def parse_file(path: str | os.PathLike[str]) -> Dockerfile:
    """Read and parse a Dockerfile; a missing or unreadable file is an InputError."""
    name = os.fspath(path)
    try:
        with open(name, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise InputError(f"--dockerfile {name}: cannot read it: {reason}") from None
    return parse_text(text, name)


def _build(path: str, commands: Sequence[Any]) -> Dockerfile:
    global_args: dict[str, str | None] = {}
    stages: list[Stage] = []
    current: list[Instruction] = []
    header: tuple[str | None, str, int] | None = None

    def close() -> None:
        if header is not None:
            name, base, line = header
            stages.append(Stage(len(stages), name, base, line, tuple(current)))

    for c in commands:
        cmd = str(c.cmd).upper()
        if cmd == "FROM":
            close()
            current = []
            words = [str(v) for v in c.value]
            base = words[0] if words else ""
            name = words[2].lower() if len(words) >= 3 and words[1].upper() == "AS" else None
            header = (name, base, int(c.start_line))
            continue
        instruction = Instruction(
            cmd=cmd,
            line=int(c.start_line),
            end_line=int(c.end_line),
            original=str(c.original),
            value=tuple(str(v) for v in c.value),
            flags=tuple(str(f) for f in c.flags),
            json=bool(c.json),
            heredocs=tuple(Heredoc(str(h.name), str(h.content)) for h in c.heredocs),
            stage=len(stages),
        )
        if header is None:
            if cmd != "ARG":
                raise InputError(f"{path}:{instruction.line}: {cmd} before the first FROM")
            global_args.update(_arg_pairs(instruction.value))
            continue
        current.append(instruction)
    close()
    if not stages:
        raise InputError(f"{path}: no FROM instruction: not a Dockerfile")
    return Dockerfile(path, tuple(stages), global_args)


def _arg_pairs(words: Sequence[str]) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for word in words:
        key, eq, value = word.partition("=")
        out[key] = _unquote(value) if eq else None
    return out


def arg_pairs(instruction: Instruction) -> dict[str, str | None]:
    """`ARG A=1 B` -> {"A": "1", "B": None} (None: no default)."""
    return _arg_pairs(instruction.value)


def env_pairs(instruction: Instruction) -> list[tuple[str, str]]:
    """ENV and LABEL as key/value pairs (the parser gives them as alternating words,
    for `ENV K=V` and the legacy `ENV K V` alike)."""
    words = instruction.value
    return [(words[i], _unquote(words[i + 1])) for i in range(0, len(words) - 1, 2)]


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value


# ---- ${VAR} substitution ----------------------------------------------------------------

_VAR = re.compile(
    r"\$(?:\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?P<mod>:?[-+][^}]*)?\}|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))"
)


def pattern(text: str, env: Mapping[str, str | None]) -> str:
    """A regular expression for `text` as the builder expands it: `${VAR}`, `$VAR`,
    `${VAR:-default}`, `${VAR:+alt}` with the values in `env` (ARG and ENV so far). A
    variable without a value the scan can know (an ARG with no default that no history
    step shows, or a name the base image's ENV may set) matches any text without white
    space: the literal rest of the instruction must still match, so a line is never
    taken from the variable alone."""
    out: list[str] = []
    # an escaped dollar (\$) stays literal
    for part in re.split(r"(\\\$)", text):
        if part == "\\$":
            out.append(re.escape("$"))
            continue
        pos = 0
        for m in _VAR.finditer(part):
            out.append(re.escape(part[pos : m.start()]))
            out.append(_expand(m, env))
            pos = m.end()
        out.append(re.escape(part[pos:]))
    return _one_hole_per_word("".join(out))


def _one_hole_per_word(regex: str) -> str:
    """A word with two or more unknown values (`${APP}/bin:$PATH`) becomes one unknown
    word: one `\\S*` per word matches in linear time, two or more backtrack in
    polynomial time on a long word, and the history is the image's, which may be
    hostile. The words around it must still match."""
    words = regex.split("\\ ")
    return "\\ ".join(_ANY if w.count(_ANY) > 1 else w for w in words)


_ANY = r"\S*"


def _expand(m: re.Match[str], env: Mapping[str, str | None]) -> str:
    name = m.group("braced") or m.group("bare")
    mod = m.group("mod") or ""
    value = env.get(name)
    if value is None:  # declared without a known value, or maybe the base image's ENV
        return _ANY
    if mod.startswith((":-", "-")):
        default = mod.split("-", 1)[1]
        use_value = bool(value) or not mod.startswith(":")
        return re.escape(value if use_value else default)
    if mod.startswith((":+", "+")):
        alt = mod.split("+", 1)[1]
        use_alt = bool(value) or not mod.startswith(":")
        return re.escape(alt if use_alt else "")
    return re.escape(value)


def _one_line(text: str) -> str:
    return " ".join(text.split())
