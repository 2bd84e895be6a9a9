"""What a fleet run scans: references given, read from a file, or listed from a
registry through the distribution API (`/v2/_catalog`, `/v2/<repo>/tags/list`).

Both listings are paginated (`?n=` and an RFC 5988 `Link: <...>; rel="next"` header);
a registry that pages must be followed to the end, or a large fleet is silently cut
at the first page. `--tags-since` needs each tag's image config `created` time: the
manifest and config are small documents, so fetching them is cheap next to the scan.
"""

from __future__ import annotations

import fnmatch
import json
import re
import urllib.parse
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

from auditor.errors import InputError
from auditor.sources.platform import Platform
from auditor.sources.registry import RegistryClient, open_registry

PAGE = 100
MAX_PAGES = 10_000  # a registry whose Link headers loop must not keep us forever
_LINK_NEXT = re.compile(r'<([^>]+)>\s*;[^,]*rel="?next"?')
_AGE = re.compile(r"^(\d+)([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_age(text: str) -> timedelta:
    """`30d`, `12h`, `2w` ... -> timedelta; anything else is a usage error."""
    match = _AGE.match(text.strip())
    if not match:
        raise InputError(f"bad age {text!r}: use a number and s, m, h, d or w (e.g. 30d)")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


def read_reference_file(path: Path) -> list[str]:
    """One reference a line; blank lines and `#` comments are skipped."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read {path}: {exc}") from None
    refs = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip() if not line.lstrip().startswith("#") else ""
        if line:
            refs.append(line)
    return refs


def _pages(client: RegistryClient, first: str, key: str) -> Iterator[str]:
    """Every item of a paginated listing, following `Link` headers to the end."""
    url: str | None = first
    for _ in range(MAX_PAGES):
        if url is None:
            return
        response = client.get_url(url, {"Accept": "application/json"})
        with response:
            try:
                body = json.loads(response.content)
            except ValueError:
                raise InputError(f"{client.display}: registry listing is not JSON") from None
        items = body.get(key) if isinstance(body, dict) else None
        for item in items or []:
            if isinstance(item, str):
                yield item
        link = response.headers.get("Link", "")
        match = _LINK_NEXT.search(link)
        url = urllib.parse.urljoin(url, match.group(1)) if match else None
    raise InputError(f"{client.display}: more than {MAX_PAGES} pages in a listing")


def repositories(registry: str, insecure: tuple[str, ...] = ()) -> list[str]:
    client = RegistryClient(registry, "", insecure, display=registry)
    first = f"{client.base_url()}/v2/_catalog?n={PAGE}"
    return sorted(set(_pages(client, first, "repositories")))


def tags(registry: str, repository: str, insecure: tuple[str, ...] = ()) -> list[str]:
    client = RegistryClient(registry, repository, insecure)
    first = f"{client.base_url()}/v2/{repository}/tags/list?n={PAGE}"
    return sorted(set(_pages(client, first, "tags")))


def created_at(
    reference: str, platform: Platform | None, insecure: tuple[str, ...]
) -> datetime | None:
    """The image config's `created` time (UTC), or None when it has none."""
    image = open_registry(reference, platform, insecure, quiet=True)
    created = image.config.get("created")
    if not isinstance(created, str):
        return None
    try:
        # Go writes nanoseconds; fromisoformat takes at most microseconds
        text = re.sub(r"(\.\d{6})\d+", r"\1", created).replace("Z", "+00:00")
        when = datetime.fromisoformat(text)
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def registry_references(
    registry: str,
    repository_glob: str | None = None,
    tags_since: timedelta | None = None,
    platform: Platform | None = None,
    insecure: tuple[str, ...] = (),
    now: datetime | None = None,
) -> tuple[list[str], list[tuple[str, str]]]:
    """(references to scan, [(reference, why skipped)]) for every repository:tag of
    `registry` that matches the glob and, with `tags_since`, was created recently.

    A tag whose config cannot be read is scanned anyway: the scan records the error,
    which is more useful than a tag quietly left out.
    """
    refs: list[str] = []
    left_out: list[tuple[str, str]] = []
    cutoff = (now or datetime.now(timezone.utc)) - tags_since if tags_since else None
    for repo in repositories(registry, insecure):
        if repository_glob and not fnmatch.fnmatchcase(repo, repository_glob):
            continue
        for tag in tags(registry, repo, insecure):
            ref = f"{registry}/{repo}:{tag}"
            if cutoff is not None:
                try:
                    when = created_at(ref, platform, insecure)
                except InputError:
                    when = None
                    refs.append(ref)
                    continue
                if when is None or when < cutoff:
                    left_out.append((ref, "no created time" if when is None else "older"))
                    continue
            refs.append(ref)
    return refs, left_out
