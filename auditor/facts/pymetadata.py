"""Core metadata of one installed distribution, read the way importlib.metadata reads it.

importlib.metadata takes the first of `METADATA`, `PKG-INFO`, or (for a single-file
egg-info, as distutils and Debian write them) the file itself that has any text, and
parses it with the email parser: headers end at the first line that is not a header,
so a merge marker or a byte-order mark on the first line leaves no Name at all, and a
header given twice counts by its first value. `packaging.metadata.parse_email` uses
that same parser (compat32), so Name and Version here are exactly importlib's, spaces
included. Nothing is invented: no Name or no Version in the metadata is None, whatever
the directory is called.

One deliberate difference: importlib reads the text as strict UTF-8 and raises on
anything else; old setuptools wrote Latin-1, which is read as such here.

Requirements: `Requires-Dist` parsed with `packaging.requirements` (what pip does); an
egg-info without them has `requires.txt`, whose `[extra:marker]` sections become
markers as importlib's `Distribution.requires` spells them. A requirement packaging
cannot parse is kept as written, apart.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

# deferred: start-up time, see README "Performance" (packaging's metadata module, with
# email, and its requirements module: a scan answered from the result cache needs neither)
if TYPE_CHECKING:
    from packaging.requirements import Requirement


@dataclass(frozen=True)
class CoreMetadata:
    name: str | None  # `Name` as written (first one), None when absent
    version: str | None  # `Version` as written, None when absent
    requires_python: str | None
    requires: tuple[Requirement, ...]  # Requires-Dist (or requires.txt), parsed
    invalid_requires: tuple[str, ...]  # the ones packaging cannot parse, as written
    summary: str | None = None


EMPTY = CoreMetadata(None, None, None, (), ())


def decode(data: bytes) -> str:
    """UTF-8 as the spec says; Latin-1 (which never fails) for what old tools wrote."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def parse(text: str, requires_txt: str | None = None) -> CoreMetadata:
    """Core metadata of a METADATA / PKG-INFO text; `requires_txt` is an egg-info's
    requires.txt, used when the text lists no Requires-Dist (importlib's order)."""
    if not text:
        return EMPTY
    # deferred: start-up time, see README "Performance"
    from packaging.metadata import parse_email
    from packaging.requirements import InvalidRequirement, Requirement

    raw, unparsed = parse_email(text)
    lines = raw.get("requires_dist") or unparsed.get("requires-dist") or []
    if not lines and requires_txt:
        lines = list(egg_requirements(requires_txt))
    requires: list[Requirement] = []
    invalid: list[str] = []
    for line in lines:
        try:
            requires.append(Requirement(line))
        except InvalidRequirement:
            invalid.append(line)
    return CoreMetadata(
        name=_first(raw.get("name"), unparsed.get("name")),
        version=_first(raw.get("version"), unparsed.get("version")),
        requires_python=_first(raw.get("requires_python"), unparsed.get("requires-python")),
        requires=tuple(requires),
        invalid_requires=tuple(invalid),
        summary=_first(raw.get("summary"), unparsed.get("summary")),
    )


def _first(value: str | None, repeated: list[str] | None) -> str | None:
    """The field's value; for a field given twice (which packaging leaves unparsed), the
    first one, as `email.message.Message.get` and so importlib answer."""
    if value is not None:
        return value
    return repeated[0] if repeated else None


def egg_requirements(text: str) -> Iterator[str]:
    """requires.txt as requirement strings: a line under `[extra]`, `[:marker]` or
    `[extra:marker]` gets that condition as its marker (`; extra == "extra"`)."""
    section = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1].strip()
            continue
        extra, _, markers = section.partition(":")
        conditions = []
        if markers:
            conditions.append(f"({markers})" if extra else markers)
        if extra:
            conditions.append(f'extra == "{extra}"')
        space = " " if "@" in line else ""  # a URL requirement needs a space before ';'
        yield line + (space + "; " + " and ".join(conditions) if conditions else "")
