"""Derived knowledge about an image, computed lazily, once per scan, shared by checks.

`Facts` is the only door checks have to the image: each property delegates to one
module of this package and is cached. Checks never read layers or the FileSystem
directly for things a fact already knows.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from auditor.facts import (
    apppython,
    distributions,
    elfgraph,
    osinfo,
    permissions,
    pythons,
    syspath,
    venvs,
)
from auditor.facts import compilers as compilers_mod
from auditor.facts import distro as distrodb
from auditor.facts import dpkg as dpkgdb
from auditor.facts import extensions as extmods
from auditor.facts import owners as owners_mod
from auditor.facts import provenance as prov
from auditor.facts import pyc as pycfiles
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
    def extension_modules(self) -> list[str]:
        return extmods.find(self.fs)

    @cached_property
    def pycs(self) -> list[pycfiles.Pyc]:
        return pycfiles.scan(self.fs)

    # ---- Python: interpreters, venvs, distributions, permissions -----------------------

    @cached_property
    def pythons(self) -> list[pythons.Interpreter]:
        return pythons.find(self.fs, self.dpkg, self.env)

    @cached_property
    def venvs(self) -> list[venvs.Venv]:
        return venvs.find(self.fs)

    @cached_property
    def process_env(self) -> syspath.ProcessEnv:
        """Env, working directory and HOME every process in the container gets."""
        workdir = str(self.config.get("WorkingDir") or "")
        return syspath.process_env(self.env, workdir, self.runtime_user.home)

    @cached_property
    def environments(self) -> list[syspath.Environment]:
        """Each interpreter and venv with its sys.path, as its own site.py builds it."""
        return syspath.environments(self.fs, self.pythons, self.venvs, self.process_env)

    @cached_property
    def app_python(self) -> apppython.AppPython:
        """The interpreter or venv the application runs on (entrypoint, PATH, venvs)."""
        return apppython.find(self.fs, self.config, self.env, self.pythons, self.environments)

    @cached_property
    def inventory(self) -> distributions.Inventory:
        """What importlib.metadata lists per environment, and off-path site dirs."""
        return distributions.find(self.fs, self.environments)

    @cached_property
    def distributions(self) -> list[distributions.Distribution]:
        """Installed distributions with a Name (the unnamed are in `inventory`)."""
        return list(self.inventory.distributions)

    @cached_property
    def venv_writable(self) -> dict[str, permissions.WritableScan]:
        """Per venv path: what in it the runtime user can write."""
        return {
            v.path: permissions.writable_paths(self.fs, v.path, self.runtime_user)
            for v in self.venvs
        }

    @cached_property
    def app_dirs(self) -> list[str]:
        exclude = tuple(v.path for v in self.venvs) + tuple(
            i.prefix for i in self.pythons if i.prefix not in ("usr", "usr/local", "")
        )
        return permissions.app_dirs(self.fs, self.config, exclude)

    # ---- ELF graph and compilers --------------------------------------------------------

    @cached_property
    def owners(self) -> owners_mod.Owners:
        """File -> dpkg package / Python distribution (the Python facts' index)."""
        inventory = self.inventory
        return owners_mod.load(self.dpkg, [*inventory.distributions, *inventory.unnamed])

    @cached_property
    def elf_graph(self) -> elfgraph.ElfGraph:
        """Every ELF's DT_NEEDED resolved inside the image as ld.so would."""
        return elfgraph.build(self.fs, self.env, self.os.libc)

    @cached_property
    def glibc_version(self) -> tuple[int, int] | None:
        """The image's glibc (newest GLIBC_2.N that libc.so.6 defines)."""
        return elfgraph.glibc_version(self.fs, self.elf_graph.ld_conf_dirs)

    @cached_property
    def compilers(self) -> compilers_mod.Compilers:
        """Compilers, build tools and toolchain packages (CC001, BL002)."""
        return compilers_mod.detect(self.fs, self.owners)

    @cached_property
    def dev_files(self) -> compilers_mod.DevFiles:
        return compilers_mod.dev_files(self.fs)

    def _python_json(self) -> dict[str, Any]:
        venv_json = []
        for v in self.venvs:
            scan = self.venv_writable[v.path]
            venv_json.append(
                {
                    **v.to_json(),
                    "writable_by_runtime_user": bool(scan.writable),
                }
            )
        app = self.app_python.interpreter
        return {
            "pythons": [{**i.to_json(), "app": i.path == app} for i in self.pythons],
            "app_python": self.app_python.to_json(),
            "venvs": venv_json,
            "environments": [e.to_json() for e in self.environments],
            "packages": [d.to_json() for d in self.distributions],
            "unnamed_packages": [
                {
                    "metadata": "/" + d.meta_dir,
                    "location": "/" + d.location,
                    "version": d.version,
                    "environments": ["/" + e for e in d.environments],
                }
                for d in self.inventory.unnamed
            ],
        }

    def to_json(self) -> dict[str, Any]:
        """The report's `facts` section."""
        return {**self.content_json(), "provenance": self.provenance.to_json()}

    def content_json(self) -> dict[str, Any]:
        """The `facts` section but provenance: what follows from the image alone (the
        result cache keeps it; provenance depends on --base and on other images)."""
        return {
            "os": {**self.os.to_json(), "eol": self.distro.to_json()["eol"]},
            "users": {"runtime": self.runtime_user.to_json()},
            "distro": self.distro.to_json(),
            "dpkg": self.dpkg.to_json(),
            **self._python_json(),
            "elf": self.elf_graph.to_json(),  # ELF graph and compilers
            "compilers": self.compilers.to_json(),  # ELF graph and compilers
        }
