"""Secrets as imgaudit tells them, and masks them in what it repeats of the image.

What looks like a secret by its name or shape, shared by SEC008 (which reports them)
and by every text a report quotes from the image's build history (`created_by`):
a report is a CI artifact, a log, a SARIF upload, so it must not carry the build
argument or the index password that SEC008 tells the user to rotate.
"""

from __future__ import annotations

import re

# Bounded repeats: the text may be the image's own (its build history), which may be
# hostile; an unbounded scheme run would make a search quadratic in a long word.
URL_CREDS = r"(?i)[a-z][a-z0-9+.-]{0,31}://([^/\s:@]{1,256}):([^/\s@]{1,256})@"
SECRET_NAME = (
    r"(?i)(?:^|_)(?:TOKEN|SECRET|PASSWORD|PASSWD|PASS|API_?KEY|ACCESS_KEY|SECRET_KEY|"
    r"PRIVATE_KEY|AUTH_TOKEN|CREDENTIALS?)$"
)
PLACEHOLDERS = frozenset(
    {"", "changeme", "none", "null", "xxx", "***", "<secret>", "true", "false"}
)
_ASSIGNMENT = r"\b([A-Za-z_][A-Za-z0-9_]*)=(\S+)"


def mask(value: str) -> str:
    """A value shown without giving it away: its first two characters at most."""
    return value[:2] + "…" if len(value) > 6 else "…"


def is_value(value: str) -> bool:
    """Whether a variable's value is a real one: not empty, a placeholder, a variable
    the shell fills in (`$TOKEN`, `${TOKEN}`), a path or a template."""
    v = value.strip().strip("'\"")
    return v.lower() not in PLACEHOLDERS and not v.startswith(("$", "/", "{{"))


def secret_name(name: str) -> bool:
    """A variable named like a secret (`PYPI_TOKEN`, `DB_PASSWORD`), not an indirection
    to a file holding one (`DB_PASSWORD_FILE`)."""
    return bool(re.search(SECRET_NAME, name)) and not name.upper().endswith("_FILE")


def url_secret(text: str) -> bool:
    """Whether `text` holds a URL with a literal password (`https://u:p@host`)."""
    return any(is_value(m.group(2)) for m in re.finditer(URL_CREDS, text))


def redact(text: str) -> str:
    """`text` with the values of secret-named `K=V` words and URL passwords masked."""
    if "=" not in text and "@" not in text:
        return text

    def url(m: re.Match[str]) -> str:
        whole, password = m.group(0), m.group(2)
        if not is_value(password):
            return whole
        return whole[: m.start(2) - m.start(0)] + mask(password) + "@"

    def assignment(m: re.Match[str]) -> str:
        name, value = m.group(1), m.group(2)
        if secret_name(name) and is_value(value):
            return f"{name}={mask(value)}"
        return m.group(0)

    return re.sub(_ASSIGNMENT, assignment, re.sub(URL_CREDS, url, text))
