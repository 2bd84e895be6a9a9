"""CapturePolicy.match (reversed-path regex) agrees with the forward glob regex.

The forward translation (`glob_to_regex`) is the plain reading of the globs; the
policy matches reversed paths because that is ~9x faster. Both must pick the same
first rule for every path: real paths from this host's file system (a CPython
install and /etc, /usr/bin) and generated paths built from the globs' own words.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from auditor.capture import CAPTURES, Capture, CapturePolicy, glob_to_regex

POLICY = CapturePolicy()


FORWARD = [(re.compile(glob_to_regex(c.glob) + r"\Z"), c) for c in CAPTURES]


def _forward_match(path: str) -> Capture | None:
    for pattern, capture in FORWARD:
        if pattern.match(path):
            return capture
    return None


def _host_paths(limit: int = 20000) -> list[str]:
    paths: list[str] = []
    for top in (Path(sys.base_prefix), Path("/etc"), Path("/usr/bin"), Path("/usr/lib/python3")):
        for dirpath, dirs, files in os.walk(top):
            dirs.sort()
            for name in sorted(dirs + files):
                paths.append(os.path.join(dirpath, name).lstrip("/"))
                if len(paths) >= limit:
                    return paths
    return paths


def test_real_paths_match_like_the_forward_globs() -> None:
    paths = _host_paths()
    assert len(paths) > 1000
    matched = 0
    for path in paths:
        expected = _forward_match(path)
        assert POLICY.match(path) == expected, path
        matched += expected is not None
    assert matched > 10  # dist-info files, bin/*, etc/passwd ...


WORDS = sorted(
    {w for c in CAPTURES for w in re.split(r"[/*?]+", c.glob) if w}
    | {"x", "a.b", "bin", "lib", ".wh.x", "python3.11", "site-packages", "é"}
)
component = st.one_of(
    st.sampled_from(WORDS),
    st.builds(lambda a, b: a + b, st.sampled_from(WORDS), st.sampled_from(WORDS)),
    st.text(alphabet="ab.-_*?[]\\", min_size=1, max_size=6),
)


@settings(max_examples=1000, deadline=None)
@given(st.lists(component, min_size=1, max_size=6))
def test_generated_paths_match_like_the_forward_globs(parts: list[str]) -> None:
    path = "/".join(parts)
    assert POLICY.match(path) == _forward_match(path)
