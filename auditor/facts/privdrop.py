"""The user an image that starts as root switches to before its app runs.

Why it matters: the official images' pattern (postgres, redis, mongo, rabbitmq...) sets
no `USER`: PID 1 starts as root, the entrypoint script prepares what needs root
(`chown` of a data volume) and then `exec gosu app "$0" "$@"`. The app's processes run
as `app`; `docker exec` and whatever the script runs before the switch run as root.
Judging such an image only by the config's User calls the app root (SEC001 as an
error) and asks what root can write (SEC003-SEC005) while the process that serves
requests is `app`.

Read from the files, nothing run:

* the config's Entrypoint + Cmd, past init wrappers (tini, dumb-init, catatonit) and
  `env VAR=value`: `gosu USER`, `su-exec USER`, `setpriv --reuid USER`,
  `runuser -u USER`, `su [options] USER -c ...`, `chpst -u USER`,
  `s6-setuidgid USER`, `setuidgid USER`, `chroot --userspec=USER ...`;
* else, when the command's program is a shell script (`#!` naming a shell), the same
  commands on any line of the text the layers kept of it (only those it `exec`s when
  it execs one: a `su other -c 'setup'` on the way is not the switch) (entrypoint scripts are
  captured up to 64 KiB, other executables in bin directories up to 512 bytes).

A user word that is a variable (`gosu "$APP_USER"`) is looked up in the config's Env;
when the script's drop commands name different users, or a variable the config does not
set, the target is unknown (``user`` None): the checks then say less. Whether a script
reaches its drop line for the default command (an `if [ "$(id -u)" = 0 ]` guard, a
`case "$1"`) the files cannot tell; a check that judges the switched-to user only
reports what that user can do, which root (the only other candidate) can do as well.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from auditor.facts.apppython import command_argv, skip_launcher, which
from auditor.facts.users import RuntimeUser, UserDb, runtime_user

if TYPE_CHECKING:
    from auditor.fs import FileSystem

#: programs that run their arguments as another user, and how each names the user
TOOLS = frozenset(
    {"gosu", "su-exec", "setpriv", "runuser", "su", "chpst", "s6-setuidgid", "setuidgid",
     "chroot"}
)  # fmt: skip
#: tools that fork and wait (PID 1 stays a root process) instead of exec'ing the command
FORKING = frozenset({"su", "runuser"})
_SHELLS = {"sh", "bash", "dash", "ash", "zsh", "ksh"}
#: words after which a new command starts (shlex keeps `;` on the word before it)
_SEPARATORS = frozenset(
    {"&&", "||", ";", "|", "&", "if", "elif", "then", "else", "while", "until", "do", "{",
     "(", "!"}
)  # fmt: skip
_VAR = re.compile(r"^\$(?:\{(\w+)\}|(\w+))$")
#: su/runuser options that take a value (the user is the first other word)
_SU_VALUE_OPTIONS = {"-s", "-c", "-g", "-G", "-w", "-C", "--shell", "--command",
                     "--group", "--supp-group", "--whitelist-environment",
                     "--session-command"}  # fmt: skip


@dataclass(frozen=True)
class PrivilegeDrop:
    tool: str  # gosu, setpriv, su, ...
    target: str | None  # the user as written (a variable resolved); None: unknown
    where: str  # "config" (Entrypoint/Cmd) or the script's path (no leading slash)
    user: RuntimeUser | None  # the target resolved through the image's passwd/group

    @property
    def in_script(self) -> bool:
        return self.where != "config"

    @property
    def switches_to_non_root(self) -> bool:
        """The target resolves to a uid other than 0."""
        return self.user is not None and self.user.uid is not None and not self.user.is_root

    def describe(self) -> str:
        """`the entrypoint script /x.sh switches to app (uid 999) with gosu`"""
        by = "its Entrypoint/Cmd" if self.where == "config" else f"the script /{self.where}"
        if self.user is not None and self.user.uid is not None:
            whom = f"{self.target} (uid {self.user.uid})"
        else:
            whom = repr(self.target) if self.target else "another user"
        return f"{by} switches to {whom} with {self.tool}"

    def to_json(self) -> dict[str, Any]:
        return {
            "tool": self.tool,
            "target": self.target,
            "where": "config" if self.where == "config" else "/" + self.where,
            "user": self.user.to_json() if self.user is not None else None,
        }


def find(
    fs: FileSystem, config: dict[str, Any], env: dict[str, str], db: UserDb
) -> PrivilegeDrop | None:
    """The drop the container's command makes (module doc); None when none is found."""
    argv = _past_wrappers(command_argv(config))
    if not argv:
        return None
    name = argv[0].rsplit("/", 1)[-1]
    if name in TOOLS:
        found = _target(name, argv[1:])
        if found is None:
            return None
        return _resolved(name, found, "config", env, db)
    if name in _SHELLS and len(argv) >= 3 and argv[1] == "-c":
        return _in_text(argv[2], "config", env, db)
    program = which(fs, config, env, argv[0])
    script = fs.resolve(program) if program is not None else None
    if script is None:
        return None
    data = fs.read(script)
    if not data or not data.startswith(b"#!"):
        return None
    first = data.split(b"\n", 1)[0][2:].decode("utf-8", "replace").split()
    interpreter = first[0].rsplit("/", 1)[-1] if first else ""
    if interpreter == "env" and len(first) > 1:
        interpreter = first[1]
    if interpreter not in _SHELLS:
        return None
    node = fs.get(script)
    if node is not None and len(data) < node.entry.size:
        data = data[: data.rfind(b"\n") + 1]  # a head: its last line may be cut short
    return _in_text(data.decode("utf-8", "replace"), script, env, db)


#: setpriv options that call setgroups(2)/initgroups(3): EPERM without CAP_SETGID
_SETPRIV_GROUPS = ("--init-groups", "--clear-groups", "--groups")


def root_only_switch(config: dict[str, Any]) -> tuple[str, str | None] | None:
    """(tool, user word) when the config's command itself, past init wrappers and
    `env`, switches users in a way only root may (`ENTRYPOINT ["gosu", "app"]`): gosu,
    su-exec, chpst and setuidgid call setgroups, runuser refuses non-root callers, su
    asks for a password, chroot needs CAP_SYS_CHROOT; setpriv only with a group option
    (`--reuid=$me --keep-groups` works as that user). None otherwise."""
    argv = _past_wrappers(command_argv(config))
    if not argv or (tool := argv[0].rsplit("/", 1)[-1]) not in TOOLS:
        return None
    if tool == "setpriv" and not any(a.startswith(_SETPRIV_GROUPS) for a in argv[1:]):
        return None
    return tool, _target(tool, argv[1:])


def _past_wrappers(argv: list[str]) -> list[str]:
    """The command past init wrappers, `env` and, in a script's text, `exec`."""
    args = list(argv)
    while args:
        rest = skip_launcher(args)
        if rest is None and args[0] == "exec":
            rest = args[1:]
        if rest is None:
            break
        args = rest
    return args


def _in_text(text: str, where: str, env: dict[str, str], db: UserDb) -> PrivilegeDrop | None:
    """The drop commands of a shell text: all must name one user, else the target is
    unknown."""
    drops: list[tuple[str, str | None, bool]] = []  # (tool, target, exec'd)
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#") or not any(t in stripped for t in TOOLS):
            continue
        try:
            words = shlex.split(stripped, comments=True)
        except ValueError:
            continue
        for command in _commands(words):
            execs = bool(command) and command[0] == "exec"
            command = _past_wrappers(command)
            if command and command[0].rsplit("/", 1)[-1] in TOOLS:
                tool = command[0].rsplit("/", 1)[-1]
                drops.append((tool, _target(tool, command[1:]), execs))
    if any(e for _, _, e in drops):
        # `su other -c setup` on the way, `exec gosu app "$@"` at the end: the exec'd
        # one runs the command
        drops = [d for d in drops if d[2]]
    if not drops:
        return None
    tool = drops[0][0]
    targets = {t for _, t, _ in drops}
    if len(targets) != 1 or None in targets:
        return PrivilegeDrop(tool, None, where, None)
    return _resolved(tool, targets.pop() or "", where, env, db)


def _commands(words: list[str]) -> list[list[str]]:
    out: list[list[str]] = [[]]
    for w in words:
        if w in _SEPARATORS:
            out.append([])
        elif w.endswith(";"):
            out[-1].append(w.rstrip(";"))
            out.append([])
        else:
            out[-1].append(w)
    return [c for c in out if c]


def _target(tool: str, args: list[str]) -> str | None:
    """The user word of `tool args...` (None: not found)."""
    if tool in ("gosu", "su-exec", "s6-setuidgid", "setuidgid"):
        rest = [a for a in args if not a.startswith("-")]
        return rest[0] if rest else None
    if tool == "setpriv":
        return _long_option(args, "--reuid")
    if tool == "chpst":
        for i, a in enumerate(args):
            if a == "-u" and i + 1 < len(args):
                return args[i + 1].lstrip(":")
        return None
    if tool == "chroot":
        return _long_option(args, "--userspec")
    # su, runuser: `runuser -u USER -- cmd`, else the first word that is no option
    i = 0
    while i < len(args):
        a = args[i]
        if tool == "runuser" and a in ("-u", "--user") and i + 1 < len(args):
            return args[i + 1]
        if a == "--":
            return args[i + 1] if tool == "su" and i + 1 < len(args) else None
        if a in _SU_VALUE_OPTIONS:
            i += 2
            continue
        if a.startswith("-"):
            i += 1
            continue
        return a
    return None


def _long_option(args: list[str], option: str) -> str | None:
    """The value of `--option=VALUE` or `--option VALUE`, the first given."""
    for i, a in enumerate(args):
        if a.startswith(option + "="):
            return a.split("=", 1)[1]
        if a == option and i + 1 < len(args):
            return args[i + 1]
    return None


def _resolved(tool: str, word: str, where: str, env: dict[str, str], db: UserDb) -> PrivilegeDrop:
    if (m := _VAR.match(word)) is not None:
        value = env.get(m.group(1) or m.group(2))
        if not value:
            return PrivilegeDrop(tool, None, where, None)
        word = value
    if "$" in word or "`" in word or not word:
        return PrivilegeDrop(tool, None, where, None)
    return PrivilegeDrop(tool, word, where, runtime_user(word, db))
