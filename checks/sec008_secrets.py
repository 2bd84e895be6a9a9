"""SEC008 secrets: credentials left behind in the image's files or config.

Why it matters: every layer of an image is readable by anyone who can pull it, and
a file deleted in a later layer is still in the earlier one. Registry tokens,
private keys and index passwords copied in for the build leak with the image.

What is looked at (only content imgaudit captured; small files with telling names):
PEM private keys (`*.pem`, `*.key`, `id_rsa`...), `.netrc` passwords, `.pypirc`
passwords, pip.conf/pip.ini index URLs with `user:password@`, `.git-credentials`,
`.npmrc` auth tokens, `.aws/credentials` secret keys, `.docker/config.json` auths,
gcloud credential JSON, `.env` files and requirements files with credentials,
AWS access key IDs anywhere in those, and config `Env` variables named like
`*_TOKEN`, `*_SECRET`, `*PASSWORD`, `*_API_KEY` that carry a value (`*_FILE`
indirections are fine) or hold a URL with a password. The build history too, as
`docker history --no-trunc` shows it to anyone who pulls the image: build arguments
given to a RUN step (`|1 PYPI_TOKEN=... /bin/sh -c pip install`), ARG defaults and ENV
steps named so (an ENV a later step replaced is still there), and URLs with a password
in a step's command (`pip install --index-url https://u:p@host/simple`). Values are
never printed: evidence shows a masked form.
False positives are kept low on purpose: a stock Debian root with python3 and pip
has none, and the test suites published packages ship are not this image's secrets:
a file below a `test`/`tests`/`testing`/`testdata`/`fixtures` directory of a Python
distribution (its RECORD), a Debian package, an interpreter's standard library or an
npm package (tornado/test/test.key, gevent/tests/server.key, twisted/test/server.pem,
CPython's test/keycert.pem: fixtures, the same in every installation). Elsewhere in
such a package (moto ships the CA key of its proxy in moto/moto_proxy/ca.key) a secret
is info: the same bytes come with every installation of it, and it leaks only if the
package is your own. In the app's own tree it is an error.

Example: `COPY .netrc /root/` for a private index, `ENV PYPI_TOKEN=pypi-AgEI...`,
`docker build --build-arg PYPI_TOKEN=...` used by a RUN step.

How to fix: use BuildKit secrets (`RUN --mount=type=secret,id=netrc ...`) and
runtime injection (orchestrator secrets, env at run time), then rotate the leaked
credential: removing it from the next image does not un-leak it.

References: https://docs.docker.com/build/building/secrets/,
https://cwe.mitre.org/data/definitions/798.html
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING

from auditor.context import CheckContext
from auditor.findings import CheckInfo, Dimension, Finding, Severity
from auditor.redaction import SECRET_NAME, URL_CREDS, is_value, mask, secret_name, url_secret

if TYPE_CHECKING:
    import configparser

    from auditor.facts import Facts

INFO = CheckInfo(
    id="SEC008",
    name="secrets",
    title="Secrets left in files or config",
    severity=Severity.ERROR,
    criterion="no secrets left behind",
    dimension=Dimension.SECURE,
)
OFFLOAD = True  # walks the tree on its own: may run beside the others (auditor/runner.py)

# Pattern texts, compiled on first use (re's own cache, like the one-off patterns in
# file_secrets) rather than at import: every scan imports every check. Deferred:
# start-up time, see README "Performance".
PEM_KEY = rb"-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----\s*\n\s*[A-Za-z0-9+/=]{20}"
AWS_KEY_ID = rb"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"

# The file names that some test below looks for (keep in step with `file_secrets`).
_NAMED = frozenset({".netrc", ".pypirc", "pip.conf", "pip.ini", ".git-credentials", ".npmrc"})
# Name endings some test below looks for: `.env` files, and the last part of
# `.aws/credentials` and `.docker/config.json` (a path ending so has a name ending so).
_NAME_ENDS = (".env", "credentials", "config.json")


def _ini(text: str) -> configparser.RawConfigParser | None:
    import configparser  # deferred: start-up time, see README "Performance"

    parser = configparser.RawConfigParser(strict=False, interpolation=None)
    try:
        parser.read_string(text)
    except configparser.Error:
        return None
    return parser


def file_secrets(path: str, data: bytes) -> list[str]:
    """What kind of secret `path` holds (empty: none). Pure, for tests."""
    name = path[path.rfind("/") + 1 :]  # the last component (no list built: ~200k calls)
    if (
        name not in _NAMED
        and not name.endswith(_NAME_ENDS)
        and not (name.startswith("requirements") and name.endswith(".txt"))
        and ".config/gcloud/" not in path  # a cheap superset of the test below
        and b"PRIVATE KEY-----" not in data
        and b"AKIA" not in data
        and b"ASIA" not in data
    ):
        return []  # none of the tests below can match: the common case, decided cheaply
    decoded: list[str] = []

    def text() -> str:
        """The content as text, decoded only for the few names that need it."""
        if not decoded:
            decoded.append(data.decode("utf-8", "replace"))
        return decoded[0]

    kinds: list[str] = []
    # Literal pieces each pattern needs, tested first: a substring test is far cheaper
    # than a regex search over every captured file, and almost all files have neither.
    if b"PRIVATE KEY-----" in data and re.search(PEM_KEY, data):
        kinds.append("PEM private key")
    if name == ".netrc" and re.search(r"(?:^|\s)password\s+\S+", text()):
        kinds.append(".netrc password")
    pypirc = _ini(text()) if name == ".pypirc" else None
    if pypirc is not None and any(
        is_value(pypirc.get(s, "password", fallback="")) for s in pypirc.sections()
    ):
        kinds.append(".pypirc password")
    if name in ("pip.conf", "pip.ini") and (ini := _ini(text())) is not None:
        for section in ini.sections():
            for key in ("index-url", "extra-index-url", "index_url", "extra_index_url"):
                if re.search(URL_CREDS, ini.get(section, key, fallback="")):
                    kinds.append(f"pip {key} with credentials")
    if name == ".git-credentials" and re.search(URL_CREDS, text()):
        kinds.append("git credentials")
    if name == ".npmrc" and re.search(r"(?:_authToken|_password|_auth)\s*=\s*\S", text()):
        kinds.append("npm auth token")
    if path.endswith(".aws/credentials") and re.search(
        r"aws_secret_access_key\s*=\s*\S", text(), re.I
    ):
        kinds.append("AWS secret access key")
    if path.endswith(".docker/config.json"):
        try:
            auths = json.loads(text()).get("auths") or {}
            if any(isinstance(a, dict) and a.get("auth") for a in auths.values()):
                kinds.append("registry auth")
        except (ValueError, AttributeError):
            pass
    if "/.config/gcloud/" in "/" + path and re.search(r'"(?:private_key|refresh_token)"', text()):
        kinds.append("gcloud credentials")
    if name == ".env" or name.endswith(".env"):
        for line in text().splitlines():
            key, sep, value = line.removeprefix("export ").partition("=")
            if sep and re.search(SECRET_NAME, key.strip()) and is_value(value):
                kinds.append(f".env variable {key.strip()}")
    if name.startswith("requirements") and name.endswith(".txt") and re.search(URL_CREDS, text()):
        kinds.append("index URL with credentials in requirements")
    if (b"AKIA" in data or b"ASIA" in data) and re.search(AWS_KEY_ID, data):
        kinds.append("AWS access key ID")
    return sorted(set(kinds))


_FIXTURE_DIRS = frozenset({"test", "tests", "testing", "testdata", "test_data", "fixtures"})


def shipped_by(facts: Facts, path: str) -> str | None:
    """The published software `path` belongs to: a Python distribution (its RECORD), a
    Debian package, an interpreter's standard library, or an npm package
    (`node_modules`); None for anything else (the app's own files)."""
    owners = facts.owners
    owner = owners.python_distribution(path) or owners.dpkg(path)
    if owner is not None:
        return owner
    if "node_modules" in path.split("/")[:-1]:
        return "an npm package"
    for i in facts.pythons:
        if i.stdlib is not None and path.startswith(i.stdlib + "/") and "-packages/" not in path:
            return f"Python {i.version}'s standard library"
    return None


def shipped_fixture(path: str) -> bool:
    """Whether `path` lies below a test-suite directory (`_FIXTURE_DIRS`)."""
    return not _FIXTURE_DIRS.isdisjoint(path.split("/")[:-1])


def env_secrets(env: dict[str, str]) -> list[str]:
    """Names of config Env variables that carry a secret-looking value: named like a
    secret, or a URL with a password (`PIP_INDEX_URL=https://u:p@host/simple`)."""
    return sorted(k for k, v in env.items() if (secret_name(k) and is_value(v)) or url_secret(v))


def history_secrets(history: object, env: dict[str, str]) -> list[tuple[str, str, list[int]]]:
    """What the image's build history shows in the clear, `docker history --no-trunc`
    as anyone who pulls the image reads it: build arguments (the `|N K=V ...` words of
    a RUN step, an `ARG K=V` default) and `ENV K=V` steps named like secrets with a
    value, and URLs with a password (`pip install --index-url https://u:p@host/simple`,
    or such a URL as a variable's value). One item per secret: (what, how the history
    holds it, the history entries that show it, 0-based). An ENV variable the config's
    Env still holds with that value is left to the config finding."""
    if not isinstance(history, list):
        return []
    from auditor.history import build_args, step_parts  # deferred: start-up time, see README

    found: dict[str, tuple[list[str], list[int]]] = {}  # what -> (how, entries)

    def seen(what: str, how: str, index: int) -> None:
        hows, entries = found.setdefault(what, ([], []))
        if how not in hows:
            hows.append(how)
        if index not in entries:
            entries.append(index)

    for index, entry in enumerate(history):
        created_by = entry.get("created_by") if isinstance(entry, dict) else None
        if not isinstance(created_by, str) or not created_by:
            continue
        kind, body = step_parts(created_by)
        values: list[tuple[str, str, str]] = []  # (how, name, value)
        command = body
        if kind == "RUN":
            args, command = build_args(body)
            values = [("a build argument of a RUN step", k, v) for k, v in args.items()]
        elif kind in ("ARG", "ENV"):
            pairs = [word.split("=", 1) for word in body.split(" ") if "=" in word]
            how = "an ARG default" if kind == "ARG" else "an ENV step"
            values = [
                (how, k, v) for k, v in pairs if k and not (kind == "ENV" and env.get(k) == v)
            ]
            command = ""
        for how, name, value in values:
            if secret_name(name) and is_value(value):
                seen(f"{name} ({mask(value)})", how, index)
            elif url_secret(value):
                seen(f"{name} (a URL with a password)", how, index)
        if command and url_secret(command):
            seen(f"a URL with a password in a {kind} command", "the command", index)
    items = [(what, ", ".join(hows), entries) for what, (hows, entries) in found.items()]
    return sorted(items, key=lambda item: (item[2][0], item[0]))


def _holds_secret(path: str, data: bytes) -> bool:
    """`file_secrets`' verdict as the filesystem's content queries take it (one function,
    so that they run it once over the recorded contents for both of this check's asks)."""
    return bool(file_secrets(path, data))


def run(ctx: CheckContext) -> Iterator[Finding]:
    # `file_secrets` rules out almost every file cheaply: run on every recorded content
    # first, the surviving ones looked up only for what it accepts. Bytecode is not
    # tested: this check does not look into code (no `.py` is recorded either), and
    # what is recorded of a `__pycache__` pyc is its 16-byte header (auditor.capture),
    # which no pattern here fits in: 200k of them at a million files cost ~0.4 s.
    secret = ctx.facts.fs.captured_where(_holds_secret, ".pyc")
    for path, data in secret:
        kinds = file_secrets(path, data)
        if not kinds or ctx.allowed(path):
            continue
        owner = shipped_by(ctx.facts, path)
        if owner is not None and shipped_fixture(path):
            continue  # a published package's test fixture (module doc)
        if owner is not None:
            yield INFO.finding(
                f"/{path} holds a secret ({', '.join(kinds)}) that {owner} ships: the same "
                "in every installation of it, a leak only if the package is your own",
                "if the package is yours, keep secrets out of it and rotate this one",
                path=path,
                severity=Severity.INFO,
                evidence={"kinds": kinds, "shipped_by": owner},
            )
            continue
        yield INFO.finding(
            f"/{path} holds a secret: {', '.join(kinds)}",
            "use build secrets (RUN --mount=type=secret) and rotate the leaked credential",
            path=path,
            evidence={"kinds": kinds},
        )
    yield from _lost_secrets(ctx)
    for key in env_secrets(ctx.facts.env):
        yield INFO.finding(
            f"config Env {key} carries a secret value ({mask(ctx.facts.env[key])})",
            "pass secrets at run time (orchestrator secrets, env files), never with ENV",
            evidence={"variable": key},
        )
    history = ctx.facts.image_config.get("history")
    for what, how, entries in history_secrets(history, ctx.facts.env):
        where = ", ".join(str(i + 1) for i in entries)
        plural = "entries" if len(entries) > 1 else "entry"
        yield INFO.finding(
            f"the build history holds {what} in the clear, as {how} (`docker history "
            f"--no-trunc` prints it; config history {plural} {where}, oldest first)",
            "pass build secrets with RUN --mount=type=secret, not ARG or ENV, and rotate "
            "the leaked credential",
            evidence={"history": what, "as": how, "entries": entries},
        )


def _lost_secrets(ctx: CheckContext) -> Iterator[Finding]:
    """Secrets a layer wrote that a later layer deleted or replaced (`COPY id_rsa` then
    `RUN rm id_rsa`): gone from the container's view, still in the image's bytes. Left
    out, as for the live ones: a package's test fixture; and anything inside a site
    directory or node_modules, where a later layer's uninstall removes what a package
    shipped (its RECORD is gone with it: the files cannot say whose it was)."""
    # deferred: start-up time, see README "Performance"
    from auditor.facts.owners import in_site_directory

    fs = ctx.facts.fs
    lost = fs.captured_lost_where(_holds_secret, ".pyc")  # the test ran once, for both
    for layer, path, data in lost:
        kinds = file_secrets(path, data)
        if (
            not kinds
            or ctx.allowed(path)
            or shipped_fixture(path)
            or in_site_directory(path)
            or "node_modules/" in f"/{path}"
        ):
            continue
        gone = "replaced" if path in fs else "deleted"
        yield INFO.finding(
            f"/{path} held a secret ({', '.join(kinds)}) in layer {layer}, {gone} by a later "
            "layer: gone from the container, its bytes are still in the image",
            "never write secrets into a layer (RUN --mount=type=secret, or a build stage "
            "that is not shipped) and rotate the leaked credential",
            path=path,
            layer=layer,
            evidence={"kinds": kinds, "layer": layer, "gone": gone},
        )
