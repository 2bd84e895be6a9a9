"""Small real ELF files made by the host's compiler and linker, for loader unit tests.

Why compile: the rules under test are about linker output (DT_RPATH vs DT_RUNPATH,
DF_1_NODEFLIB, DT_SONAME, symbol versions from a version script, PIE), and the host's
own binaries do not offer every combination. gcc and GNU ld write exactly what they
write for users; nothing is hand-assembled. Outputs are cached per content hash in the
test cache, so a run compiles each file once.

    lib = shared_library("libbase.so.1", "int base(void) { return 1; }")
    app = program("int mid(void); int main(void) { return mid(); }",
                  needs=[mid], rpath="$ORIGIN/../lib")
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from .services import cache_dir

RECIPE = "1"  # bump when the way files are built changes


@dataclass(frozen=True)
class Built:
    """A compiled file: its bytes, the soname other links refer to it by, and what it
    was linked against (a later link needs those too, to check symbols)."""

    name: str
    data: bytes
    soname: str | None = None
    deps: tuple[Built, ...] = ()

    def closure(self) -> list[Built]:
        out: list[Built] = []
        for dep in self.deps:
            for one in [*dep.closure(), dep]:
                if one not in out:
                    out.append(one)
        return out


def _gcc() -> str:
    found = shutil.which("gcc")
    if found is None:
        pytest.skip("gcc is not installed (compiles the ELF fixtures)")
    return found


def _build(kind: str, name: str, source: str, flags: list[str], needs: list[Built]) -> bytes:
    key = hashlib.sha256(
        repr((RECIPE, kind, name, source, flags, [(n.name, n.data) for n in needs])).encode()
    ).hexdigest()[:24]  # (the -rpath-link directory is not part of the key: it varies)
    cached = cache_dir() / "elf-fixtures" / f"{key}-{name}"
    if cached.exists():
        return cached.read_bytes()
    with tempfile.TemporaryDirectory(prefix="imgaudit-elf-") as tmp:
        work = Path(tmp)
        (work / "src.c").write_text(source)
        link: list[str] = []
        for dep in needs:
            # link against each dependency under its soname, as a real build would
            (work / dep.name).write_bytes(dep.data)
            link.append(str(work / dep.name))
        for dep in {d.name: d for n in needs for d in n.closure()}.values():
            if not (work / dep.name).exists():
                (work / dep.name).write_bytes(dep.data)  # found through -rpath-link
        flags = [*flags, f"-Wl,-rpath-link,{work}"]
        out = work / name
        cmd = [_gcc(), "-O0", "-o", str(out), str(work / "src.c"), *flags, *link]
        if kind == "lib":
            cmd[2:2] = ["-shared", "-fPIC"]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=work)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)}\n{done.stderr}")
        data = out.read_bytes()
    cached.parent.mkdir(parents=True, exist_ok=True)
    partial = cached.with_name(cached.name + ".partial")
    partial.write_bytes(data)
    partial.replace(cached)
    return data


def _paths(rpath: str | None, runpath: str | None) -> list[str]:
    flags = ["-Wl,--no-as-needed"]
    if rpath is not None:
        flags.append(f"-Wl,--disable-new-dtags,-rpath,{rpath}")
    if runpath is not None:
        flags.append(f"-Wl,--enable-new-dtags,-rpath,{runpath}")
    return flags


def shared_library(
    soname: str,
    source: str,
    needs: list[Built] | None = None,
    rpath: str | None = None,
    runpath: str | None = None,
    version_script: str | None = None,
    flags: list[str] | None = None,
) -> Built:
    """A shared library with DT_SONAME `soname`, linked against `needs`."""
    extra = [f"-Wl,-soname,{soname}", *_paths(rpath, runpath), *(flags or [])]
    if version_script is not None:
        script = (
            cache_dir()
            / "elf-fixtures"
            / (hashlib.sha256(version_script.encode()).hexdigest()[:16] + ".map")
        )
        script.parent.mkdir(parents=True, exist_ok=True)
        script.write_text(version_script)
        extra.append(f"-Wl,--version-script={script}")
    deps = tuple(needs or [])
    return Built(soname, _build("lib", soname, source, extra, list(deps)), soname, deps)


def program(
    name: str,
    source: str,
    needs: list[Built] | None = None,
    rpath: str | None = None,
    runpath: str | None = None,
    flags: list[str] | None = None,
) -> Built:
    """A (PIE) program linked against `needs`."""
    extra = [*_paths(rpath, runpath), *(flags or [])]
    deps = tuple(needs or [])
    return Built(name, _build("exe", name, source, extra, list(deps)), None, deps)


def ld_so_cache(items: list[Any], fmt: str = "new") -> bytes:
    """The /etc/ld.so.cache glibc's own `ldconfig` writes for a root holding `items`
    (factory items: its /etc/ld.so.conf and the libraries in the directories it names
    and in the system directories), as `RUN ... && ldconfig` would leave it. -X: no
    soname links made; -r: ldconfig chroots into the root, so this needs root."""
    from tests.factory import Layer, layer_tar

    from .loaderoracle import materialize

    ldconfig = shutil.which("ldconfig", path="/usr/sbin:/sbin:/usr/bin:/bin")
    if ldconfig is None or os.geteuid() != 0:
        pytest.skip("glibc's ldconfig (run as root: it chroots) writes the ld.so.cache")
    with tempfile.TemporaryDirectory(prefix="imgaudit-ldconfig-") as tmp:
        root = materialize([layer_tar(Layer(list(items)))], Path(tmp) / "root")
        subprocess.run(
            [ldconfig, "-X", "-r", str(root), "-c", fmt, "-C", "/etc/ld.so.cache"],
            check=True, capture_output=True,
        )  # fmt: skip
        return (root / "etc" / "ld.so.cache").read_bytes()
