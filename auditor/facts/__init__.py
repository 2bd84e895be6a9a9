"""Derived knowledge about an image, computed lazily, once per scan, shared by checks.

`Facts` is the only door checks have to the image: each property delegates to one
module of this package and is cached. Checks never read layers or the FileSystem
directly for things a fact already knows.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from auditor.facts import distro as distrodb
from auditor.facts import dpkg as dpkgdb
from auditor.facts import extensions as extmods
from auditor.facts import osinfo
from auditor.facts import provenance as prov
from auditor.facts import pyc as pycfiles
from auditor.facts import toolchain as tools
from auditor.facts import users as userdb
from auditor.fs import FileSystem
from auditor.scan import LoadedImage


class Facts:
    def __init__(self, loaded: LoadedImage, base: str | None = None) -> None:
        self.loaded = loaded
        self.base_reference = base  # --base REF (provenance)

    @property
    def fs(self) -> FileSystem:
        return self.loaded.fs

    @property
    def config(self) -> dict[str, Any]:
        """The image config's `config` part (User, Env, Entrypoint, Labels, ...)."""
        cfg = self.loaded.image.config.get("config")
        return cfg if isinstance(cfg, dict) else {}

    @cached_property
    def env(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for item in self.config.get("Env") or []:
            if isinstance(item, str) and "=" in item:
                key, _, value = item.partition("=")
                out[key] = value
        return out

    @cached_property
    def os(self) -> osinfo.OsInfo:
        return osinfo.detect(self.fs)

    @cached_property
    def users(self) -> userdb.UserDb:
        return userdb.load(self.fs)

    @cached_property
    def runtime_user(self) -> userdb.RuntimeUser:
        return userdb.runtime_user(str(self.config.get("User") or ""), self.users)

    # ---- base OS, dpkg, provenance (checks framework) ---------------------------------

    @cached_property
    def distro(self) -> distrodb.DistroStatus:
        return distrodb.lookup(self.os, self.fs)

    @cached_property
    def dpkg(self) -> dpkgdb.DpkgDb:
        return dpkgdb.load(self.fs)

    @cached_property
    def provenance(self) -> prov.Provenance:
        image = self.loaded.image
        labels = self.config.get("Labels") or {}
        return prov.detect(
            [ly.diff_id for ly in image.layers],
            labels if isinstance(labels, dict) else {},
            self.base_reference,
        )

    @cached_property
    def toolchain(self) -> list[tools.Tool]:
        """Compiler toolchain programs on the usual bin dirs (shared with CC001)."""
        return tools.find(self.fs)

    @cached_property
    def extension_modules(self) -> list[str]:
        return extmods.find(self.fs)

    @cached_property
    def pycs(self) -> list[pycfiles.Pyc]:
        return pycfiles.scan(self.fs)

    # ---- Python: interpreters, venvs, distributions, permissions -----------------------

    # ---- ELF graph and compilers --------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        """The report's `facts` section."""
        return {
            "os": {**self.os.to_json(), "eol": self.distro.to_json()["eol"]},
            "users": {"runtime": self.runtime_user.to_json()},
            "distro": self.distro.to_json(),
            "dpkg": self.dpkg.to_json(),
            "provenance": self.provenance.to_json(),
        }
