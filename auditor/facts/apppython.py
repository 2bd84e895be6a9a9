"""Which interpreter (or venv) the application runs on.

Why it matters: an image often holds more than one Python. Debian's python3 comes in
as a dependency of mercurial, of a `-dev` package or of apt tooling while the app runs
on its own CPython; the distro one is then no concern of the app (PY001, PY002 judge
it gently), and bytecode, system-python and stdlib rules apply to what the app runs.

Decided as the engine would start the container, most direct evidence first:

1. `entrypoint`: Entrypoint + Cmd, past wrappers (tini, dumb-init, gosu, su-exec,
   env with VAR=value, `sh -c "... && exec CMD"`: the last command of the string; an
   entrypoint shell script whose whole text the layers kept (files named *entrypoint,
   *entrypoint.sh up to 64 KiB, other executables' first 256 or 512 bytes), that
   ends with `exec "$@"` and on the way has no cd, export, assignment, `set` of new
   arguments, shift, source, user switch or word naming PATH, PYTHON* or HOME: the
   docker-library `/docker-entrypoint.sh`; a longer or busier script is not read).
   The program is looked up in the config's PATH (Docker's default PATH when unset),
   relative paths against WorkingDir. A `python`/`python3.X` program is the
   interpreter; a script (`gunicorn`, `uvicorn`, `fastapi` console scripts, an
   executable `app.py`) runs what its shebang names (`#!/usr/bin/env python3`: PATH
   again). The venv is told by `pyvenv.cfg` next to the interpreter's own directory,
   as CPython's getpath finds it (on the path as invoked, before links are followed).
   A process supervisor (supervisord, circusd, runsvdir, s6-svscan, honcho) is not
   the app: Debian's supervisord runs on Debian's python3 while the programs it starts
   (`command=/opt/venv/bin/gunicorn`) run on theirs; it gives no answer.
2. `path`: no answer from the entrypoint (a shell script, an ELF program, a process
   supervisor, nothing set): the `python3` or `python` first on PATH when that is a
   venv's;
3. `venv`: else the only venv whose interpreter is present;
4. `path`: else the `python3` / `python` first on PATH.

Nothing is run; a program the files cannot tie to an interpreter leaves step 1 silent.
"""

from __future__ import annotations

import posixpath
import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from auditor.facts.pythons import Interpreter
from auditor.facts.syspath import Environment
from auditor.fs import DIR, FileSystem

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_PYTHON_NAME = re.compile(r"^python(?:\d(?:\.\d+t?)?)?$")
PYTHON_NAME = _PYTHON_NAME  # for checks: a program by that name is a python
_WRAPPERS = {"tini", "tini-static", "dumb-init", "catatonit"}
_USER_WRAPPERS = {"gosu", "su-exec"}  # `gosu USER CMD...`
_SHELLS = {"sh", "bash", "dash", "ash", "zsh"}
SHELLS = frozenset(_SHELLS)  # for checks: a command through one of these may change PATH
USER_WRAPPERS = frozenset(_USER_WRAPPERS)  # for checks: what follows runs as another user
#: process supervisors: the entrypoint runs one, the app runs as one of its children
#: (supervisord's `[program:x] command=`), on whatever Python that command names
PROCESS_MANAGERS = frozenset({"supervisord", "circusd", "runsvdir", "s6-svscan", "honcho"})
_BUILTINS = {"cd", "export", "set", "echo", "true", ":", ".", "source", "umask", "ulimit"}

#: what in an entrypoint script may change the program `exec "$@"` runs, its PATH, its
#: working directory, user or environment: builtins that do, assignments, the arguments
_CHANGES_EXEC = re.compile(
    r"(^|[\s;&|(`])(cd|export|set|shift|source|\.|eval|exec|exit|return|read|unset|alias|"
    r"hash|pushd|popd|su|sudo|runuser|setpriv|gosu|su-exec|chpst|chroot|umask)(?=$|[\s;&|)])"
    r"|\b[A-Za-z_]\w*\+?=|\$[@*#1-9]|\$\{[@*#1-9]|PATH|PYTHON|HOME|activate"
)
#: `set` with options only (`set -e`, `set -eu -o pipefail`): no new arguments
_SET_OPTIONS = re.compile(r"^set(\s+([-+][A-Za-z]+|[-+]o\s+\w+))+$")


@dataclass(frozen=True)
class AppPython:
    environment: str | None  # Environment.path: the interpreter executable or venv dir
    interpreter: str | None  # the base interpreter's path (None: a venv without one)
    how: str  # entrypoint | path | venv | unknown
    program: str | None = None  # what the entrypoint runs, as found (no leading slash)

    def to_json(self) -> dict[str, Any]:
        return {
            "environment": _absolute(self.environment),
            "interpreter": _absolute(self.interpreter),
            "how": self.how,
            "program": _absolute(self.program),
        }


UNKNOWN = AppPython(None, None, "unknown")


def command_argv(config: dict[str, Any]) -> list[str]:
    """The container's command as the engine runs it: Entrypoint, then Cmd (the words
    that are strings: a hand-made config may hold anything)."""
    return [a for a in [*(config.get("Entrypoint") or []), *(config.get("Cmd") or [])]
            if isinstance(a, str)]  # fmt: skip


def find(
    fs: FileSystem,
    config: dict[str, Any],
    env: dict[str, str],
    interps: Sequence[Interpreter],
    environments: Sequence[Environment],
) -> AppPython:
    finder = _Finder(fs, config, env, interps, environments)
    argv = command_argv(config)
    program = finder.program(argv)
    if program is not None and program.rsplit("/", 1)[-1] in PROCESS_MANAGERS:
        program = None  # it starts the app's processes from its own config: not the app
    if program is not None:
        found = finder.environment_of(program)
        if found is not None:
            return finder.answer(found, "entrypoint", program)
    on_path = next((p for n in ("python3", "python") if (p := finder.which(n))), None)
    found = finder.environment_of(on_path) if on_path else None
    if found is not None and found.kind == "venv":
        return finder.answer(found, "path", on_path)
    venvs = [e for e in environments if e.kind == "venv" and e.base is not None]
    if len(venvs) == 1:
        return finder.answer(venvs[0], "venv", None)
    if found is not None:
        return finder.answer(found, "path", on_path)
    return UNKNOWN


def command_program(fs: FileSystem, config: dict[str, Any], env: dict[str, str]) -> str | None:
    """The program the container's command finally runs (as :func:`command` reads it),
    found on PATH or against WorkingDir (no leading slash); None when not found."""
    return _Finder(fs, config, env, (), ()).program(command_argv(config))


def which(fs: FileSystem, config: dict[str, Any], env: dict[str, str], word: str) -> str | None:
    """`word` as execvp finds it in the container: a path (relative to WorkingDir), or
    the first match on the config's PATH (no leading slash); None when not found."""
    return _Finder(fs, config, env, (), ()).which(word)


def skip_launcher(args: list[str]) -> list[str] | None:
    """The words after one leading launcher that runs the rest as its command: an init
    wrapper (tini, dumb-init, catatonit) with its options, or `env` with its options and
    VAR=value words. None when the first word is neither."""
    name = args[0].rsplit("/", 1)[-1] if args else ""
    if name in _WRAPPERS:
        rest = args[1:]
        while rest and rest[0].startswith("-"):
            rest = rest[1:]
        return rest
    if name == "env":
        rest = args[1:]
        while rest and ("=" in rest[0] or rest[0].startswith("-")):
            rest = rest[1:]
        return rest
    return None


def command(fs: FileSystem, config: dict[str, Any], env: dict[str, str]) -> str | None:
    """The word naming the program the container's command finally runs, as written
    (past tini, gosu, `env`, `sh -c "... && exec CMD"`): `gunicorn`, `/app/run.py`."""
    finder = _Finder(fs, config, env, (), ())
    argv = command_argv(config)
    return finder.command(argv)


@dataclass(frozen=True)
class BrokenCommand:
    """The container's command is a script whose `#!` interpreter is not in the image:
    its exec fails ("no such file or directory"; env: exit 127), the container does not
    start."""

    program: str  # the script, as found on PATH (no leading slash)
    interpreter: str  # as the `#!` line names it: a path, or the name `env` looks up


def broken_command(
    fs: FileSystem, config: dict[str, Any], env: dict[str, str]
) -> BrokenCommand | None:
    """The command program (Entrypoint + Cmd past wrappers, as :func:`find` reads it) when
    its `#!` interpreter does not resolve in the image. None when it does, or when the
    files cannot tell (no program found, no `#!` line read)."""
    finder = _Finder(fs, config, env, (), ())
    argv = command_argv(config)
    program = finder.program(argv)
    head = fs.read(program) if program is not None else None
    if program is None or not head or not head.startswith(b"#!"):
        return None
    interpreter = shebang(head)
    if interpreter is None:
        return None
    if "/" in interpreter:
        found = finder._is_file(_norm(interpreter))
    else:  # `#!/usr/bin/env NAME`: looked up on the container's PATH
        found = finder.which(interpreter) is not None
    return None if found else BrokenCommand(program, interpreter)


@dataclass(frozen=True)
class ModuleRun:
    """The container's command is `python [options] -m MODULE ...`."""

    program: str  # the python, as found on PATH (no leading slash)
    module: str  # as written: `app.main`


#: python options that leave sys.path and the -m lookup as they are
_PLAIN_FLAGS = frozenset("bBdOquvR")


def module_run(fs: FileSystem, config: dict[str, Any], env: dict[str, str]) -> ModuleRun | None:
    """The module the container's python runs with `-m` (past wrappers, as :func:`find`
    reads the command). None for anything else, and when an option before `-m` changes
    sys.path or is not read here (-I, -P, -E, -S, -s, -c, a long option)."""
    finder = _Finder(fs, config, env, (), ())
    argv = command_argv(config)
    if any(a.rsplit("/", 1)[-1] in _USER_WRAPPERS for a in argv):
        return None  # another user's HOME, so another user site
    args = finder.args(argv)
    if not args or not _PYTHON_NAME.match(args[0].rsplit("/", 1)[-1]):
        return None
    program = finder.which(args[0])
    module = _module_option(args[1:])
    return ModuleRun(program, module) if program is not None and module else None


@dataclass(frozen=True)
class ScriptRun:
    """The container's command is `python [options] SCRIPT ...`."""

    program: str  # the python, as found on PATH (no leading slash)
    script: str  # as written: `./app.py`
    path: str  # the script against WorkingDir (no leading slash)


#: python options that take no value and leave the script operand where it is
_SCRIPT_FLAGS = _PLAIN_FLAGS | frozenset("IEsSPx")


def script_run(fs: FileSystem, config: dict[str, Any], env: dict[str, str]) -> ScriptRun | None:
    """The script file the container's python runs (past wrappers, as :func:`find` reads
    the command). None for anything else: -c, -m, stdin, a long option or one not read
    here."""
    finder = _Finder(fs, config, env, (), ())
    args = finder.args(command_argv(config)) or []
    script = python_script(args)
    program = finder.which(args[0]) if script else None
    if program is None or not script:
        return None
    return ScriptRun(program, script, _norm(posixpath.join(finder.workdir, script)))


def python_script(args: list[str]) -> str | None:
    """SCRIPT when the words `args` run a python on a script file (`python3 -u
    /app/health.py`), as written; None for -c, -m, stdin and any other program."""
    if not args or not _PYTHON_NAME.match(args[0].rsplit("/", 1)[-1]):
        return None
    return _script_operand(args[1:])


def working_dir(config: dict[str, Any]) -> str:
    """The config's WorkingDir, absolute and normalised ("/" when unset): where a
    relative path of the command, and `python -m`, start."""
    return posixpath.normpath("/" + str(config.get("WorkingDir") or "").strip("/"))


def in_volume(config: dict[str, Any], path: str) -> bool:
    """Whether `path` (no leading slash) lies in a VOLUME of the image's config: what is
    there is meant to be mounted at run time, the image's files cannot say."""
    volumes = config.get("Volumes") or {}
    if not isinstance(volumes, dict):
        return False
    for v in volumes:
        root = str(v).strip("/")
        if not root or path == root or path.startswith(root + "/"):
            return True
    return False


def _script_operand(args: list[str]) -> str | None:
    """SCRIPT among python's arguments (`-u app.py`, `-Wignore ./run.py`)."""
    i = 0
    while i < len(args):
        word = args[i]
        if not word.startswith("-"):
            return word
        if word == "-" or word.startswith("--"):
            return None  # stdin, or a long option
        for j, flag in enumerate(word[1:], start=1):
            if flag in "WX":  # takes a value: the rest of the word, or the next one
                i += 1 if j + 1 == len(word) else 0
                break
            if flag not in _SCRIPT_FLAGS:
                return None  # -c, -m, -h, -V, ...
        i += 1
    return None


#: WSGI/ASGI servers whose last argument names the app module (`mysite.wsgi:application`),
#: imported with the working directory first on sys.path (gunicorn's --chdir default,
#: uvicorn's --app-dir ".")
_APP_SERVERS = frozenset({"gunicorn", "uvicorn"})
#: their options that take no value (a word after any other option may be its value)
_SERVER_FLAGS = frozenset(
    {"--reload", "--preload", "--factory", "--proxy-headers", "--no-access-log", "--daemon",
     "-D", "--reuse-port", "--no-sendfile", "--no-proxy-headers", "--no-server-header",
     "--no-date-header", "--no-use-colors", "--use-colors", "--capture-output",
     "--enable-stdio-inheritance", "--spew"}
)  # fmt: skip
#: options that change where the app module is looked for, or name it another way
_SERVER_PATHS = ("--chdir", "--pythonpath", "--app-dir", "-c", "--config", "--paste")
_APP_SPEC = re.compile(r"^(?P<module>[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*):[A-Za-z_][\w.]*(?:\(.*\))?$")


def server_app_run(fs: FileSystem, config: dict[str, Any], env: dict[str, str]) -> ModuleRun | None:
    """The app module a gunicorn or uvicorn command imports (`gunicorn -b :8000
    mysite.wsgi:application`): the last word, in MODULE:VARIABLE form, after the program
    or a value-less flag. None for anything else, without a WorkingDir, when an option or
    GUNICORN_CMD_ARGS may change where it is looked for, or when the command runs as
    another user."""
    finder = _Finder(fs, config, env, (), ())
    argv = command_argv(config)
    if finder.workdir == "/":
        return None  # no WORKDIR: the app is found some other way, not judged
    if env.get("GUNICORN_CMD_ARGS") or any(a.rsplit("/", 1)[-1] in _USER_WRAPPERS for a in argv):
        return None
    args = finder.args(argv)
    if not args or len(args) < 2 or args[0].rsplit("/", 1)[-1] not in _APP_SERVERS:
        return None
    if any(a.split("=", 1)[0] in _SERVER_PATHS for a in args[1:]):
        return None
    if args[0].rsplit("/", 1)[-1] == "gunicorn" and fs.get(
        posixpath.join(finder.workdir, "gunicorn.conf.py").lstrip("/")
    ):
        return None  # read without -c (gunicorn >= 20): may set chdir or pythonpath
    m = _APP_SPEC.match(args[-1])
    before = args[-2]
    if m is None or (before.startswith("-") and "=" not in before and before not in _SERVER_FLAGS):
        return None
    program = finder.which(args[0])
    return ModuleRun(program, m.group("module")) if program is not None else None


def _module_option(args: list[str]) -> str | None:
    """MODULE of `-m MODULE` among python's options (`-u -m app`, `-Wignore -mapp`)."""
    i = 0
    while i < len(args):
        word = args[i]
        if not word.startswith("-") or word == "-" or word.startswith("--"):
            return None  # a script, stdin, or a long option
        for j, flag in enumerate(word[1:], start=1):
            if flag == "m":
                rest = word[j + 1 :]
                return rest or (args[i + 1] if i + 1 < len(args) else None)
            if flag in "WX":  # takes a value: the rest of the word, or the next one
                i += 1 if j + 1 == len(word) else 0
                break
            if flag not in _PLAIN_FLAGS:
                return None
        i += 1
    return None


class _Finder:
    def __init__(
        self,
        fs: FileSystem,
        config: dict[str, Any],
        env: dict[str, str],
        interps: Sequence[Interpreter],
        environments: Sequence[Environment],
    ) -> None:
        self.fs = fs
        self.workdir = "/" + str(config.get("WorkingDir") or "").strip("/")
        self.path = [p for p in (env.get("PATH") or DEFAULT_PATH).split(":") if p]
        self.interps = interps
        self.environments = {e.path: e for e in environments}

    def answer(self, found: Environment, how: str, program: str | None) -> AppPython:
        return AppPython(found.path, found.base, how, program)

    # ---- programs -------------------------------------------------------------------

    def which(self, name: str) -> str | None:
        """`name` as execvp finds it: a path (relative to WorkingDir), or PATH's first."""
        if "/" in name:
            path = _norm(posixpath.join(self.workdir, name))
            return path if self._is_file(path) else None
        for d in self.path:
            path = _norm(posixpath.join(self.workdir, d, name))
            if self._is_file(path):
                return path
        return None

    def _is_file(self, path: str) -> bool:
        real = self.fs.resolve(path)
        node = self.fs.get(real) if real is not None else None
        return node is not None and node.entry.kind != DIR

    def program(self, argv: list[str]) -> str | None:
        """The program the container's command finally runs, found on PATH."""
        word = self.command(argv)
        return self.which(word) if word is not None else None

    def command(self, argv: list[str]) -> str | None:
        """The word naming the program the container's command finally runs (past the
        wrappers and a `sh -c` string), as written: `gunicorn`, `/app/run.py`."""
        args = self.args(argv)
        return args[0] if args else None

    def args(self, argv: list[str]) -> list[str] | None:
        """The words of the command the container finally runs, its program first."""
        args = list(argv)
        while args:
            name = args[0].rsplit("/", 1)[-1]
            rest = skip_launcher(args)
            if rest is not None:
                args = rest
                continue
            if name in _USER_WRAPPERS:
                args = args[1:]
                while args and args[0].startswith("-"):
                    args = args[1:]
                if args:
                    args = args[1:]  # the user
                continue
            if name in _SHELLS and len(args) >= 3 and args[1] == "-c":
                return self._shell_command(args[2])
            if len(args) > 1 and self._passes_args(args[0]):
                args = args[1:]  # `ENTRYPOINT ["/docker-entrypoint.sh"]` ending `exec "$@"`
                continue
            return args
        return None

    def _passes_args(self, word: str) -> bool:
        """An entrypoint shell script that only runs its arguments at the end, `exec "$@"`,
        with nothing on the way that may change what that runs or where (module doc)."""
        path = self.which(word)
        node = self.fs.get(self.fs.resolve(path) or "") if path is not None else None
        data = self.fs.read(path) if path is not None else None
        if node is None or data is None or len(data) != node.entry.size:
            return False  # not all of it was kept (a long script): the files cannot say
        lines = data.decode("utf-8", "replace").splitlines()
        words = shebang(data) if data.startswith(b"#!") else None
        if words is None or words.rsplit("/", 1)[-1] not in _SHELLS:
            return False
        body = [ln.strip() for ln in lines[1:] if ln.strip() and not ln.strip().startswith("#")]
        if not body or body[-1] not in ('exec "$@"', 'exec "${@}"'):
            return False
        return not any(_CHANGES_EXEC.search(ln) for ln in body[:-1] if not _SET_OPTIONS.match(ln))

    def _shell_command(self, script: str) -> list[str] | None:
        """The last command of a `sh -c` string that is a program (`migrate && exec
        gunicorn ...` runs gunicorn for the life of the container)."""
        try:
            words = shlex.split(script, comments=True)
        except ValueError:
            return None
        commands: list[list[str]] = [[]]
        for w in words:
            if w in ("&&", "||", ";", "|", "&"):
                commands.append([])
            else:
                commands[-1].append(w.rstrip(";"))
        for command in reversed(commands):
            while command and (command[0] == "exec" or "=" in command[0]):
                command = command[1:]
            if command and command[0] not in _BUILTINS:
                return self.args(command)
        return None

    # ---- interpreters -----------------------------------------------------------------

    def environment_of(self, program: str, depth: int = 0) -> Environment | None:
        """The environment `program` runs in: a python itself, or what its shebang runs."""
        name = program.rsplit("/", 1)[-1]
        if _PYTHON_NAME.match(name):
            return self._python(program)
        head = self.fs.read(program) or b""
        if depth > 2 or not head.startswith(b"#!"):
            return None
        interpreter = shebang(head)
        if interpreter is None:
            return None
        if "/" not in interpreter:  # `#!/usr/bin/env python3`
            found = self.which(interpreter)
            return self.environment_of(found, depth + 1) if found else None
        return self.environment_of(_norm(interpreter), depth + 1)

    def _python(self, path: str) -> Environment | None:
        bin_dir = posixpath.dirname(path)
        venv = posixpath.dirname(bin_dir)
        for cfg in (f"{bin_dir}/pyvenv.cfg", f"{venv}/pyvenv.cfg"):
            if self.fs.get(cfg) is not None or self.fs.resolve(cfg) is not None:
                found = self.environments.get(posixpath.dirname(cfg))
                if found is not None:
                    return found
        real = self.fs.resolve(path)
        for interp in self.interps:
            if interp.executable and self.fs.resolve(interp.executable) == real:
                return self.environments.get(interp.path)
        return None


def shebang(head: bytes) -> str | None:
    """The interpreter a `#!` line names; for `/usr/bin/env [-S] NAME`, NAME (a PATH
    lookup); pip's long-path `#!/bin/sh` + `'''exec' /path/python` trampoline too."""
    lines = head.split(b"\n", 2)
    words = lines[0][2:].decode("utf-8", "replace").split()
    if not words:
        return None
    if words[0].endswith("/env"):
        rest = [w for w in words[1:] if not w.startswith("-") and "=" not in w]
        return rest[0] if rest else None
    if words[0].endswith("/sh") and len(lines) > 1 and lines[1].startswith(b"'''exec' "):
        rest = lines[1][len(b"'''exec' ") :].decode("utf-8", "replace").split()
        return rest[0].strip("'\"") if rest else None
    return words[0]


def _norm(path: str) -> str:
    return posixpath.normpath("/" + path).strip("/")


def _absolute(path: str | None) -> str | None:
    return "/" + path if path else None
