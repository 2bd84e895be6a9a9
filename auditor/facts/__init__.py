"""Derived knowledge about an image, computed lazily, once per scan, shared by checks.

`Facts` is the only door checks have to the image: each property delegates to one
module of this package and is cached. Checks never read layers or the FileSystem
directly for things a fact already knows, and never see the loader (`LoadedImage`,
kept private here): the image config, the layers' summaries and the filesystem model
are facts like any other.

Two facts come from outside the image (`GIVEN` in auditor/check.py): the baseline an
image is compared with (SZ005) and a Debian Packages index (OS006). A check that uses
one declares it (`INPUTS`), and the result cache names it by `given_identity`.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any

from auditor.facts.image_layers import LayerFacts, summarise

# deferred: start-up time, see README "Performance". Each fact's module is imported by
# the property that computes it: a scan answered from the result cache computes none,
# and a cold scan imports them while its layers are read (`preload`, called by
# `read_layers`).
if TYPE_CHECKING:
    from collections.abc import Callable

    from auditor.facts import (
        apppython,
        distributions,
        elfgraph,
        ldcache,
        ldpaths,
        loadimpact,
        osinfo,
        permissions,
        privdrop,
        pythons,
        syspath,
        venvs,
    )
    from auditor.facts import compilers as compilers_mod
    from auditor.facts import distro as distrodb
    from auditor.facts import dpkg as dpkgdb
    from auditor.facts import owners as owners_mod
    from auditor.facts import provenance as prov
    from auditor.facts import providers as providers_mod
    from auditor.facts import users as userdb
    from auditor.facts.baseline import Baseline
    from auditor.facts.packages_index import PackagesIndex
    from auditor.fs import FileSystem
    from auditor.loading import LoadedImage
    from auditor.second_process import Partner


def preload() -> None:
    """Import every module of this package (the properties below import each when they
    compute) and the parsers they defer: packaging's metadata, requirements and tags
    modules, which any image with a Python distribution needs, and python-debian's
    deb822, which an image with a dpkg database needs (most Python images: Debian and
    Ubuntu bases). Imported after the merge instead, deb822 cost ~40 ms in each of the
    two processes that run the checks; here it shares the cores with the layer workers,
    and an image without dpkg pays that share for nothing."""
    import importlib
    import pkgutil

    for module in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{module.name}")
    for name in ("packaging.metadata", "packaging.requirements", "packaging.tags"):
        importlib.import_module(name)
    importlib.import_module("debian.deb822")


class Facts:
    def __init__(
        self,
        loaded: LoadedImage,
        base: str | None = None,
        *,
        baseline: Baseline | None = None,
        packages_index: PackagesIndex | None = None,
    ) -> None:
        self._loaded = loaded
        self.base_reference = base  # --base REF (provenance)
        self.baseline = baseline  # given: what SZ005 compares with
        self.packages_index = packages_index  # given: what OS006 compares with

    def given_identity(self, name: str) -> str | None:
        """What names a given fact (auditor/check.py GIVEN) in the result cache."""
        given: Baseline | PackagesIndex | None = {
            "baseline": self.baseline,
            "packages_index": self.packages_index,
        }[name]
        return given.identity if given is not None else None

    # ---- the image: config, layers, filesystem -------------------------------------------

    @property
    def fs(self) -> FileSystem:
        """The merged filesystem (reads the layers on first use)."""
        return self._loaded.fs

    def read_layers(self, also: Callable[[], object] | None = None) -> FileSystem:
        """The merged filesystem, its layers read now; while worker processes read
        them, this process imports the facts' modules (`preload`), then runs `also`:
        one core is idle then, and a second process forked for the checks inherits
        what they import."""

        def while_waiting() -> None:
            preload()
            if also is not None:
                also()

        self._loaded.read(while_waiting=while_waiting)
        return self._loaded.fs

    @property
    def fs_loaded(self) -> bool:
        """Whether anything read the layers yet (the result cache may have spared it)."""
        return self._loaded.fs_loaded

    @property
    def image_config(self) -> dict[str, Any]:
        """The whole image config document (architecture, created, history, config)."""
        return self._loaded.image.config

    @property
    def architecture(self) -> str:
        return self._loaded.image.architecture

    @property
    def config(self) -> dict[str, Any]:
        """The image config's `config` part (User, Env, Entrypoint, Labels, ...)."""
        cfg = self.image_config.get("config")
        return cfg if isinstance(cfg, dict) else {}

    @property
    def created_by(self) -> list[str | None]:
        """The build step of each layer, from the config's history (no layer is read)."""
        return self._loaded.created_by

    @cached_property
    def layers(self) -> tuple[LayerFacts, ...]:
        """One summary per layer, bottom first (reads the layers)."""
        return tuple(
            summarise(index, i, self.created_by[i], self.provenance.in_base(i))
            for i, index in enumerate(self._loaded.indexes)
        )

    @property
    def image_size(self) -> int:
        """Bytes of regular-file content all layers write (the report's `image.size`)."""
        return sum(layer.size for layer in self.layers)

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
        from auditor.facts import osinfo

        return osinfo.detect(self.fs)

    @cached_property
    def users(self) -> userdb.UserDb:
        from auditor.facts import users as userdb

        return userdb.load(self.fs)

    @cached_property
    def runtime_user(self) -> userdb.RuntimeUser:
        from auditor.facts import users as userdb

        return userdb.runtime_user(str(self.config.get("User") or ""), self.users)

    @cached_property
    def privilege_drop(self) -> privdrop.PrivilegeDrop | None:
        """The user an image that starts as root switches to in its entrypoint (gosu,
        setpriv, su...); None when it sets a non-root User or switches nowhere."""
        from auditor.facts import privdrop

        if not self.runtime_user.is_root:
            return None
        return privdrop.find(self.fs, self.config, self.env, self.users)

    @cached_property
    def app_user(self) -> userdb.RuntimeUser:
        """The user the application's processes run as: the config's User, or the non-root
        user a root image's entrypoint switches to (`privilege_drop`)."""
        drop = self.privilege_drop
        if drop is not None and drop.user is not None and drop.switches_to_non_root:
            return drop.user
        return self.runtime_user

    # ---- base OS, dpkg, provenance (checks framework) ---------------------------------

    @cached_property
    def distro(self) -> distrodb.DistroStatus:
        from auditor.facts import distro as distrodb

        return distrodb.lookup(self.os, self.fs)

    @cached_property
    def dpkg(self) -> dpkgdb.DpkgDb:
        from auditor.facts import dpkg as dpkgdb

        return dpkgdb.load(self.fs)

    @cached_property
    def provenance(self) -> prov.Provenance:
        from auditor.facts import provenance as prov

        image = self._loaded.image
        labels = self.config.get("Labels") or {}
        return prov.detect(
            [ly.diff_id for ly in image.layers],
            labels if isinstance(labels, dict) else {},
            self.base_reference,
            history=self.image_config.get("history"),
        )

    @cached_property
    def extension_modules(self) -> list[str]:
        from auditor.facts import extensions as extmods

        return extmods.find(self.fs)

    @cached_property
    def pycs(self) -> dict[str, list[str]]:
        """Invalidation mode -> the pycs with it, sorted (pyc.scan)."""
        from auditor.facts import pyc as pycfiles

        return pycfiles.scan(self.fs)

    # ---- Python: interpreters, venvs, distributions, permissions -----------------------

    @cached_property
    def pythons(self) -> list[pythons.Interpreter]:
        from auditor.facts import pythons as pythons_mod

        return pythons_mod.find(self.fs, self.dpkg, self.env)

    @cached_property
    def venvs(self) -> list[venvs.Venv]:
        from auditor.facts import venvs as venvs_mod

        return venvs_mod.find(self.fs)

    @cached_property
    def process_env(self) -> syspath.ProcessEnv:
        """Env, working directory and HOME every process in the container gets."""
        from auditor.facts import syspath

        workdir = str(self.config.get("WorkingDir") or "")
        user = self.runtime_user
        return syspath.process_env(self.env, workdir, user.home, user.uid, user.groups)

    @cached_property
    def environments(self) -> list[syspath.Environment]:
        """Each interpreter and venv with its sys.path, as its own site.py builds it."""
        from auditor.facts import syspath

        return syspath.environments(self.fs, self.pythons, self.venvs, self.process_env)

    @cached_property
    def app_python(self) -> apppython.AppPython:
        """The interpreter or venv the application runs on (entrypoint, PATH, venvs)."""
        from auditor.facts import apppython

        return apppython.find(self.fs, self.config, self.env, self.pythons, self.environments)

    @cached_property
    def inventory(self) -> distributions.Inventory:
        """What importlib.metadata lists per environment, and off-path site dirs."""
        from auditor.facts import distributions

        return distributions.find(self.fs, self.environments)

    def share_inventory(self, partner: Partner) -> None:
        """Compute `inventory` now, half of it here and half in the partner process
        (auditor/second_process.py), which does the same: the checks of both processes
        of a scan need it, and each computed all of it before. Both sides call this
        first thing after the fork, so neither waits long for the other. An error
        leaves the inventory to the check that asks (which reports it, as without a
        partner); the partner then reads everything itself."""
        from auditor.facts import distributions

        if "inventory" in self.__dict__:  # computed before the fork: both have it
            partner.close()
            return
        try:
            self.__dict__["inventory"] = distributions.find(self.fs, self.environments, partner)
        except Exception:
            partner.close()

    @cached_property
    def distributions(self) -> list[distributions.Distribution]:
        """Installed distributions with a Name (the unnamed are in `inventory`)."""
        return list(self.inventory.distributions)

    @cached_property
    def venv_writable(self) -> dict[str, permissions.WritableScan]:
        """Per venv path: what in it the runtime user can write. uv's lock file
        (`<venv>/.lock`, which uv makes mode 0666 so that any user may lock the venv) is
        left out: no interpreter reads it, and writing it changes no code (replacing it
        takes a writable venv directory, which is counted)."""
        from auditor.facts import permissions

        return {
            v.path: permissions.writable_paths(
                self.fs, v.path, self.app_user, skip=self._lock_files(v.path)
            )
            for v in self.venvs
        }

    def _lock_files(self, venv: str) -> tuple[str, ...]:
        from auditor.fs import FILE

        lock = f"{venv}/.lock"
        node = self.fs.get(lock)
        return (lock,) if node is not None and node.entry.kind == FILE else ()

    @cached_property
    def app_dirs(self) -> list[str]:
        from auditor.facts import permissions

        exclude = tuple(v.path for v in self.venvs) + tuple(
            i.prefix for i in self.pythons if i.prefix not in ("usr", "usr/local", "")
        )
        return permissions.app_dirs(self.fs, self.config, exclude)

    # ---- ELF graph and compilers --------------------------------------------------------

    @cached_property
    def owners(self) -> owners_mod.Owners:
        """File -> dpkg package / Python distribution (the Python facts' index)."""
        from auditor.facts import owners as owners_mod

        inventory = self.inventory
        return owners_mod.load(self.dpkg, [*inventory.distributions, *inventory.unnamed])

    @cached_property
    def ld_cache(self) -> tuple[ldcache.LdCache | None, str]:
        """/etc/ld.so.cache as the loader reads it, and its state: ok, absent, or
        ignored (present but refused by the loader: damaged, wrong endianness)."""
        from auditor.facts import ldcache

        data = self.fs.read("etc/ld.so.cache")
        if data is None:
            return None, "absent"
        cache = ldcache.parse(data)
        return cache, "ok" if cache is not None else "ignored"

    @cached_property
    def loader_paths(self) -> ldpaths.LoaderPaths:
        """Where the image's loader searches (system directories per distribution family,
        the cache, LD_LIBRARY_PATH, the working directory)."""
        from auditor.facts import ldpaths

        cache, state = self.ld_cache
        workdir = str(self.config.get("WorkingDir") or "/")
        return ldpaths.LoaderPaths(
            family=ldpaths.family(self.os, self.fs),
            glibc=self.glibc_version,
            cache=cache,
            cache_state=state,
            ld_library_path=ldpaths.split_env_path(self.env.get("LD_LIBRARY_PATH", "")),
            working_dir=ldpaths.norm_dir(workdir, ""),
        )

    @cached_property
    def extension_interpreters(self) -> list[tuple[str, str]]:
        """(directory, interpreter program): who dlopen()s the extension modules below
        each directory. A venv's site-packages -> its `home` python; a prefix's
        lib/pythonX.Y (lib-dynload, site-packages) -> that prefix's python; Debian's
        /usr/lib/python3 and /usr/local/lib/pythonX.Y -> the distro's python3.X."""
        fs = self.fs
        out: list[tuple[str, str]] = []
        taken: set[str] = set()

        def add(directory: str, program: str | None) -> None:
            real = fs.resolve(program) if program else None
            if real is not None and directory not in taken:
                taken.add(directory)
                out.append((directory, real))

        for v in self.venvs:
            for site in v.site_packages:
                add(site, v.home_python)
        for interp in self.pythons:
            if interp.stdlib:
                add(interp.stdlib, interp.executable)
        for interp in self.pythons:
            if interp.prefix == "usr" and interp.origin == "distro":
                add(f"usr/local/lib/python{interp.version}", interp.executable)
                if fs.resolve("usr/bin/python3") == fs.resolve(interp.executable or ""):
                    add("usr/lib/python3", interp.executable)
        # sys.path directories of no prefix or venv (PYTHONPATH, a .pth file's): the
        # app's interpreter first, as it is the one the container runs
        executables = {i.path: i.executable for i in self.pythons}
        homes = {v.path: v.home_python for v in self.venvs}
        for env in self._app_first(self.environments):
            program = homes.get(env.path) if env.kind == "venv" else executables.get(env.path)
            for entry in env.sys_path:
                if entry in self.import_roots:
                    add(entry, program)
        return out

    def _app_first(self, environments: list[syspath.Environment]) -> list[syspath.Environment]:
        app = self.app_python.environment
        return sorted(environments, key=lambda e: e.path != app)

    @cached_property
    def import_roots(self) -> frozenset[str]:
        """sys.path directories that hold imports outside the usual places (a prefix's
        lib/pythonX.Y, site-packages, dist-packages, lib-dynload): PYTHONPATH's, those a
        .pth file adds. An extension module below one is dlopen()ed by `import`."""
        usual = ("site-packages", "dist-packages", "lib-dynload")
        stdlib = {p for e in self.environments for p in e.stdlib}
        return frozenset(
            p
            for e in self.environments
            for p in e.sys_path
            if p and p not in stdlib and not any(u in p.split("/") for u in usual)
        )

    @cached_property
    def unimportable_extensions(self) -> dict[str, str]:
        """Extension modules no interpreter here imports (built for another CPU, or
        tagged for another platform's CPython): path -> what they were built for."""
        from auditor.facts import extplatform
        from auditor.facts.owners import import_name

        platforms = extplatform.image_platforms(self.fs, self.architecture, self.os.libc)
        roots = self.import_roots
        return extplatform.find(
            self.elf_graph.trees.values(),
            self.fs,
            platforms,
            lambda path: import_name(path, roots),
        )

    @cached_property
    def elf_graph(self) -> elfgraph.ElfGraph:
        """Every load tree (programs, extension modules, libraries nothing loads)
        resolved inside the image as its loader would."""
        from auditor.facts import elfgraph
        from auditor.facts import owners as owners_mod

        roots = self.import_roots
        return elfgraph.build(
            self.fs,
            self.loader_paths,
            self.os.libc,
            self.extension_interpreters,
            self.architecture,
            extension=lambda path: owners_mod.import_name(path, roots) is not None,
        )

    @cached_property
    def load_judge(self) -> loadimpact.Judge:
        """Severity and wording of load failures (EL001, EL002): what breaks."""
        from auditor.facts import ldpaths, loadimpact

        paths = self.loader_paths
        fs = self.fs
        machine = ldpaths.IMAGE_ARCH.get(self.architecture or "")
        dirs = [*paths.default_dirs(machine, 64), *paths.default_dirs(machine, 32)]
        dirs += self.elf_graph.ld_conf_dirs
        if paths.cache is not None:
            dirs += [e.path.rpartition("/")[0] for e in paths.cache.entries if e.path]
        real = {fs.resolve(d.strip("/")) for d in dirs}
        return loadimpact.Judge(
            self.owners, {d for d in real if d is not None}, fs.resolve, self.import_roots
        )

    @cached_property
    def library_providers(self) -> providers_mod.Providers:
        """Soname -> the package that provides it (the image's dpkg data, Debian's index)."""
        from auditor.facts import providers as providers_mod

        return providers_mod.Providers(self.dpkg, self.loader_paths.family == "debian")

    @cached_property
    def glibc_version(self) -> tuple[int, int] | None:
        """The image's glibc (newest GLIBC_2.N that libc.so.6 defines)."""
        from auditor.facts import elfgraph

        libc6 = self.dpkg.packages.get("libc6")
        return elfgraph.glibc_version(
            self.fs, elfgraph.ld_so_conf_dirs(self.fs), libc6.version if libc6 else None
        )

    @cached_property
    def compilers(self) -> compilers_mod.Compilers:
        """Compilers, build tools and toolchain packages (CC001, BL002)."""
        from auditor.facts import compilers as compilers_mod

        return compilers_mod.detect(self.fs, self.owners)

    @cached_property
    def dev_files(self) -> compilers_mod.DevFiles:
        from auditor.facts import compilers as compilers_mod

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
            "users": {
                "runtime": self.runtime_user.to_json(),
                "entrypoint_switch": (
                    self.privilege_drop.to_json() if self.privilege_drop is not None else None
                ),
            },
            "distro": self.distro.to_json(),
            "dpkg": self.dpkg.to_json(),
            **self._python_json(),
            "elf": self.elf_graph.to_json(),  # ELF graph and compilers
            "compilers": self.compilers.to_json(),  # ELF graph and compilers
        }
