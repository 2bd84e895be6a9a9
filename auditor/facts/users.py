"""Users and groups of the image (/etc/passwd, /etc/group) and the runtime user.

The runtime user is the config's `User` (`name`, `uid`, `name:group`, `uid:gid`),
resolved through the image's own databases, never the host's. Empty means root.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from auditor.fs import FileSystem


@dataclass(frozen=True)
class PasswdEntry:
    name: str
    uid: int
    gid: int
    home: str
    shell: str


@dataclass(frozen=True)
class GroupEntry:
    name: str
    gid: int
    members: tuple[str, ...]


@dataclass(frozen=True)
class UserDb:
    users: tuple[PasswdEntry, ...] = ()
    groups: tuple[GroupEntry, ...] = ()
    has_passwd: bool = False
    has_group: bool = False

    def user_by_name(self, name: str) -> PasswdEntry | None:
        return next((u for u in self.users if u.name == name), None)

    def user_by_uid(self, uid: int) -> PasswdEntry | None:
        return next((u for u in self.users if u.uid == uid), None)

    def group_by_name(self, name: str) -> GroupEntry | None:
        return next((g for g in self.groups if g.name == name), None)

    def group_by_gid(self, gid: int) -> GroupEntry | None:
        return next((g for g in self.groups if g.gid == gid), None)


@dataclass(frozen=True)
class RuntimeUser:
    spec: str  # the config's User, as written ("" = not set)
    uid: int | None  # None when a name does not resolve
    gid: int | None
    name: str | None
    home: str | None
    groups: frozenset[int] = field(default_factory=frozenset)  # primary + supplementary gids
    problems: tuple[str, ...] = ()  # why the user or group could not be resolved

    @property
    def is_root(self) -> bool:
        return self.uid == 0

    def to_json(self) -> dict[str, Any]:
        return {
            "spec": self.spec,
            "name": self.name,
            "uid": self.uid,
            "gid": self.gid,
            "home": self.home,
            "groups": sorted(self.groups),
        }


def _int(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        return None


def load(fs: FileSystem) -> UserDb:
    users = []
    passwd = fs.read("etc/passwd")
    for line in (passwd or b"").decode("utf-8", "replace").splitlines():
        parts = line.split(":")
        if (
            len(parts) >= 7
            and (uid := _int(parts[2])) is not None
            and (gid := _int(parts[3])) is not None
        ):
            users.append(PasswdEntry(parts[0], uid, gid, parts[5], parts[6]))
    groups = []
    group = fs.read("etc/group")
    for line in (group or b"").decode("utf-8", "replace").splitlines():
        parts = line.split(":")
        if len(parts) >= 4 and (gid := _int(parts[2])) is not None:
            members = tuple(m for m in parts[3].split(",") if m)
            groups.append(GroupEntry(parts[0], gid, members))
    return UserDb(tuple(users), tuple(groups), passwd is not None, group is not None)


def runtime_user(spec: str, db: UserDb) -> RuntimeUser:
    """Resolve `User` the way runc does: names through the image's files, numbers as is."""
    spec = spec.strip()
    user_part, _, group_part = spec.partition(":")
    problems: list[str] = []
    if not user_part:
        entry = db.user_by_uid(0)
        uid: int | None = 0
        name: str | None = entry.name if entry else "root"
        gid: int | None = entry.gid if entry else 0
        home: str | None = entry.home if entry else "/root"
    elif (num := _int(user_part)) is not None:
        uid = num
        entry = db.user_by_uid(num)
        name = entry.name if entry else None
        gid = entry.gid if entry else 0
        home = entry.home if entry else None
        if entry is None and num != 0:
            problems.append(f"uid {num} has no entry in /etc/passwd")
            gid = 0  # runc runs an unknown numeric uid with gid 0
    else:
        entry = db.user_by_name(user_part)
        if entry is None:
            problems.append(f"user {user_part!r} not in /etc/passwd")
            return RuntimeUser(spec, None, None, user_part, None, frozenset(), tuple(problems))
        uid, gid, name, home = entry.uid, entry.gid, entry.name, entry.home
    if group_part:
        if (g := _int(group_part)) is not None:
            gid = g
        else:
            grp = db.group_by_name(group_part)
            if grp is None:
                problems.append(f"group {group_part!r} not in /etc/group")
                gid = None
            else:
                gid = grp.gid
    groups = {gid} if gid is not None else set()
    if name:
        groups |= {g.gid for g in db.groups if name in g.members}
    return RuntimeUser(spec, uid, gid, name, home, frozenset(groups), tuple(problems))
