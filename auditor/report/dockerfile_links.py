"""Where a finding's Dockerfile line is, as the formats that link to it need it.

SARIF and GitHub annotations want the Dockerfile as a path relative to the repository
(GitHub resolves it against the checkout, which is the working directory of a CI step);
Markdown wants a link a reader can click: on GitHub Actions (GITHUB_SERVER_URL,
GITHUB_REPOSITORY and GITHUB_SHA set) the file at the commit being built, elsewhere a
relative link (`Dockerfile#L14`), which GitHub resolves in a file view.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import PurePosixPath
from urllib.parse import quote

from auditor.findings import DockerfileLine


def repo_path(path: str, cwd: str | None = None) -> str:
    """The Dockerfile's path relative to the working directory, in POSIX form; an
    absolute path outside it stays absolute."""
    if os.path.isabs(path):
        base = cwd or os.getcwd()
        relative = os.path.relpath(path, base)
        if relative.startswith(".."):
            return PurePosixPath(path).as_posix()
        path = relative
    return PurePosixPath(os.path.normpath(path)).as_posix()


def uri(path: str) -> str:
    """A repository path as a URI reference (percent-encoding what must be)."""
    return quote(path, safe="/!$&'()*+,;=:@-._~")


def link(line: DockerfileLine, environ: Mapping[str, str] | None = None) -> str:
    """The URL of the line: on GitHub Actions the blob at the commit, else relative."""
    env = os.environ if environ is None else environ
    path = repo_path(line.path)
    server, repo, sha = (
        env.get("GITHUB_SERVER_URL"),
        env.get("GITHUB_REPOSITORY"),
        env.get("GITHUB_SHA"),
    )
    if server and repo and sha and not path.startswith("/"):
        return f"{server.rstrip('/')}/{repo}/blob/{sha}/{uri(path)}#L{line.line}"
    return f"{uri(path)}#L{line.line}"
