"""/etc/ld.so.cache: the parser against the caches glibc's own ldconfig writes (new,
old and compat formats, glibc-hwcaps entries), hostile bytes, and what the cache means
for loading (ld.so.conf is never read at run time), with the host's loader, chrooted
into each image, as the judge."""

from __future__ import annotations

import itertools
import os
import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditor.facts import ldcache
from auditor.facts.ldcache import libcmp
from tests.factory import Dir, File, Item
from tests.support.elfbuild import Built, ld_so_cache, shared_library
from tests.test_elf_loadtree import (
    BASE_C,
    ML,
    Scanned,
    exe,
    glibc,
    lib,
    program,
    requires_root,
)

LDCONFIG = shutil.which("ldconfig", path="/usr/sbin:/sbin:/usr/bin:/bin")
pytestmark = pytest.mark.skipif(LDCONFIG is None, reason="needs glibc's ldconfig")


def make_cache(items: list[Item], tmp: Path, fmt: str = "new") -> bytes:
    """The cache glibc's ldconfig writes for a root holding `items`."""
    del tmp
    return ld_so_cache(items, fmt)


def host_listing() -> list[tuple[str, str]]:
    """`ldconfig -p`: the host's cache as glibc lists it, (soname, path) in file order."""
    assert LDCONFIG is not None
    out = subprocess.run([LDCONFIG, "-p"], capture_output=True, text=True, check=True).stdout
    rows = []
    for line in out.splitlines():
        if " => " in line:
            name, _, rest = line.strip().partition(" (")
            rows.append((name, rest.rsplit(" => ", 1)[1]))
    return rows


@pytest.mark.skipif(not os.path.exists("/etc/ld.so.cache"), reason="no host cache")
def test_the_hosts_cache_parses_as_ldconfig_lists_it() -> None:
    cache = ldcache.parse(Path("/etc/ld.so.cache").read_bytes())
    assert cache is not None and cache.format == "new"
    assert [(e.key, e.path) for e in cache.entries] == host_listing()
    keys = [e.key or "" for e in cache.entries]
    # ldconfig sorted the entries with glibc's comparison, descending: ours agrees
    assert all(libcmp(a.encode(), b.encode()) >= 0 for a, b in itertools.pairwise(keys))
    for key in set(keys):
        first = next(e for e in cache.entries if e.key == key and e.flags == 0x303)
        assert cache.lookup(key, "EM_X86_64", 64).path == first.path
        assert cache.lookup(key, "EM_386", 32).path is None  # a 64-bit entry never answers


@pytest.fixture(scope="module")
def base() -> Built:
    return shared_library("libiabase.so.1", BASE_C)


HW = f"{ML}/glibc-hwcaps/x86-64-v3"


def cached_root(base: Built) -> list[Item]:
    """glibc, an ld.so.conf with two ld.so.conf.d directories (/opt/conf, /opt/gone),
    libiabase in /opt/gone, and glibc-hwcaps copies in the multiarch directory."""
    both = shared_library("libiaboth.so.1", BASE_C)
    return [
        *glibc(),
        File("etc/ld.so.conf", b"include /etc/ld.so.conf.d/*.conf\n"),
        File("etc/ld.so.conf.d/opt.conf", b"/opt/conf\n"),
        File("etc/ld.so.conf.d/gone.conf", b"/opt/gone\n"),
        lib("opt/gone/libiabase.so.1", base),
        Dir(HW),
        lib(f"{HW}/libiahw.so.1", shared_library("libiahw.so.1", BASE_C)),
        lib(f"{ML}/libiaboth.so.1", both),
        lib(f"{HW}/libiaboth.so.1", both),
    ]


@requires_root
@pytest.mark.parametrize("fmt", ["new", "old", "compat"])
def test_every_format_ldconfig_writes(tmp_path: Path, base: Built, fmt: str) -> None:
    data = make_cache(cached_root(base), tmp_path, fmt)
    cache = ldcache.parse(data)
    assert cache is not None and cache.format == fmt
    hit = cache.lookup("libiabase.so.1", "EM_X86_64", 64)
    assert hit.path == "/opt/gone/libiabase.so.1"
    # (ldconfig spells the multiarch directory /lib/x86_64-linux-gnu: a system directory)
    both = cache.lookup("libiaboth.so.1", "EM_X86_64", 64)
    only = cache.lookup("libiahw.so.1", "EM_X86_64", 64)
    hw = "/lib/x86_64-linux-gnu/glibc-hwcaps/x86-64-v3"
    if fmt == "old":  # no hwcaps data: the glibc-hwcaps copy is a plain entry, and first
        assert (both.path, only.path) == (f"{hw}/libiaboth.so.1", f"{hw}/libiahw.so.1")
        return
    if fmt == "compat":  # glibc reads the subdirectory names at the wrong offset: unused
        assert both.path == "/lib/x86_64-linux-gnu/libiaboth.so.1"
        assert (only.path, only.cpu_dependent, both.cpu_dependent) == (None, (), ())
        return
    assert cache.hwcaps_subdirs == ("x86-64-v3",)
    assert both.path == "/lib/x86_64-linux-gnu/libiaboth.so.1"
    assert [e.path for e in both.cpu_dependent] == [f"{hw}/libiaboth.so.1"]
    assert only.path is None and [e.hwcaps_subdir for e in only.cpu_dependent] == ["x86-64-v3"]


@requires_root
def test_hostile_caches_never_raise(tmp_path: Path, base: Built) -> None:
    data = make_cache(cached_root(base), tmp_path, "compat")
    for cut in range(0, len(data), 7):  # every truncation: parsed or refused, no exception
        cache = ldcache.parse(data[:cut])
        if cache is not None:
            cache.lookup("libiabase.so.1", "EM_X86_64", 64)
    claims = bytearray(data)
    struct.pack_into("<I", claims, 12, 1 << 30)  # more entries than the file holds
    assert ldcache.parse(bytes(claims)) is None
    new = make_cache(cached_root(base), tmp_path, "new")
    big_endian = bytearray(new)
    big_endian[28] = 3  # the endianness flag: big-endian, refused as glibc refuses it
    assert ldcache.parse(bytes(big_endian)) is None

    @settings(max_examples=300, deadline=None)
    @given(st.lists(st.tuples(st.integers(0, len(new) - 1), st.integers(0, 255)), max_size=40))
    def mutated(changes: list[tuple[int, int]]) -> None:
        blob = bytearray(new)
        for at, value in changes:
            blob[at] = value
        cache = ldcache.parse(bytes(blob))
        if cache is not None:
            for e in cache.entries[:20]:
                cache.lookup(e.key or "x", "EM_X86_64", 64)

    mutated()


@requires_root
def test_ld_so_conf_counts_only_through_the_cache(tmp_path: Path, base: Built) -> None:
    """ld.so reads the cache, never ld.so.conf: a library in an ld.so.conf.d directory
    is found when ldconfig ran after it arrived (also once the directory left
    ld.so.conf), not when it arrived later or the cache is gone; a stale entry whose
    file is gone falls through to the default directories."""
    later = shared_library("libialater.so.1", BASE_C)
    stale = shared_library("libiastale.so.1", BASE_C)
    main = "int base(void); int main(void) { return base(); }"
    apps = {
        name: exe(f"usr/bin/app-{name}", program(f"app-{name}", main, [built]))
        for name, built in (("conf", base), ("later", later), ("stale", stale))
    }
    at_ldconfig = [*cached_root(base), lib("opt/conf/libiastale.so.1", stale)]
    cache = make_cache(at_ldconfig, tmp_path)
    # after ldconfig: /opt/gone leaves ld.so.conf, a library arrives in /opt/conf, another
    # moves to /usr/lib
    items = [
        *[i for i in at_ldconfig if getattr(i, "path", "") not in (
            "etc/ld.so.conf.d/gone.conf", "opt/conf/libiastale.so.1")],
        File("etc/ld.so.cache", cache),
        lib("opt/conf/libialater.so.1", later),
        lib(f"{ML}/libiastale.so.1", stale),
        *apps.values(),
    ]  # fmt: skip
    image = Scanned(tmp_path / "with-cache", items)  # (the cache made in tmp_path)
    theirs = image.agree_with_loader()
    assert image.facts.loader_paths.cache_state == "ok"
    assert theirs["usr/bin/app-conf"].ok  # through the (stale) cache entry
    assert theirs["usr/bin/app-stale"].ok  # the entry's file is gone: the default dirs have it
    assert image.trees["usr/bin/app-stale"].binding("usr/bin/app-stale", "libiastale.so.1") == (
        f"{ML}/libiastale.so.1"
    )
    assert theirs["usr/bin/app-later"].missing == {"libialater.so.1"}
    (later_finding,) = [f for f in image.findings if f.evidence["library"] == "libialater.so.1"]
    assert "run `ldconfig` in the same step" in later_finding.remedy
    # no cache at all: ld.so.conf.d directories are not searched
    without = [i for i in items if getattr(i, "path", "") != "etc/ld.so.cache"]
    image = Scanned(tmp_path / "no-cache", without)
    theirs = image.agree_with_loader()
    assert image.facts.loader_paths.cache_state == "absent"
    assert theirs["usr/bin/app-conf"].missing == {"libiabase.so.1"}
    assert theirs["usr/bin/app-stale"].ok


@requires_root
def test_a_library_only_in_a_hwcaps_subdirectory_may_be_missing(
    tmp_path: Path, base: Built
) -> None:
    """Found only in glibc-hwcaps/x86-64-v3 (directory and cache): present on CPUs of that
    level, missing on older ones: a warning that names the CPU-dependent copy."""
    hw = shared_library("libiahw.so.1", BASE_C)
    items = [
        *cached_root(base),
        exe(
            "usr/bin/app-hw",
            program("app-hw", "int base(void); int main(void) { return base(); }", [hw]),
        ),
    ]
    items.append(File("etc/ld.so.cache", make_cache(items, tmp_path)))
    image = Scanned(tmp_path, items)
    (failure,) = image.trees["usr/bin/app-hw"].failures
    assert failure.cpu_dependent == (f"/{ML}/glibc-hwcaps/x86-64-v3/libiahw.so.1",)
    (finding,) = image.findings
    assert str(finding.severity) == "warning"
    assert finding.message.startswith("libiahw.so.1 is found only for some CPUs")


def _cpu_has(level: str) -> bool:
    """The host's loader says it searches glibc-hwcaps/`level` on this CPU."""
    done = subprocess.run(["/lib64/ld-linux-x86-64.so.2", "--help"], capture_output=True, text=True)
    return f"{level} (supported, searched)" in done.stdout


@requires_root
@pytest.mark.skipif(not _cpu_has("x86-64-v3"), reason="the host CPU is below x86-64-v3")
@pytest.mark.parametrize("fmt", ["new", "compat"])
def test_named_hwcaps_entries_as_the_loader_reads_each_format(
    tmp_path: Path, base: Built, fmt: str
) -> None:
    """A library only in /opt/conf/glibc-hwcaps/x86-64-v3 (an ld.so.conf directory):
    reachable only through the cache's named-hwcaps entry. From a new-format cache this
    CPU's loader takes it (imgaudit: missing on baseline CPUs, a warning); from a compat
    cache glibc reads the subdirectory names at the wrong offset and never takes it
    (imgaudit: missing, an error), which this CPU's loader confirms."""
    hw2 = shared_library("libiahw2.so.1", BASE_C)
    main = "int base(void); int main(void) { return base(); }"
    items = [
        *cached_root(base),
        Dir("opt/conf/glibc-hwcaps/x86-64-v3"),
        lib("opt/conf/glibc-hwcaps/x86-64-v3/libiahw2.so.1", hw2),
        exe("usr/bin/app-hw2", program("app-hw2", main, [hw2])),
    ]
    items.append(File("etc/ld.so.cache", make_cache(items, tmp_path, fmt)))
    image = Scanned(tmp_path / "image", items)
    theirs = image.loader_says()["usr/bin/app-hw2"]
    (failure,) = image.trees["usr/bin/app-hw2"].failures
    (finding,) = [f for f in image.findings if f.evidence["library"] == "libiahw2.so.1"]
    if fmt == "new":
        assert theirs.ok  # this CPU takes the x86-64-v3 copy
        assert failure.cpu_dependent == ("/opt/conf/glibc-hwcaps/x86-64-v3/libiahw2.so.1",)
        assert str(finding.severity) == "warning"
    else:
        assert theirs.missing == {"libiahw2.so.1"}
        assert failure.cpu_dependent == () and str(finding.severity) == "error"
