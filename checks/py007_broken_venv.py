"""PY007 broken-venv: a venv's interpreter, or the Python program the container starts, is
missing or out of reach.

Not in criteria.md's table (it has no ID for it): PY007 is proposed for it.

Why it matters: a venv is not relocatable. `pyvenv.cfg`'s `home`, the `bin/python`
link and the shebang of every console script name absolute paths of the interpreter
that created it. Copy a venv from a builder stage whose Python lived elsewhere (or
delete that Python in a later layer) and every `python`, `gunicorn` or `celery` in
it fails with "No such file or directory" at container start.

Flagged: `home` without a python in it (or with a python of another X.Y than the
venv's `version`; not for a `--copies` venv, whose own bin/python finds the standard
library from `home` upward), a dangling `bin/python`, and console scripts whose shebang
interpreter does not exist (all resolved inside the image; a warning, not an error,
when the container's command is a python that is there, `python -m gunicorn` in a venv
copied from /build/venv to /opt/venv: the container starts and serves, only another
command, `docker run IMAGE gunicorn` or `docker exec ... pip`, fails). Also the container's own
command (Entrypoint + Cmd, found on the config's PATH) when it is a script whose `#!`
interpreter is not in the image, venv or not: pip's console scripts in
/usr/local/bin name the python that installed them, and the container does not start.

The program the container starts is read past wrappers (tini, dumb-init, `env`, and a
short entrypoint script that only ends with `exec "$@"`: `ENTRYPOINT
["/docker-entrypoint.sh"]` with `CMD ["gunicorn", ...]` starts gunicorn, and with
gunicorn off PATH the running image says `exec: gunicorn: not found`).

Also flagged: the program the container starts (a console script, a python, a shell
script or any other) that the runtime user may not reach or run, judged from the mode
bits of every directory on its way (and of the file) against the runtime user, as exec
would (root too: exec needs an execute bit, anyone's: `CMD ["./run.sh"]` of a script
copied 0644 is refused, "exec: ./run.sh: permission denied"; not judged past `gosu` or
`su-exec`, which run it as another user): a builder's `pip
install --user` copied to /root/.local with `USER app` fails with "executable file not
found in $PATH", /root being 0700 (unless another program by that name on PATH is
reachable: exec passes over the first; and not when the command goes through a shell or
sets PATH, which may change what runs: `. /opt/venv/bin/activate && exec gunicorn`);
and a command that switches users (gosu, su-exec, setpriv, su, runuser) in an image
whose User is not root: only root may switch ("failed switching to app: operation not
permitted", the container does not start); and a wrapper the exec-form command starts
first (`ENTRYPOINT ["tini", "--"]`, dumb-init, gosu) that is not in the image; and a
program the container starts by name that is on no directory of PATH while the image
holds a `bin/<name>` elsewhere (Debian's `pip install --prefix=/install` writes
/install/local/bin and /install/local/lib/python3.11/dist-packages: copied to
/usr/local they land in /usr/local/local, where neither PATH nor the interpreter looks);
and a console script the container starts whose own distribution is on no entry of
its interpreter's sys.path (`pip install --target /app/deps` with /app/deps/bin on
PATH but no PYTHONPATH: "No module named 'gunicorn'"); and the exec-form command's
program given as a path (`ENTRYPOINT ["/code/start.sh"]`) that is not in the image
("no such file or directory"), or a `python SCRIPT` command whose script (against
WorkingDir) is not ("can't open file"), neither in a VOLUME of the config (mounted at
run time); and a command `python -m MODULE` (or
`gunicorn ... MODULE:APP`, `uvicorn MODULE:APP`: the working directory first on sys.path)
whose top-level module is neither in the working directory (-m's first sys.path entry)
nor on any entry of that python's sys.path (`WORKDIR /srv` with the app in /app:
"No module named app", exit 1). That one is not judged where the files cannot say: an
option before `-m` that changes sys.path (-I, -P, -E, -S, -s), PYTHONHOME or
PYTHONSAFEPATH set, a zip or egg on sys.path, a .pth `import` line (an editable
install's finder) or a sitecustomize other than Debian's stock one (which only installs
apport's exception hook), a standard-library name. It names no path: the python is
fine (often the base image's), the command is what fails, and the config is the team's.

Also flagged: a venv whose packages' files are symbolic links to somewhere not in the
image, `uv pip install --link-mode=symlink` (or UV_LINK_MODE=symlink) into a cache that
a later step removes or that was a build-time cache mount: a package whose
`__init__.py` dangles imports as an empty namespace package (`requests.get`:
AttributeError), a module file that dangles does not import, and importlib.metadata
lists the distribution without a name. Only the files that decide an import (a
top-level module, a package's `__init__.py`, a dist-info's METADATA) count; other
dangling links inside a package are its own business.

Also flagged: an installed distribution (a .dist-info with a RECORD, or an .egg-info
directory with a top_level.txt that no Debian package installed) whose top-level
modules, as those list them, are on no entry of the sys.path of any environment that
lists it (`rm -rf site-packages/starlette` to slim an image, the dist-info kept):
importlib.metadata and pip still say it is installed, `import starlette` fails. A
warning for pip, setuptools and wheel: their commands fail, the app seldom imports
them. Not judged when a sys.path entry is a zip or egg (its content is not indexed); a
dist-info gone with its code kept is no finding (the import works). And the app environment's
installed modules that the runtime user may not read (every sys.path entry holding the
name behind a directory it may not search, or the package directory itself not
readable: `chmod 700` of a root-owned site-packages/django with `USER app` makes
`import django` an empty namespace package and `import django.core` fail); not for
root, an unknown uid, or a command run through gosu/su-exec, and not when the
container's program itself does not start (said first).

Also a warning: `python SCRIPT` (or `python -m MODULE` of the app's own module, found
in the working directory) as the container's command, run by a base interpreter
that has no package of its own (installers aside), in an image whose one place holding
packages (a venv, or a directory on no environment's path) is not on that python's
sys.path (`uv sync` into /app/.venv without `ENV PATH=/app/.venv/bin:$PATH`: `python` is
the base image's, "No module named 'httpx'"; `pip install --target /app/deps` without
PYTHONPATH).
Only a warning, since the files do not say what the script imports: it names a module
of the venv that does not import with that python. Not judged when the python has
packages of its own, when several places hold packages (tools' own venvs, pipx, `uv
tool` and Poetry's installer, left aside), or where the files cannot say (as for -m).

Example: builder `python:3.12` makes /opt/venv, final `debian:12` copies only /opt/venv.

How to fix: copy the interpreter too (same path in both stages), or create the venv
in the final stage from the final stage's Python.

References: https://docs.python.org/3/library/venv.html#how-venvs-work
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from auditor.context import CheckContext
from auditor.findings import CheckInfo, Dimension, Finding, Severity, Skip
from auditor.kinds import DIR

from .py006_bytecode import TOOLING

if TYPE_CHECKING:
    from auditor.facts.distributions import Distribution
    from auditor.facts.syspath import Environment
    from auditor.facts.venvs import Venv
    from auditor.fs import FileSystem

INFO = CheckInfo(
    id="PY007",
    name="broken-venv",
    title="A virtual environment's interpreter, or the Python program the container starts, "
    "is missing or out of reach",
    severity=Severity.ERROR,
    criterion="venv home, console-script interpreters and the started program exist and run",
    dimension=Dimension.USABLE,
)
# Not a tree walk of its own, but the checks after a cold scan's merge are ~0.1 s
# longer in the main process than in the second: PY007's share (~0.05 s; it needs the
# distributions fact, which the second process computes for PY006 anyway) evens them
# (bench/PROFILE.md).
OFFLOAD = True

REMEDY = "Copy the interpreter the venv was made with to the same path, or rebuild the venv"


def run(ctx: CheckContext) -> Iterable[Finding]:
    # deferred: start-up time, see README "Performance"
    from auditor.facts.apppython import broken_command

    facts = ctx.facts
    venvs = facts.venvs
    command = broken_command(facts.fs, facts.config, facts.env) if _reads_command(ctx) else None
    if command is not None and not any(
        b.path == command.program for v in venvs for b in v.broken_scripts
    ):  # a venv's console script: said below, with the venv
        yield INFO.finding(
            f"the container's command /{command.program} runs {command.interpreter}, which "
            "is not in the image: the container does not start",
            "Install the interpreter the script names, or reinstall the script with the "
            "image's own Python (pip install --force-reinstall --no-deps)",
            path=command.program,
            evidence={"program": "/" + command.program, "interpreter": command.interpreter},
        )
    # exec fails first: whether the user may reach it, or what it imports, is moot
    unreachable = list(_unreachable_program(ctx)) if command is None else []
    yield from unreachable
    modules = _installed_modules(ctx)
    codeless = list(_distributions_without_code(ctx, modules))
    if command is None and not unreachable:  # exec fails first: its imports are moot
        codeless += _distributions_out_of_reach(ctx, modules)
    yield from codeless
    if not venvs and not unreachable and command is None and not codeless:
        raise Skip("no virtual environment in the image")
    for v in venvs:
        root = "/" + v.path
        if v.home_other_version is not None:
            yield INFO.finding(
                f"venv /{v.path}: made by Python {v.version}, but home {v.home} now has "
                f"/{v.home_other_version}",
                REMEDY,
                path=f"{v.path}/pyvenv.cfg",
                evidence={"venv": root, "home": v.home, "found": "/" + v.home_other_version},
            )
        elif v.home is not None and v.home_python is None and not _copy_runs(ctx, v):
            yield INFO.finding(
                f"venv {root}: home {v.home} has no python in the image",
                REMEDY,
                path=f"{v.path}/pyvenv.cfg",
                evidence={"venv": root, "home": v.home},
            )
        elif v.home is None and v.home_python is None:
            yield INFO.finding(
                f"venv {root}: pyvenv.cfg has no home and bin/python does not resolve",
                REMEDY,
                path=f"{v.path}/pyvenv.cfg",
                evidence={"venv": root, "home": None},
            )
        if v.python_link_broken:
            link = ctx.facts.fs.get(f"{v.path}/bin/python")
            yield INFO.finding(
                f"venv {root}: bin/python points at "
                f"{link.entry.link if link else '?'}, which is not in the image",
                REMEDY,
                path=f"{v.path}/bin/python",
                evidence={"venv": root, "target": link.entry.link if link else None},
            )
        if v.broken_scripts:
            interps = sorted({b.interpreter for b in v.broken_scripts})
            runs = _python_command(ctx)
            yield INFO.finding(
                f"venv {root}: {len(v.broken_scripts)} console script(s) run "
                f"{', '.join(interps)}, which is not in the image"
                + (f"; the container's command runs /{runs}, not them" if runs else ""),
                REMEDY,
                path=v.broken_scripts[0].path,
                paths=[b.path for b in v.broken_scripts[1:]],
                # the container starts and runs: only `docker run IMAGE gunicorn` (another
                # command) or `docker exec ... pip` would fail
                severity=Severity.WARNING if runs else None,
                evidence={"venv": root, "interpreters": interps},
            )
        yield from _dangling_package_files(ctx, v)


#: `env NAME=...` words that change where programs and modules are found
SETS_PATHS = ("PATH=", "PYTHONPATH=", "PYTHONHOME=", "PYTHONUSERBASE=", "PYTHONSTARTUP=")


def _python_command(ctx: CheckContext) -> str | None:
    """The python the container's command runs, read from the config (no shell, no PATH
    change on the way) and there to run (`python -m gunicorn`, `/opt/venv/bin/python
    /opt/venv/bin/gunicorn`: python reads the script, its `#!` line is a comment); None
    when the command is anything else or cannot be read."""
    # deferred: start-up time, see README "Performance"
    import posixpath

    from auditor.facts.apppython import PYTHON_NAME, command_program

    facts = ctx.facts
    if not _reads_command(ctx):
        return None
    program = command_program(facts.fs, facts.config, facts.env)
    if program is None or not PYTHON_NAME.match(posixpath.basename(program)):
        return None
    real = facts.fs.resolve(program)
    node = facts.fs.get(real) if real is not None else None
    return program if node is not None and node.entry.kind != DIR else None


def _reads_command(ctx: CheckContext) -> bool:
    """Whether the program the container starts is read from the config: not when the
    command goes through a shell or sets PATH (what runs may change on the way)."""
    # deferred: start-up time, see README "Performance"
    import posixpath

    from auditor.facts.apppython import SHELLS, command_argv

    argv = command_argv(ctx.facts.config)
    return not any(posixpath.basename(a) in SHELLS or a.startswith(SETS_PATHS) for a in argv)


def _unreachable_program(ctx: CheckContext) -> Iterable[Finding]:
    """The Python program the container starts (a console script, a python) that the
    runtime user may not reach or run (module doc)."""
    # deferred: start-up time, see README "Performance"
    from auditor.facts.apppython import command, command_argv

    facts = ctx.facts
    fs = facts.fs
    if not _reads_command(ctx):
        return  # `. /opt/venv/bin/activate && exec gunicorn`, `env PATH=...`: not read here
    config = facts.config
    first = command_argv(config)[:1]
    word = command(fs, config, facts.env)
    if first and first[0] != word:
        # a wrapper in front (tini, dumb-init, gosu, a pass-through script): the engine
        # execs it first, and without it nothing starts
        missing = list(_program_off_path(ctx, first[0], first))
        if not missing and "/" in first[0]:
            missing = list(_absent_path(ctx, first[0]))
        if missing:
            yield from missing
            return
    yield from _program_off_path(ctx, word, first)
    blocked = list(_blocked_program(ctx))
    yield from blocked
    if not blocked:  # exec fails first: what the script would import is moot
        yield from _script_package_off_path(ctx)
        yield from _module_off_path(ctx)
        missing = list(_script_missing(ctx))
        yield from missing
        if not missing:  # python cannot open it: what it would import is moot
            yield from _script_python_without_the_venv(ctx)


def _blocked_program(ctx: CheckContext) -> Iterable[Finding]:
    """The program the container starts, which the runtime user may not reach or run
    (root too, a file without any execute bit: `CMD ["./run.sh"]` of a 0644 script)."""
    # deferred: start-up time, see README "Performance"
    import posixpath

    from auditor.facts.apppython import (
        DEFAULT_PATH,
        USER_WRAPPERS,
        command_argv,
        command_program,
    )
    from auditor.facts.permissions import blocked_run
    from auditor.facts.privdrop import root_only_switch

    facts = ctx.facts
    fs = facts.fs
    user = facts.runtime_user
    argv = command_argv(facts.config)
    switch = root_only_switch(facts.config)
    if switch is not None and user.uid is not None and not user.is_root:
        tool, target = switch
        yield INFO.finding(
            f"the container's command switches users with {tool}, which only root may do; "
            f"the image runs as {user.name or user.uid} (uid {user.uid}): {tool} fails "
            '("operation not permitted") and the container does not start',
            f"Drop {tool} from the command (USER already sets the user), or start as root "
            "and let the entrypoint switch",
            evidence={"tool": tool, "target": target, "uid": user.uid},
        )
        return
    if user.uid is None or any(posixpath.basename(a) in USER_WRAPPERS for a in argv):
        return  # gosu USER ...: the program runs as another user
    program = command_program(fs, facts.config, facts.env)
    if program is None:
        return

    def blocked(path: str) -> str | None:
        return blocked_run(fs, path, user, (fs.read(path) or b"").startswith(b"#!"))

    where = blocked(program)
    if where is None:
        return
    # exec on PATH passes over what it may not reach: another one reachable runs instead
    name = posixpath.basename(program)
    for d in (facts.env.get("PATH") or DEFAULT_PATH).split(":"):
        other = posixpath.normpath(f"{d}/{name}").lstrip("/")
        if d and other != program and fs.resolve(other) is not None and not blocked(other):
            return
    node = fs.get(where)
    e = node.entry if node is not None else None
    what = f"/{where} is {e.mode & 0o7777:03o} {e.uid}:{e.gid}" if e else f"/{where}"
    who = f"{user.name or user.uid} (uid {user.uid})"
    yield INFO.finding(
        f"the container starts /{program}, which {who} cannot run: {what}",
        "Install the app where the runtime user can read it (a venv or /usr/local, not "
        "/root/.local), or copy it with the runtime user's access and an execute bit "
        "(chmod 755)",
        path=program,
        evidence={"program": "/" + program, "blocked_at": "/" + where, "uid": user.uid},
    )


def _absent_path(ctx: CheckContext, word: str) -> Iterable[Finding]:
    """The exec-form command's first word, a path (against WorkingDir), that is not in
    the image (no file, or a link that leads nowhere): the engine refuses to start it
    ("no such file or directory")."""
    # deferred: start-up time, see README "Performance"
    import posixpath

    fs = ctx.facts.fs
    workdir = "/" + str(ctx.facts.config.get("WorkingDir") or "").strip("/")
    path = posixpath.normpath(posixpath.join(workdir, word)).lstrip("/")
    if fs.resolve(path) is not None:
        return
    yield INFO.finding(
        f"the container's command {word} is not in the image: the engine refuses to start it",
        "Install the program in the final image (tini: `apt-get install -y tini`, at "
        "/usr/bin/tini), or fix the command",
        path=path,
        evidence={"command": word, "found": []},
    )


def _program_off_path(ctx: CheckContext, word: str | None, first: list[str]) -> Iterable[Finding]:
    """The program the container starts, named without a path, on no directory of PATH
    while the image has a `bin/<name>` elsewhere (module doc); or, when it is the
    exec-form command's own first word (`first`: no wrapper in front, so nothing but the
    engine reads it), in no PATH directory and nowhere else: the engine refuses to start
    it ("executable file not found in $PATH"). Past a wrapper the word is this module's
    reading of the wrapper's options (`dumb-init --rewrite 15:3 gunicorn`), which may be
    wrong: then only a `bin/<name>` elsewhere speaks."""
    # deferred: start-up time, see README "Performance"
    import posixpath

    from auditor.facts.apppython import DEFAULT_PATH

    if word and "/" in word and first == [word]:
        yield from _program_missing(ctx, word)
        return
    if not word or "/" in word:
        return
    fs = ctx.facts.fs
    path = ctx.facts.env.get("PATH") or DEFAULT_PATH
    on_path = [posixpath.normpath(f"{d}/{word}").lstrip("/") for d in path.split(":") if d]
    if any(fs.resolve(p) is not None for p in on_path):
        return
    # what PATH does hold under that name: links that lead nowhere (the link itself,
    # its directories followed)
    here = {fs.resolve(p, False) for p in on_path}
    dangling = sorted(p for p in here if p is not None and fs.get(p) is not None)
    if dangling:
        if any(p.startswith(v.path + "/") for v in ctx.facts.venvs for p in dangling):
            return  # a venv's bin/python or console script: said with the venv
        link = fs.get(dangling[0])
        target = link.entry.link if link is not None else "?"
        yield INFO.finding(
            f"the container's command `{word}` is /{dangling[0]}, a link to {target}, "
            "which is not in the image: the engine refuses to start it",
            "Install what the link points to in the final image, or fix the command",
            path=dangling[0],
            evidence={"command": word, "path": path, "found": ["/" + p for p in dangling]},
        )
        return
    # `bin/<word>` files: looked for below the directories whose name ends so (a few
    # percent of the paths) rather than by a test of every file path (0.17 CPU s at 1M)
    maybe = (f"{d}/{word}" for d in fs.dir_paths() if d.endswith("bin"))
    elsewhere = sorted(p for p in maybe if (n := fs.get(p)) is not None and n.entry.kind != DIR)
    if not elsewhere:
        if first == [word]:
            yield INFO.finding(
                f"the container's command `{word}` is in no directory of PATH ({path}) "
                "and nowhere else in the image: the engine refuses to start it",
                "Install the program in the final image (a venv: copy it with its console "
                "scripts), or fix the command's name or PATH",
                evidence={"command": word, "path": path, "found": []},
            )
        return  # past a wrapper, nothing installed under that name: the files cannot say
    yield INFO.finding(
        f"the container starts `{word}`, which is on no directory of PATH ({path}); "
        f"the image has /{elsewhere[0]}",
        "Install it where PATH and the interpreter look (Debian's pip --prefix=/install "
        "writes /install/local/...: copy /install/local, or use a venv), or add its "
        "directory to PATH",
        path=elsewhere[0],
        paths=elsewhere[1:10],
        evidence={"command": word, "path": path, "found": ["/" + p for p in elsewhere]},
    )


def _in_volume(ctx: CheckContext, path: str) -> bool:
    """Whether `path` (no leading slash) lies in a VOLUME of the image's config."""
    # deferred: start-up time, see README "Performance"
    from auditor.facts.apppython import in_volume

    return in_volume(ctx.facts.config, path)


def _program_missing(ctx: CheckContext, word: str) -> Iterable[Finding]:
    """The exec-form command's first word, a path (`/code/start.sh`, `./run.sh`: against
    WorkingDir), that is not in the image: exec fails ("no such file or directory"), the
    container does not start."""
    # deferred: start-up time, see README "Performance"
    import posixpath

    fs = ctx.facts.fs
    workdir = "/" + str(ctx.facts.config.get("WorkingDir") or "").strip("/")
    path = posixpath.normpath(posixpath.join(workdir, word)).lstrip("/")
    if fs.resolve(path) is not None or _in_volume(ctx, path):
        return
    here = fs.resolve(path, False)
    link = fs.get(here) if here is not None else None
    if link is not None and any(str(here).startswith(v.path + "/") for v in ctx.facts.venvs):
        return  # a venv's bin/python or console script: said with the venv
    if link is not None:
        found = f"/{here}, a link to {link.entry.link}, which is not in the image"
    else:
        found = f"/{path}, which is not in the image"
    yield INFO.finding(
        f"the container's command `{word}` is {found}: the engine refuses to start it "
        "(no such file or directory)",
        "Copy the program into the final image at that path, or fix the Entrypoint/Cmd",
        path=here if link is not None else path,
        evidence={"command": word, "program": "/" + path},
    )


def _script_missing(ctx: CheckContext) -> Iterable[Finding]:
    """`python SCRIPT` as the container's command, when SCRIPT (against WorkingDir) is
    not in the image: python exits 2 with "can't open file"."""
    # deferred: start-up time, see README "Performance"
    import posixpath

    from auditor.facts.apppython import script_run

    facts = ctx.facts
    run = script_run(facts.fs, facts.config, facts.env)
    if run is None or facts.fs.resolve(run.path) is not None or _in_volume(ctx, run.path):
        return
    workdir = "/" + str(facts.config.get("WorkingDir") or "").strip("/")
    said = posixpath.join(workdir, run.script)  # as python prints it: joined, not normalised
    yield INFO.finding(
        f"the container runs `python {run.script}`, and /{run.path} is not in the image: "
        f"python exits with \"can't open file '{said}': [Errno 2] No such file or "
        'directory"',
        "Copy the app into the final image, or set WORKDIR to the directory holding it",
        path=run.path,
        evidence={"program": "/" + run.program, "script": run.script, "path": "/" + run.path},
    )


def _script_package_off_path(ctx: CheckContext) -> Iterable[Finding]:
    """The console script the container starts, whose own distribution is on no entry
    of its interpreter's sys.path (module doc)."""
    facts = ctx.facts
    app = facts.app_python
    if app.how != "entrypoint" or not app.program or app.environment is None:
        return
    env = next((e for e in facts.environments if e.path == app.environment), None)
    owner = next((d for d in facts.distributions if app.program in d.files), None)
    if owner is None:
        # RECORD may not name it (pip --target moves bin/ after writing `../../bin/x`):
        # the module the script imports, as pip's and uv's script templates write it
        head = (facts.fs.read(app.program) or b"")[:4096].decode("utf-8", "replace")
        found = re.search(r"^from ([A-Za-z_][\w.]*) import ", head, re.MULTILINE)
        top = found.group(1).split(".")[0] if found else None
        owners = [d for d in facts.distributions if top is not None and top in d.top_level]
        owner = owners[0] if len(owners) == 1 else None
    if env is None or owner is None or owner.name is None or not owner.top_level:
        return
    if app.environment in owner.environments:
        return
    if any(d.name == owner.name and app.environment in d.environments for d in facts.distributions):
        return  # another copy of it is importable
    fs = facts.fs
    script_dir = app.program.rpartition("/")[0]  # a script's sys.path[0]
    for entry in (script_dir, *env.sys_path):
        for top in owner.top_level:
            for name in (f"{top}/", f"{top}.py"):  # a package (directory) or a module
                real = fs.resolve(f"{entry}/{name}".rstrip("/"))
                node = fs.get(real) if real is not None else None
                if node is not None and (node.entry.kind == DIR) == name.endswith("/"):
                    return  # a module by that name is on the path: the files cannot say
    top = owner.top_level[0]
    interp = "/" + (env.base or env.path) if env.kind == "interpreter" else "/" + env.path
    yield INFO.finding(
        f"the container starts /{app.program} of {owner.display_name or owner.name} "
        f"{owner.version or ''}, installed in /{owner.location}, which is not on the "
        f"sys.path of {interp}: `import {top}` fails",
        "Put the install directory on the interpreter's path (ENV PYTHONPATH for pip "
        "--target) or install into the environment the script runs",
        path=app.program,
        evidence={
            "program": "/" + app.program,
            "distribution": owner.name,
            "location": "/" + owner.location,
            "environment": "/" + env.path,
        },
    )


#: names on sys.path that run code at start-up and may change what imports (site.py)
_STARTUP_HOOKS = ("sitecustomize.", "usercustomize.")


def _module_off_path(ctx: CheckContext) -> Iterable[Finding]:
    """`python -m MODULE` as the container's command, when no module of that top-level
    name is in the working directory (-m's sys.path[0]) nor on any entry of the
    interpreter's sys.path (module doc). Silent where the files cannot say: PYTHONHOME
    or PYTHONSAFEPATH set, a zip or egg file on sys.path, a .pth `import` line (an
    editable install's finder) or a sitecustomize (not Debian's stock one), a stdlib
    name (builtin and frozen modules have no file)."""
    # deferred: start-up time, see README "Performance"
    import sys

    from auditor.facts.apppython import module_run, server_app_run

    facts = ctx.facts
    fs = facts.fs
    run = module_run(fs, facts.config, facts.env)
    server = None
    if run is None:
        run = server = server_app_run(fs, facts.config, facts.env)
    app = facts.app_python
    if run is None or app.program != run.program or app.environment is None:
        return
    env = next((e for e in facts.environments if e.path == app.environment), None)
    top = run.module.split(".")[0]
    if env is None or env.base is None or not top.isidentifier():
        return  # no interpreter to run it: the venv's own finding says so
    if top in sys.stdlib_module_names:
        return
    if facts.env.get("PYTHONHOME") or facts.env.get("PYTHONSAFEPATH"):
        return
    workdir = _module_dir(facts.config)
    if _in_volume(ctx, workdir):
        return  # the app is mounted there at run time
    if _importable(fs, env, workdir, {top}):
        return
    shown = "/" + env.path
    runs = (
        f"{run.program.rsplit('/', 1)[-1]} {run.module}:..."
        if server
        else f"python -m {run.module}"
    )
    exits = (
        f"the app does not load (ModuleNotFoundError: No module named '{top}')"
        if server
        else f'python exits with "No module named {top}"'
    )
    yield INFO.finding(
        f"the container runs `{runs}`, and no module `{top}` is in the "
        f"working directory /{workdir} or on the sys.path of {shown}: {exits}",
        "Set WORKDIR to the directory holding the package, put that directory on "
        "PYTHONPATH, or install the app into the environment that runs it",
        # no path: the python is fine (often the base image's), the command is the
        # config's, which is the team's (a finding on the base's python went ungated)
        evidence={
            "program": "/" + run.program,
            "module": run.module,
            "working_dir": "/" + workdir,
            "environment": shown,
        },
    )


def _module_dir(config: dict[str, Any]) -> str:
    """Where `python -m` looks first (its sys.path[0], the working directory): WorkingDir
    normalised, no leading slash."""
    # deferred: start-up time, see README "Performance"
    from auditor.facts.apppython import working_dir

    return working_dir(config).strip("/")


def _importable(fs: FileSystem, env: Environment, first: str, tops: set[str]) -> set[str]:
    """Those of the top-level names `tops` whose import may succeed in `env` with `first`
    as sys.path[0] (the working directory for -m, the script's directory for a script):
    a module by that name on an entry; all of them where the files cannot judge (a zip
    or egg on sys.path, a startup hook other than Debian's stock one, a .pth `import`
    line). One walk over the entries, however many names are asked about."""
    # deferred: start-up time, see README "Performance"
    from auditor.facts.distributions import is_module_named

    found: set[str] = set()
    for entry in (first, *env.sys_path):
        real = fs.resolve(entry)
        node = fs.get(real) if real is not None else None
        if node is None:
            continue  # not there: Python passes over it
        if node.entry.kind != DIR:
            return set(tops)  # a zip or an egg: its content is not indexed
        for name in fs.listdir(real or ""):
            top = name.partition(".")[0]  # the only name (an identifier) it could be
            if top in tops and is_module_named(name, top):
                found.add(top)  # a package, module, sourceless pyc or extension by that name
            if name.startswith(_STARTUP_HOOKS) and not _inert_hook(fs, f"{real}/{name}"):
                return set(tops)
            if name.endswith(".pth") and entry in env.site and _pth_imports(fs, f"{real}/{name}"):
                return set(tops)
    return found


#: Where tools get a venv of their own (pipx, `uv tool`, Poetry's installer): not the app's
_TOOL_VENVS = ("pipx/venvs/", "uv/tools/", "pypoetry/venv", "poetry/venv")


def _script_python_without_the_venv(ctx: CheckContext) -> Iterable[Finding]:
    """`python SCRIPT` or `python -m MODULE` (the app's own, found in the working
    directory) run by a base interpreter with no package of its own, in an image whose
    one place holding packages, a venv or a directory on no environment's path, is not
    on that python's sys.path: `uv sync` into /app/.venv with no `ENV
    PATH=/app/.venv/bin:$PATH` (`python` is the base image's: "No module named
    'httpx'"), or the venv's own python deleted, so that PATH finds the base's; `pip
    install --target /app/deps` with no PYTHONPATH. A warning: the files do not say
    what the app imports, only that those packages do not import with the python that
    runs it."""
    # deferred: start-up time, see README "Performance"
    import sys

    from auditor.facts.apppython import module_run, script_run

    facts = ctx.facts
    fs = facts.fs
    script = script_run(fs, facts.config, facts.env)
    module = module_run(fs, facts.config, facts.env) if script is None else None
    run = script or module
    app = facts.app_python
    if run is None or app.program != run.program or app.environment is None:
        return
    top = None  # the -m module's top-level name
    if script is not None:
        first, path, runs = script.path.rpartition("/")[0], script.path, script.script
        named = {"script": script.script}
    else:
        assert module is not None
        first, top = _module_dir(facts.config), module.module.split(".")[0]
        path, runs = f"{first}/{top}", f"-m {module.module}"
        named = {"module": module.module}
    env = next((e for e in facts.environments if e.path == app.environment), None)
    if env is None or env.kind != "interpreter" or env.base is None:
        return
    if facts.env.get("PYTHONHOME") or facts.env.get("PYTHONSAFEPATH"):
        return
    venvs = {
        e.path
        for e in facts.environments
        if e.kind == "venv" and not any(t in e.path + "/" for t in _TOOL_VENVS)
    }
    # (is a venv, its path or the directory) -> the distributions there
    holding: dict[tuple[bool, str], list[Distribution]] = {}
    for d in facts.distributions:
        if d.name is None or d.name in TOOLING:  # installers a base python carries
            continue
        if env.path in d.environments:
            return  # the python has packages of its own: the files cannot say which it needs
        if not d.environments:  # `pip install --target DIR`: on no environment's path
            holding.setdefault((False, d.location), []).append(d)
        for where in d.environments:
            if where in venvs:
                holding.setdefault((True, where), []).append(d)
    if len(holding) != 1:
        return  # none, or several places: which one the app needs, the files cannot say
    [((is_venv, place), dists)] = holding.items()
    if path.startswith(place + "/") or first == place:
        return
    if top is not None and (not top.isidentifier() or not _importable(fs, env, first, {top})):
        return  # not the app's own module: `_module_off_path` says what fails
    tops = {t for d in dists for t in d.top_level if t.isidentifier()}
    tops -= sys.stdlib_module_names
    missing = sorted(tops - _importable(fs, env, first, tops))
    if not missing:
        return
    more = f" (and {', '.join(missing[1:4])}{', ...' if len(missing) > 4 else ''})"
    where = f"of the venv /{place}" if is_venv else f"in /{place}"
    yield INFO.finding(
        f"the container runs `{run.program.rsplit('/', 1)[-1]} {runs}` with /{env.path}, "
        "which has no package "
        f"installed; the {len(dists)} distribution(s) {where} are not on its "
        f"sys.path: `import {missing[0]}` fails there" + (more if len(missing) > 1 else ""),
        f'Put the venv first on PATH (ENV PATH="/{place}/bin:$PATH") or run /{place}/bin/python'
        if is_venv
        else f"Put /{place} on the interpreter's path (ENV PYTHONPATH=/{place}) or install "
        "the packages into the environment that runs the script",
        # no path: the python is fine (often the base image's), the command is the team's
        severity=Severity.WARNING,
        evidence={
            "program": "/" + run.program,
            **named,
            "environment": "/" + env.path,
            ("venv" if is_venv else "location"): "/" + place,
            "modules": missing,
        },
    )


#: Debian's (and Ubuntu's) stock /etc/pythonX.Y/sitecustomize.py, which libpythonX.Y-minimal
#: links into the standard library: it installs apport's exception hook when apport is
#: there, and touches neither sys.path nor the import system. Its lines, comments left out.
_DEBIAN_SITECUSTOMIZE = (
    "try:",
    "import apport_python_hook",
    "except ImportError:",
    "pass",
    "else:",
    "apport_python_hook.install()",
)


def _inert_hook(fs: FileSystem, path: str) -> bool:
    """A sitecustomize/usercustomize that cannot change what `-m` finds: Debian's stock
    one, or one of comments only. Anything else, or one whose text was not kept (a
    sourceless .pyc, a directory, over the capture limit), may."""
    data = fs.read(path) if path.endswith(".py") else None
    if data is None:
        return False
    text = data.decode("utf-8", "replace").splitlines()
    lines = tuple(s for s in (line.strip() for line in text) if s and not s.startswith("#"))
    return lines in ((), _DEBIAN_SITECUSTOMIZE)


def _pth_imports(fs: FileSystem, path: str) -> bool:
    """A .pth file with an `import` line site.py runs (an editable install's finder),
    other than the shims that only patch distutils: setuptools' `_distutils_hack`, and
    `_virtualenv` (virtualenv's and uv's venvs: `_virtualenv.pth` is `import
    _virtualenv`, which only adjusts distutils' and setuptools' install schemes)."""
    data = (fs.read(path) or b"").decode("utf-8", "replace")
    return any(
        line.startswith(("import ", "import\t")) and not _SCHEME_SHIMS.search(line)
        for line in data.splitlines()
    )


_SCHEME_SHIMS = re.compile(r"\b(?:_distutils_hack|_virtualenv)\b")


def _dangling_package_files(ctx: CheckContext, v: Venv) -> Iterable[Finding]:
    """The venv's import-deciding files that are links to nothing (module doc)."""
    # deferred: start-up time, see README "Performance"
    from auditor.fs import SYMLINK

    fs = ctx.facts.fs
    for site in v.site_packages:
        broken: list[str] = []
        for (kind, *_), paths in fs.stat_groups_under(site + "/"):
            if kind != SYMLINK:
                continue
            broken += [p for p in paths if _decides_import(p[len(site) + 1 :])]
        broken = sorted(p for p in broken if fs.resolve(p) is None)
        if not broken:
            continue
        rels = [p[len(site) + 1 :] for p in broken]
        names = sorted({r.split("/")[0].split(".")[0] for r in rels if ".dist-info/" not in r})
        dists = sum(1 for r in rels if ".dist-info/" in r)
        node = fs.get(broken[0])
        target = node.entry.link if node is not None else "?"
        what = []
        if names:
            shown = ", ".join(f"`import {n}`" for n in names[:4])
            more = f" and {len(names) - 4} more" if len(names) > 4 else ""
            what.append(f"{shown}{more} find no module code (an empty namespace package, or none)")
        if dists:
            what.append(f"importlib.metadata lists {dists} distribution(s) without a name")
        yield INFO.finding(
            f"venv /{v.path}: {len(broken)} file(s) that decide an import are links to what "
            f"is not in the image (/{broken[0]} -> {target}): " + "; ".join(what),
            "Install with copies (uv pip install --link-mode=copy, or UV_LINK_MODE=copy) "
            "or keep what the links point at in the image",
            path=broken[0],
            paths=broken[1:10],
            evidence={
                "venv": "/" + v.path,
                "dangling": len(broken),
                "modules": names,
                "distributions": dists,
            },
        )


def _installed_modules(ctx: CheckContext) -> dict[str, frozenset[str]]:
    """Each installed distribution's top-level modules (metadata dir -> names): a
    .dist-info's as its RECORD lists them (`Distribution.modules`, found when the
    distributions fact read RECORD); an .egg-info directory's (`setup.py install`, pip
    without `wheel`) as its top_level.txt does. Not an .egg-info file (distutils), nor
    one a Debian package installed: dpkg keeps its files, and its top_level.txt may name
    what the packager split off or left out."""
    owners = ctx.facts.owners
    out = {}
    for d in ctx.facts.distributions:
        if d.kind == "dist-info":
            out[d.meta_dir] = d.modules
        elif d.kind == "egg-info" and owners.dpkg(d.meta_dir) is None:
            out[d.meta_dir] = frozenset(t for t in d.top_level if t.isidentifier())
    return out


def _distributions_without_code(
    ctx: CheckContext, installed: dict[str, frozenset[str]]
) -> Iterable[Finding]:
    """Installed distributions (a .dist-info with a RECORD, an .egg-info directory with a
    top_level.txt) whose top-level modules, as those list them, are on no entry of the
    sys.path of any environment that lists the distribution: `rm -rf
    site-packages/starlette` with starlette's dist-info kept.
    importlib.metadata (and pip) still say it is installed; `import starlette` fails
    with ModuleNotFoundError. An entry that is a file (a zip) or not stored counts as
    holding it (the files cannot say); a namespace directory by that name counts too."""
    facts = ctx.facts
    fs = facts.fs
    envs = {e.path: e for e in facts.environments}
    names_at: dict[str, frozenset[str] | None] = {}

    def names(entry: str) -> frozenset[str] | None:
        """Module names in a sys.path entry; None when the files cannot say."""
        if entry not in names_at:
            real = fs.resolve(entry)
            node = fs.get(real) if real is not None else None
            if real is None or node is None:
                names_at[entry] = frozenset()  # not there: Python passes over it
            elif node.entry.kind != DIR:
                names_at[entry] = None  # a zip or an egg: its content is not indexed
            else:
                names_at[entry] = frozenset(n.split(".", 1)[0] for n in fs.listdir(real))
        return names_at[entry]

    # (metadata dir, name version, modules gone), apart: every top-level module gone (the
    # package deleted), or some while others stay (a wheel's top-level `tests` or `docs`
    # removed to slim the image: the app may never import them)
    whole: list[tuple[str, str, list[str]]] = []
    partial: list[tuple[str, str, list[str]]] = []
    # pip, setuptools, wheel with their code deleted (a slimming step done by hand): their
    # commands fail, but an app seldom imports an installer, and the files cannot say
    # whether it does: a warning (the running image: the app ran, `pip` failed)
    installers: list[tuple[str, str, list[str]]] = []
    for d in facts.distributions:
        if d.meta_dir not in installed or d.editable or d.name is None:
            continue
        modules = installed[d.meta_dir]
        if not modules:
            continue
        entries = [p for e in d.environments if (env := envs.get(e)) for p in env.sys_path]
        found = [names(p) for p in dict.fromkeys(entries or [d.location])]
        if any(f is None for f in found):
            continue
        gone = sorted(m for m in modules if not any(m in (f or ()) for f in found))
        if gone:
            what = f"{d.display_name or d.name} {d.version or ''}".strip()
            if len(gone) < len(modules):
                partial.append((d.meta_dir, what, gone))
            else:
                (installers if d.name in TOOLING else whole).append((d.meta_dir, what, gone))
    for broken, severity, lacks, installer in (
        (whole, None, "no code on sys.path", False),
        (partial, Severity.WARNING, "top-level modules on no sys.path entry", False),
        (installers, Severity.WARNING, "no code on sys.path", True),
    ):
        if broken:
            yield _without_code(sorted(broken), severity, lacks, installer)


def _without_code(
    broken: list[tuple[str, str, list[str]]],
    severity: Severity | None,
    lacks: str,
    installers: bool,
) -> Finding:
    shown = "; ".join(f"{what} (`import {', '.join(mods)}`)" for _, what, mods in broken[:4]) + (
        f" and {len(broken) - 4} more" if len(broken) > 4 else ""
    )
    kind = "installer distribution(s) (their commands fail; an app seldom imports them)"
    return INFO.finding(
        f"{len(broken)} {kind if installers else 'installed distribution(s)'} have metadata "
        f"but {lacks}: {shown}: importlib.metadata lists them, the import fails "
        "(ModuleNotFoundError)",
        "Uninstall them while pip still works (pip uninstall -y pip setuptools wheel, last "
        "in the build step) rather than delete their directories, or delete their "
        ".dist-info directories too"
        if installers
        else "Reinstall them (pip install --force-reinstall --no-deps NAME), and do not delete "
        "package directories by hand to slim the image (pip uninstall)",
        severity=severity,
        path=broken[0][0],
        paths=[m for m, _, _ in broken[1:10]],
        evidence={
            "distributions": [
                {"metadata": "/" + m, "distribution": what, "modules": mods}
                for m, what, mods in broken
            ]
        },
    )


def _distributions_out_of_reach(
    ctx: CheckContext, installed: dict[str, frozenset[str]]
) -> Iterable[Finding]:
    """The app environment's installed modules (as RECORD lists them) that the runtime
    user may not read where they are: every sys.path entry holding the name is behind a
    directory it may not search, or the package directory or module file itself is not
    readable (`chmod 700` of a root-owned site-packages/django with `USER app`: `import
    django` gives an empty namespace package, `import django.core` fails). Not judged
    for root, an unknown uid, or a command run as another user (gosu, su-exec)."""
    # deferred: start-up time, see README "Performance"
    import posixpath

    from auditor.facts.apppython import USER_WRAPPERS, command_argv
    from auditor.facts.permissions import blocked_read

    facts = ctx.facts
    fs = facts.fs
    user = facts.runtime_user
    app = facts.app_python.environment
    if user.uid is None or user.uid == 0 or app is None:
        return
    if any(posixpath.basename(a) in USER_WRAPPERS for a in command_argv(facts.config)):
        return
    env = next((e for e in facts.environments if e.path == app), None)
    if env is None:
        return
    listing: dict[str, dict[str, list[str]]] = {}  # entry -> module name -> its paths

    def held(entry: str) -> dict[str, list[str]]:
        if entry not in listing:
            real = fs.resolve(entry)
            node = fs.get(real) if real is not None else None
            got: dict[str, list[str]] = {}
            if real is not None and node is not None and node.entry.kind == DIR:
                for n in fs.listdir(real):
                    got.setdefault(n.split(".", 1)[0], []).append(f"{real}/{n}")
            listing[entry] = got
        return listing[entry]

    # a venv's own site directory the user may not reach is on no sys.path (site.py's
    # isdir is False for it): its distributions have no environment, yet are the app's
    own = env.path + "/" if env.kind == "venv" else None
    blocked: dict[str, list[str]] = {}  # where the user is stopped -> modules
    for d in facts.distributions:
        if d.meta_dir not in installed:
            continue
        if app in d.environments:
            entries: tuple[str, ...] = env.sys_path
        elif own is not None and not d.environments and d.location.startswith(own):
            entries = (*env.sys_path, d.location)
        else:
            continue
        for module in sorted(installed[d.meta_dir]):
            paths = [p for entry in entries for p in held(entry).get(module, [])]
            if not paths:
                continue  # not there at all: said above
            stops = [blocked_read(fs, p, user) for p in paths]
            if all(stops):
                blocked.setdefault(str(stops[0]), []).append(module)
    if not blocked:
        return
    who = f"{user.name or user.uid} (uid {user.uid})"
    for where, modules in sorted(blocked.items()):
        node = fs.get(where)
        e = node.entry if node is not None else None
        what = f"/{where} ({e.mode & 0o7777:03o} {e.uid}:{e.gid})" if e else f"/{where}"
        shown = ", ".join(modules[:6]) + (
            f" and {len(modules) - 6} more" if len(modules) > 6 else ""
        )
        yield INFO.finding(
            f"{who}, the container's user, cannot read {what}: `import {shown}` "
            f"{'fails' if len(modules) == 1 else 'fail'} "
            "in the app's environment (ModuleNotFoundError, or an empty namespace package)",
            "Keep installed code readable by the runtime user (directories 755, files 644, "
            "root-owned), or run as a user that can read it",
            path=where,
            evidence={"blocked_at": "/" + where, "modules": modules, "uid": user.uid},
        )


def _decides_import(rel: str) -> bool:
    """A top-level module, a package's __init__.py, or a dist-info's METADATA (`rel`
    relative to site-packages)."""
    parts = rel.split("/")
    if len(parts) == 1:
        return parts[0].endswith((".py", ".so"))
    if len(parts) == 2:
        if parts[0].endswith(".dist-info"):
            return parts[1] == "METADATA"
        return parts[1] == "__init__.py"
    return False


def _copy_runs(ctx: CheckContext, v: Venv) -> bool:
    """A venv made with `--copies` has its own interpreter binary in bin/: `home` only
    tells CPython's getpath where to look for the standard library (lib/pythonX.Y/os.py,
    or os.pyc, in home or a directory above it). With that found, the venv runs though
    `home` holds no python (the running image agrees: `python -m venv --copies`, then the
    python links of /usr/local/bin removed, and /opt/v2/bin/python imports ssl)."""
    link = v.python_link
    if link is None or v.python_link_broken or not link.startswith(v.path + "/"):
        return False
    mm = ".".join(v.version.split(".")[:2]) if v.version else None
    if not mm or v.home is None:
        return False
    fs = ctx.facts.fs
    d = (v.home or "").strip("/")
    while True:
        lib = f"{d}/lib/python{mm}" if d else f"lib/python{mm}"
        if any(fs.get(f"{lib}/os.{ext}") is not None for ext in ("py", "pyc")):
            return True
        if not d:
            return False
        d = d.rpartition("/")[0]
