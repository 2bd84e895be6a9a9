"""Where the image's dynamic loader looks for libraries, per distribution family.

glibc's loader searches, for a DT_NEEDED name without a slash: DT_RPATH (of the
object and up its loader chain, then of the program), LD_LIBRARY_PATH, DT_RUNPATH,
/etc/ld.so.cache (auditor/facts/ldcache.py), then its *system directories*, which are
compiled into ld.so from the distribution's build configuration (`slibdir` and
`libdir`): `ld.so --help` prints them. ld.so.conf is not among them: it only feeds
ldconfig, which writes the cache. The directories, `$LIB` and the loader's hardware
capability subdirectories per family:

- Debian, Ubuntu and their derivatives (os-release ID or ID_LIKE debian/ubuntu;
  distroless images say debian): multiarch. /lib/<triplet>, /usr/lib/<triplet>, /lib,
  /usr/lib (the x86-64 loader of bookworm prints exactly these; /lib64 and /usr/lib64
  are NOT searched for x86-64 libraries, /usr/local/lib only through the cache).
  `$LIB` = lib/<triplet> (x86_64-linux-gnu, aarch64-linux-gnu, i386-linux-gnu, ...).
- RHEL, CentOS, Fedora, Rocky, Alma, Oracle Linux, Amazon Linux, openSUSE/SLES, Gentoo
  (upstream glibc's layout): /lib64, /usr/lib64 for 64-bit objects (`$LIB` = lib64),
  /lib, /usr/lib for 32-bit ones (`$LIB` = lib).
- Arch Linux and derivatives: /usr/lib (`$LIB` = lib).
- Alpine and other musl images: musl's loader, which has no cache and no RUNPATH/RPATH
  distinction: LD_LIBRARY_PATH, then DT_RUNPATH (or DT_RPATH) of the object and of
  every object up its loader chain, then the lines of /etc/ld-musl-<arch>.path, or
  /lib, /usr/local/lib, /usr/lib without that file.
- Anything else (no os-release, an unknown ID): told by where libc.so.6 lives:
  lib/<triplet> -> the Debian layout, lib64 -> the upstream layout, else the union of
  all of them (searching more finds more: never a false "missing").

Hardware-capability subdirectories are searched inside every search directory (not
the cache) before the directory itself: glibc-hwcaps/x86-64-v4, -v3, -v2 (glibc >=
2.33; taken only on CPUs with that ISA level, so a library found only there may be
missing on another CPU), and on x86-64 with glibc < 2.37 the legacy ones every x86-64
CPU takes: tls/x86_64/x86_64, tls/x86_64, tls, x86_64/x86_64, x86_64. `$PLATFORM` is
the loader's AT_PLATFORM: x86_64, aarch64, i686, ...
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field

from auditor.facts.ldcache import LdCache
from auditor.facts.osinfo import OsInfo
from auditor.fs import FileSystem

MULTIARCH = {
    ("EM_X86_64", 64): "x86_64-linux-gnu",
    ("EM_X86_64", 32): "x86_64-linux-gnux32",
    ("EM_386", 32): "i386-linux-gnu",
    ("EM_AARCH64", 64): "aarch64-linux-gnu",
    ("EM_ARM", 32): "arm-linux-gnueabihf",
    ("EM_PPC64", 64): "powerpc64le-linux-gnu",
    ("EM_S390", 64): "s390x-linux-gnu",
    ("EM_RISCV", 64): "riscv64-linux-gnu",
    ("EM_MIPS", 64): "mips64el-linux-gnuabi64",
}
PLATFORM = {
    "EM_X86_64": "x86_64",
    "EM_386": "i686",
    "EM_AARCH64": "aarch64",
    "EM_ARM": "v7l",
    "EM_PPC64": "powerpc64le",
    "EM_S390": "s390x",
    "EM_RISCV": "riscv64",
}
MUSL_ARCH = {
    "EM_X86_64": "x86_64",
    "EM_386": "i386",
    "EM_AARCH64": "aarch64",
    "EM_ARM": "armhf",
    "EM_PPC64": "powerpc64le",
    "EM_S390": "s390x",
    "EM_RISCV": "riscv64",
}
# machine -> the uname name the image's `architecture` field uses (amd64 ...)
IMAGE_ARCH = {
    "amd64": "EM_X86_64",
    "386": "EM_386",
    "arm64": "EM_AARCH64",
    "arm": "EM_ARM",
    "ppc64le": "EM_PPC64",
    "s390x": "EM_S390",
    "riscv64": "EM_RISCV",
}
X86_64_HWCAPS = ("glibc-hwcaps/x86-64-v4", "glibc-hwcaps/x86-64-v3", "glibc-hwcaps/x86-64-v2")
X86_64_LEGACY = ("tls/x86_64/x86_64", "tls/x86_64", "tls", "x86_64/x86_64", "x86_64")
FAMILIES = {
    "debian": "debian",
    "ubuntu": "debian",
    "rhel": "lib64",
    "centos": "lib64",
    "fedora": "lib64",
    "rocky": "lib64",
    "almalinux": "lib64",
    "ol": "lib64",
    "amzn": "lib64",
    "opensuse": "lib64",
    "opensuse-leap": "lib64",
    "opensuse-tumbleweed": "lib64",
    "sles": "lib64",
    "suse": "lib64",
    "gentoo": "lib64",
    "arch": "arch",
    "manjaro": "arch",
    "alpine": "musl",
}


@dataclass(frozen=True)
class Subdir:
    """A hardware-capability subdirectory of a search directory."""

    name: str
    cpu_dependent: bool  # only some CPUs search it


@dataclass
class LoaderPaths:
    """The image's loader configuration: what every search starts from."""

    family: str  # debian | lib64 | arch | musl | unknown
    glibc: tuple[int, int] | None
    cache: LdCache | None  # None: no (usable) /etc/ld.so.cache
    cache_state: str  # "ok" | "absent" | "ignored" (present, but the loader would not use it)
    ld_library_path: tuple[str, ...]  # raw entries (empty ones are the working directory)
    working_dir: str  # image path of the container's working directory ("" = /)
    _subdirs: dict[str, tuple[Subdir, ...]] = field(default_factory=dict)

    def default_dirs(self, machine: str | None, elf_class: int | None) -> list[str]:
        """The loader's system directories for objects of (machine, class)."""
        triplet = MULTIARCH.get((machine or "", elf_class or 0))
        multi = [f"lib/{triplet}", f"usr/lib/{triplet}"] if triplet else []
        if self.family == "debian":
            return [*multi, "lib", "usr/lib"]
        if self.family == "lib64":
            return ["lib64", "usr/lib64"] if elf_class == 64 else ["lib", "usr/lib"]
        if self.family == "arch":
            return ["usr/lib"]
        return [*multi, "lib64", "usr/lib64", "lib", "usr/lib"]

    def lib_values(self, machine: str | None, elf_class: int | None) -> list[str]:
        """What `$LIB` expands to (several for an unknown family: each is tried)."""
        triplet = MULTIARCH.get((machine or "", elf_class or 0))
        if self.family == "debian" and triplet:
            return [f"lib/{triplet}"]
        if self.family == "lib64":
            return ["lib64" if elf_class == 64 else "lib"]
        if self.family == "arch":
            return ["lib"]
        return [*([f"lib/{triplet}"] if triplet else []), "lib64" if elf_class == 64 else "lib"]

    def platform(self, machine: str | None) -> str:
        return PLATFORM.get(machine or "", "unknown")

    def subdirs(self, machine: str | None) -> tuple[Subdir, ...]:
        """Hardware-capability subdirectories searched before each directory, in order."""
        key = machine or ""
        if key not in self._subdirs:
            out: list[Subdir] = []
            if machine == "EM_X86_64":
                if self.glibc is None or self.glibc >= (2, 33):
                    out += [Subdir(s, True) for s in X86_64_HWCAPS]
                if self.glibc is None or self.glibc < (2, 37):
                    out += [Subdir(s, False) for s in X86_64_LEGACY]
            elif self.glibc is None or self.glibc < (2, 37):
                out += [Subdir("tls", False), Subdir(self.platform(machine), False)]
            self._subdirs[key] = tuple(out)
        return self._subdirs[key]


def family(os_info: OsInfo, fs: FileSystem) -> str:
    """The loader layout family (see the module docstring) for this image."""
    if os_info.libc == "musl":
        return "musl"
    for name in (os_info.id, *os_info.id_like):
        if name and name.lower() in FAMILIES:
            found = FAMILIES[name.lower()]
            if found != "musl" or os_info.libc != "glibc":
                return found
    for d in ("lib", "usr/lib"):
        for name in fs.listdir(d):
            if "-linux-gnu" in name and fs.get(f"{d}/{name}/libc.so.6") is not None:
                return "debian"
    for d in ("lib64", "usr/lib64"):
        if fs.get(f"{d}/libc.so.6") is not None:
            return "lib64"
    return "unknown"


def split_env_path(value: str) -> tuple[str, ...]:
    """LD_LIBRARY_PATH as glibc splits it: on ':' and ';'; an empty element (between
    separators) is the working directory; an empty value lists nothing."""
    if not value:
        return ()
    return tuple(value.replace(";", ":").split(":"))


def norm_dir(path: str, base: str) -> str:
    """An absolute or `base`-relative path as an image path without a leading slash;
    `..` is NOT folded here (the kernel resolves it after following links)."""
    joined = path if path.startswith("/") else posixpath.join("/" + base, path)
    parts = [p for p in joined.split("/") if p and p != "."]
    return "/".join(parts)
