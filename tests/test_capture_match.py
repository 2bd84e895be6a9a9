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


FORWARD = [
    (re.compile(glob_to_regex(c.glob) + r"\Z", re.IGNORECASE if c.ignore_case else 0), c)
    for c in CAPTURES
]


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


def test_metadata_suffixes_match_in_any_case_and_names_exactly() -> None:
    """importlib.metadata lowers the *.dist-info / *.egg-info suffix before matching it;
    the files inside keep their exact names (the policy keeps a few extra bytes for a
    lower-case `metadata`, which the facts never read)."""
    for path in (
        "a/Foo-1.0.DIST-INFO/METADATA",
        "a/foo.Egg-Info/PKG-INFO",
        "a/x.EGG/EGG-INFO/PKG-INFO",
        "a/distutils_style-0.5-py3.11.EGG-INFO",
    ):
        capture = POLICY.match(path)
        assert capture is not None and capture.ignore_case, path
    assert POLICY.match("usr/lib/python3.11/site.py") is not None
    assert POLICY.match("usr/include/python3.11/patchlevel.h") is not None


def test_version_probes_name_interpreters_and_libpython() -> None:
    assert POLICY.probes_version("usr/bin/python3.11") == "3.11"
    assert POLICY.probes_version("usr/local/lib/libpython3.12.so.1.0") == "3.12"
    assert POLICY.probes_version("usr/lib/x86_64-linux-gnu/libpython3.11.so") == "3.11"
    assert POLICY.probes_version("usr/bin/python3") is None  # no X.Y in the name
    assert POLICY.probes_version("usr/lib/python3.11/lib-dynload/_ssl.so") is None


WORDS = sorted(
    {w for c in CAPTURES for w in re.split(r"[/*?]+", c.glob) if w}
    | {"x", "a.b", "bin", "lib", ".wh.x", "python3.11", "site-packages", "é", "Foo.DIST-INFO"}
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


def _one_regex_match(path: str) -> Capture | None:
    """The policy's answer from its single regex of every rule (no last-character buckets)."""
    m = POLICY._regex.match(path[::-1])
    return None if m is None or m.lastgroup is None else CAPTURES[int(m.lastgroup[1:])]


@settings(max_examples=1000, deadline=None)
@given(
    st.lists(component, min_size=1, max_size=6),
    st.sampled_from(["", "K", "\u212a", "\u017f", "S", "a", "/", "*"]),
    st.booleans(),
)
def test_last_character_buckets_agree_with_the_one_regex(
    parts: list[str], tail: str, swap: bool
) -> None:
    """`match` picks a smaller regex by the path's last character; case variants and
    non-ASCII last characters (the Kelvin sign folds to k, the long s to s) included."""
    path = "/".join(parts) + tail
    if swap:
        path = path.swapcase()
    assert POLICY.match(path) == _one_regex_match(path)
    assert POLICY.match(path) == _forward_match(path)
