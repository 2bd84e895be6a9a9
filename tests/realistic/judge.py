"""Judge imgaudit's report on an image of the realistic set against the image's truth.

Why one place: the tests (one per image and check) and the tally script must give the
same verdicts. A verdict is ``correct`` (the finding states what running the image
confirms), ``false`` (running the image contradicts it; the reason says how) or
``missed`` (the truth shows something the check exists to report and no finding does).

Checks with an oracle are judged from the truth (``realistic_truth``): EL001, EL002,
PK002, PK003, SEC001-SEC005, PY001-PY003, PY007, CC001 and SZ001, plus two facts
sections (``inventory``: the package list against ``importlib.metadata`` per interpreter
and venv; ``pythons``: each interpreter's full version against the interpreter itself).
Every other check is judged against reviewed expectations
(``tests/data/realistic/expected.toml``): per image and check whether it should fire,
refined per finding where needed, with a reason per line.

Only imgaudit's public surface is read: the JSON report of ``imgaudit scan``.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

EXPECTED = Path(__file__).resolve().parents[1] / "data" / "realistic" / "expected.toml"

Kind = Literal["correct", "false", "missed"]
Report = dict[str, Any]
Truth = dict[str, Any]
Finding = dict[str, Any]


@dataclass(frozen=True)
class Verdict:
    """One judged finding (or one thing no finding reported)."""

    check: str
    kind: Kind
    subject: str
    reason: str
    #: The judged finding's severity (None for a miss or a facts section).
    severity: str | None = None


def _correct(f: Finding, reason: str) -> Verdict:
    return Verdict(f["check_id"], "correct", f["message"], reason, f["severity"])


def _false(f: Finding, reason: str) -> Verdict:
    return Verdict(f["check_id"], "false", f["message"], reason, f["severity"])


def _missed(check: str, subject: str, reason: str) -> Verdict:
    return Verdict(check, "missed", subject, reason)


def _slash(path: str | None) -> str:
    if not path:
        return ""
    return path if path.startswith("/") else "/" + path


def canonical(name: str) -> str:
    """PEP 503 normalisation (what packaging.utils.canonicalize_name does)."""
    return re.sub(r"[-_.]+", "-", name).lower()


# --------------------------------------------------------------------------- truth views


class View:
    """Derived views of one image's truth that several oracles share."""

    def __init__(self, truth: Truth) -> None:
        self.truth = truth
        inv, rt = truth["inventory"], truth["runtime"]
        self.elf: dict[str, dict[str, Any]] = inv["elf"]
        loaded: set[str] = set()
        for path, e in self.elf.items():
            loaded.update(p for p in e.get("loads", []) if p != os.path.realpath(path))
        #: ELF objects nothing else in the image loads: programs, extension modules,
        #: plugins and libraries nothing links (what issue 15 calls roots).
        self.roots = {p for p, e in self.elf.items() if p not in loaded and "loads" in e}
        self.identity: dict[str, Any] = rt["identity"]
        self.envs: dict[str, dict[str, Any]] = rt["environments"]
        self.app_python: str | None = rt["command"].get("python")
        real = rt["command"].get("python_real")
        self.app_python_real: str | None = real

    def missing_by_root(self) -> dict[str, set[str]]:
        return {r: set(self.elf[r]["missing"]) for r in self.roots if self.elf[r].get("missing")}

    def names_missing_for(self, path: str) -> set[str]:
        """Library names the loader cannot find in any root whose tree holds ``path``."""
        real = os.path.realpath(path)
        names: set[str] = set()
        for root, missing in self.missing_by_root().items():
            if root == path or real in self.elf[root].get("loads", []) or real == root:
                names |= missing
        if path not in self.elf:  # not an ELF file (a finding per library name)
            for missing in self.missing_by_root().values():
                names |= missing
        return names

    def uid(self) -> int:
        return int(self.identity["uid"])

    def env_of(self, environment: str) -> dict[str, Any] | None:
        """The truth environment for a report's environment (an interpreter or a venv)."""
        environment = _slash(environment)
        for key in (environment, environment.rstrip("/") + "/bin/python"):
            if key in self.envs:
                return self.envs[key]
        return None

    def app_interpreter_file(self) -> str | None:
        """The regular file the app's interpreter is (venv pythons are symlinks to it)."""
        if self.app_python_real and self.app_python_real in self.truth["inventory"]["pythons"]:
            return self.app_python_real
        return None


# --------------------------------------------------------------------------- oracles


def _el001(findings: list[Finding], v: View) -> list[Verdict]:
    out = []
    reported: set[str] = set()
    for f in findings:
        names = set(f.get("evidence", {}).get("needed") or [])
        names |= {m["needed"] for m in f.get("evidence", {}).get("missing", [])}
        reported |= names
        truly = v.names_missing_for(_slash(f.get("path")))
        if names and names <= truly:
            reason = f"the loader, for a root loading it: {sorted(names)} not found"
            out.append(_correct(f, reason))
        else:
            wrong = sorted(names - truly)
            where = _slash(f.get("path"))
            out.append(_false(f, f"the loader finds {wrong} for every root loading {where}"))
    for root, missing in sorted(v.missing_by_root().items()):
        for name in sorted(missing - reported):
            out.append(_missed("EL001", f"{root}: {name}", "the loader (trace mode): not found"))
    return out


def _el002(findings: list[Finding], v: View) -> list[Verdict]:
    truly = {(e["version"]) for r in v.roots for e in v.elf[r].get("version_errors", [])}
    out = []
    for f in findings:
        text = f["message"] + " " + str(f.get("evidence", {}))
        named = {ver for ver in truly if ver in text}
        if named:
            out.append(_correct(f, f"the loader reports {sorted(named)} not found"))
        else:
            out.append(_false(f, "the loader reports no missing symbol version for it"))
    reported = " ".join(f["message"] + str(f.get("evidence", {})) for f in findings)
    for ver in sorted(truly):
        if ver not in reported:
            out.append(_missed("EL002", ver, "the loader: version not found"))
    return out


def _sec001(findings: list[Finding], v: View) -> list[Verdict]:
    uid = v.uid()
    if uid == 0:
        if findings:
            return [_correct(f, "the container runs with uid 0") for f in findings]
        return [_missed("SEC001", "root", "the container runs with uid 0")]
    return [_false(f, f"the container runs with uid {uid}") for f in findings]


def _sec002(findings: list[Finding], v: View) -> list[Verdict]:
    i = v.identity
    problems = []
    if i["name"] is None:
        problems.append(f"uid {i['uid']} has no passwd entry")
    if i["group"] is None:
        problems.append(f"gid {i['gid']} has no group entry")
    if i["name"] is not None and not i["home_exists"]:
        problems.append(f"home {i['home']} does not exist")
    if problems:
        if findings:
            return [_correct(f, "; ".join(problems)) for f in findings]
        return [_missed("SEC002", "; ".join(problems), "getpwuid/getgrgid at run time")]
    reason = f"runs as {i['name']} ({i['uid']}:{i['gid']} {i['group']}), home {i['home']} exists"
    return [_false(f, reason) for f in findings]


def _sec003(findings: list[Finding], v: View) -> list[Verdict]:
    venvs = v.truth["runtime"]["venvs"]
    out = []
    reported = set()
    for f in findings:
        venv = _slash(f.get("evidence", {}).get("venv"))
        reported.add(venv)
        t = venvs.get(venv)
        if v.uid() == 0:
            out.append(_false(f, "runs as root: SEC001's matter, SEC003 skips"))
        elif t is None:
            out.append(_false(f, f"{venv} is no venv the probe found"))
        elif t["writable_paths"]:
            out.append(_correct(f, f"{t['writable_paths']} paths of {venv} pass os.access(W_OK)"))
        else:
            out.append(_false(f, f"nothing in {venv} is writable by uid {v.uid()}"))
    if v.uid() != 0:
        for venv, t in sorted(venvs.items()):
            if t["writable_paths"] and venv not in reported:
                out.append(_missed("SEC003", venv, f"{t['writable_paths']} paths writable"))
    return out


def _venv_paths(v: View) -> list[str]:
    return list(v.truth["inventory"]["venvs"])


def _sec004(findings: list[Finding], v: View) -> list[Verdict]:
    code = set(v.truth["runtime"]["writable_code"])
    out = []
    for f in findings:
        path = _slash(f.get("path"))
        if v.uid() == 0:
            out.append(_false(f, "runs as root: SEC001's matter, SEC004 skips"))
        elif path in code:
            out.append(_correct(f, f"{path} passes os.access(W_OK) for uid {v.uid()}"))
        else:
            out.append(_false(f, f"{path} is not writable code for uid {v.uid()}"))
    workdir = v.truth["runtime"]["workdir"]
    if v.uid() != 0 and workdir != "/":
        venvs = tuple(p + "/" for p in _venv_paths(v))
        mine = sorted(
            p
            for p in code
            if (p + "/").startswith(workdir + "/") and not (p + "/").startswith(venvs)
        )
        if mine and not findings:
            reason = f"{len(mine)} code paths writable, e.g. {mine[0]}"
            out.append(_missed("SEC004", workdir, reason))
    return out


def _purelib(v: View, environment: str) -> str | None:
    env = v.env_of(environment)
    return env.get("purelib") if env and env.get("runs") else None


def _sec005(findings: list[Finding], v: View) -> list[Verdict]:
    pip = v.truth["runtime"]["pip"]
    works = {v.envs[p]["purelib"]: p for p, r in pip.items() if r["ok"] and v.envs[p].get("runs")}
    out = []
    reported = set()
    for f in findings:
        env = f.get("evidence", {}).get("environment", "")
        lib = _purelib(v, env)
        reported.add(lib)
        if lib in works:
            out.append(_correct(f, f"`pip install` into {lib} succeeds as uid {v.uid()}"))
        else:
            result = pip.get(_slash(env)) or pip.get(_slash(env) + "/bin/python") or {}
            out.append(_false(f, f"`pip install` with {env} fails: {result.get('error', '?')}"))
    for lib, python in sorted(works.items()):
        if lib not in reported:
            out.append(_missed("SEC005", lib, f"`{python} -m pip install` succeeds"))
    return out


def _py007(findings: list[Finding], v: View) -> list[Verdict]:
    venvs = v.truth["runtime"]["venvs"]
    broken = {p: t for p, t in venvs.items() if not t["python_runs"] or t["broken_scripts"]}
    out = []
    reported = set()
    command = v.truth["runtime"]["command"]
    app = v.envs.get(command.get("python") or "", {})
    for f in findings:
        evidence = f.get("evidence", {})
        if "venv" not in evidence:
            # the container's own command (no venv named): the probe resolved it as the
            # engine does, on PATH as the image's user, then its #! interpreter
            dist = evidence.get("distribution")
            if dist is not None:  # its package on no sys.path entry of the interpreter
                seen = {d["name"].lower() for d in app.get("distributions", [])}
                if app.get("runs") and dist.lower() not in seen:
                    out.append(_correct(f, f"{command['python']} does not see {dist}"))
                else:
                    out.append(_false(f, f"{command.get('python')} sees {dist}"))
            elif command.get("error") or command.get("python") is None:
                out.append(_correct(f, f"{command.get('argv0')}: {command.get('error')}"))
            elif not app.get("runs", True):
                out.append(_correct(f, f"{command['python']}: {app.get('error', '')}"))
            else:
                out.append(_false(f, f"{command['argv0']} resolves and {command['python']} runs"))
            continue
        venv = _slash(evidence.get("venv"))
        reported.add(venv)
        if venv in broken:
            why = broken[venv]["error"] or broken[venv]["broken_scripts"]
            out.append(_correct(f, f"{venv}: {why}"))
        else:
            out.append(_false(f, f"{venv}/bin/python runs and every script's #! exists"))
    for venv in sorted(set(broken) - reported):
        out.append(_missed("PY007", venv, "its python or a script's interpreter is missing"))
    return out


#: Toolchain families: CC001 should say each once (issue 15: "one finding per toolchain
#: (C/C++ compiler, binutils, make/autotools, -dev headers) with the packages as evidence").
TOOL_FAMILIES = (
    ("C/C++ compiler", re.compile(r"(^|/|-)(cc|c\+\+|gcc|g\+\+|cpp|clang|clang\+\+|tcc)(-\d+)?$")),
    ("binutils", re.compile(r"(^|/|-)(as|ld|ld\.bfd|ld\.gold|ar|objdump|strip)(-\d+)?$")),
    ("make/autotools", re.compile(r"(^|/)(make|gmake|cmake|autoconf|automake|libtool)$")),
    ("fortran", re.compile(r"gfortran")),
    ("rust", re.compile(r"(^|/)(rustc|cargo)$")),
    ("go", re.compile(r"(^|/)go$")),
)
PACKAGE_FAMILIES = (
    ("C/C++ compiler", re.compile(r"^(gcc|g\+\+|cpp|clang)(-\d+)?$")),
    ("binutils", re.compile(r"^binutils")),
    (
        "make/autotools",
        re.compile(
            r"^(make|cmake|autoconf|automake|autotools-dev|libtool|dpkg-dev|pkg-config|pkgconf)$"
        ),
    ),
    ("-dev headers", re.compile(r"-dev$")),
)


def _family(tools: Iterable[str], package: str) -> str:
    for name in tools:
        for family, pattern in TOOL_FAMILIES:
            if pattern.search(name):
                return family
    for family, pattern in PACKAGE_FAMILIES:
        if pattern.search(package):
            return family
    return "other"


def _cc001(findings: list[Finding], v: View) -> list[Verdict]:
    on_path = v.truth["runtime"]["compilers"]
    reals = set(on_path.values())
    out = []
    seen: set[str] = set()
    for f in findings:
        ev = f.get("evidence", {})
        tools = [ev["resolved"]] if ev.get("resolved") else list(ev.get("tools") or [])
        tools += [ev["tool"]] if ev.get("tool") else []
        # one package per finding, or (one finding per toolchain) the packages as evidence
        package = ev.get("package") or next(iter(ev.get("packages") or []), "")
        family = _family(tools, str(package))
        # by name as the probe found it on PATH (the host's realpath of an image path
        # only agrees when the host has the same tool)
        hits = [
            t
            for t in tools
            if os.path.realpath(_slash(t)) in reals or {t, os.path.basename(t)} & set(on_path)
        ]
        if not on_path:
            out.append(_false(f, "no compiler, linker or make on the runtime PATH"))
        elif tools and not hits:
            out.append(_false(f, f"none of {tools[:3]} is a tool on the runtime PATH"))
        elif family in seen:
            out.append(_false(f, f"duplicate: the {family} toolchain is already reported "
                                 "(issue 15: one finding per toolchain)"))  # fmt: skip
        else:
            seen.add(family)
            what = hits[0] if hits else f"package {ev.get('package')}"
            tools_on_path = ", ".join(sorted(on_path)[:4])
            out.append(_correct(f, f"{what}: the {family} toolchain ({tools_on_path} on PATH)"))
    if on_path and not findings:
        out.append(_missed("CC001", ", ".join(sorted(on_path)[:5]), "on the runtime PATH"))
    return out


def _py001(findings: list[Finding], v: View) -> list[Verdict]:
    interp = v.app_interpreter_file()
    owned = v.truth["inventory"]["python_owned_by_dpkg"].get(interp or "", False)
    out = []
    if interp is None:
        why = "the app's command runs no interpreter the probe found"
        return [_false(f, why) for f in findings]
    if owned:
        out += [_correct(f, f"the app runs {interp}, a file of a dpkg package") for f in findings]
        if not findings:
            out.append(_missed("PY001", interp, "the app's interpreter belongs to a dpkg package"))
    else:
        out += [_false(f, f"the app runs {interp}, which no dpkg package owns") for f in findings]
    return out


def _failing_stdlib(stdlib: dict[str, dict[str, Any]]) -> set[str]:
    """The optional stdlib parts PY002 asks for (criteria.md) that fail to import; _dbm and
    _gdbm are alternatives (dbm works with either), _tkinter is not on the list."""
    failing = {m for m, r in stdlib.items() if not r["ok"] and m != "_tkinter"}
    if not {"_dbm", "_gdbm"} <= failing:
        failing -= {"_dbm", "_gdbm"}
    return failing


def _py002(findings: list[Finding], v: View) -> list[Verdict]:
    interp = v.app_interpreter_file()
    env = v.envs.get(interp or "", {}) if interp else {}
    failing = _failing_stdlib(env.get("stdlib", {}))
    out = []
    reported: set[str] = set()
    for f in findings:
        ev = f.get("evidence", {})
        who = _slash(ev.get("interpreter") or f.get("path"))
        named = set(ev.get("missing") or []) | ({ev["module"]} if ev.get("module") else set())
        stdlib = v.envs.get(who, {}).get("stdlib", {})
        if who != interp and interp is not None and ev.get("module") is None:
            truly = {m for m, r in stdlib.items() if not r["ok"]}
            if f["severity"] == "info" and named <= truly:
                out.append(_correct(f, f"{sorted(named)} fail in {who}, not the app's: info"))
            else:
                out.append(_false(f, f"{who} is not the app's interpreter ({interp}): its "
                                     "stdlib is info at most (issue 15)"))  # fmt: skip
            continue
        bad = {m for m in named if m in stdlib and stdlib[m]["ok"]}
        if ev.get("module"):
            truly = {m for m, r in env.get("stdlib", {}).items() if not r["ok"]}
            ok = ev["module"].split(".")[-1] in truly
            reported.add(ev["module"].split(".")[-1])
            if ok:
                out.append(_correct(f, f"`import {ev['module']}` fails"))
            else:
                out.append(_false(f, f"`import {ev['module']}` works in the app's interpreter"))
            continue
        reported |= named
        if bad:
            out.append(_false(f, f"{sorted(bad)} import fine in {who}"))
        else:
            out.append(_correct(f, f"{sorted(named)} fail to import in {who}"))
    for m in sorted(failing - reported):
        out.append(_missed("PY002", f"{interp}: {m}", env["stdlib"][m]["error"]))
    return out


#: CPython branch end-of-life dates (devguide.python.org/versions, reviewed by hand).
PYTHON_EOL = {
    "3.7": dt.date(2023, 6, 27),
    "3.8": dt.date(2024, 10, 7),
    "3.9": dt.date(2025, 10, 31),
    "3.10": dt.date(2026, 10, 31),
    "3.11": dt.date(2027, 10, 31),
    "3.12": dt.date(2028, 10, 31),
    "3.13": dt.date(2029, 10, 31),
}


def _branch(version: str) -> str:
    return ".".join(version.split(".")[:2])


def _py003(findings: list[Finding], v: View) -> list[Verdict]:
    today = dt.datetime.now(dt.timezone.utc).date()
    versions = {p: e["version"] for p, e in v.envs.items() if e.get("runs")}
    due = {
        p: ver for p, ver in versions.items()
        if p in v.truth["inventory"]["pythons"]
        and _branch(ver) in PYTHON_EOL and (PYTHON_EOL[_branch(ver)] - today).days <= 183
    }  # fmt: skip
    out = []
    for f in findings:
        path = _slash(f.get("path"))
        if path in due:
            out.append(_correct(f, f"{path} runs Python {due[path]}"))
        else:
            out.append(_false(f, f"{path} runs Python {versions.get(path, '?')}, supported"))
    reported = {_slash(f.get("path")) for f in findings}
    for p in sorted(set(due) - reported):
        out.append(_missed("PY003", p, f"Python {due[p]} is at or near end of life"))
    return out


#: SZ001's budget (criteria.md): warning above 300 MB, info above the 200 MB target.
SIZE_WARN, SIZE_TARGET = 300_000_000, 200_000_000


def _sz001(findings: list[Finding], v: View) -> list[Verdict]:
    size = int(v.truth["size"])
    want = "warning" if size > SIZE_WARN else "info" if size > SIZE_TARGET else None
    out = []
    for f in findings:
        if want is None:
            out.append(_false(f, f"the engine says {size / 1e6:.1f} MB, under the target"))
        elif f["severity"] != want:
            out.append(_false(f, f"{size / 1e6:.1f} MB is {want} territory"))
        else:
            out.append(_correct(f, f"the engine says {size / 1e6:.1f} MB"))
    if want and not findings:
        out.append(_missed("SZ001", f"{size / 1e6:.1f} MB", f"over the budget: {want}"))
    return out


def _vendored_loads(v: View, needers: Iterable[str]) -> set[str]:
    """Names of the files inside a site-/dist-packages directory that the loader loads
    for the roots whose tree holds one of ``needers`` (auditwheel names a vendored
    library's file as the DT_NEEDED it rewrites, so a vendored name is a file name)."""
    out: set[str] = set()
    for needer in needers:
        real = os.path.realpath(needer)
        for root in v.roots:
            loads = v.elf[root].get("loads", [])
            if root != needer and real not in loads:
                continue
            out.update(
                os.path.basename(p)
                for p in loads
                if "/site-packages/" in p or "/dist-packages/" in p
            )
    return out


def _pk002(findings: list[Finding], v: View) -> list[Verdict]:
    """``allowed-but-absent``: the loader must not find the libraries. ``external``: the
    loader must not take them from inside the wheel (the criterion: neither vendored nor
    on manylinux's allowed list; whether the image has them is EL001's question), so a
    library the image's system provides is correctly external."""
    missing = set().union(*v.missing_by_root().values()) if v.missing_by_root() else set()
    out = []
    for f in findings:
        evidence = f.get("evidence", {})
        names = set(evidence.get("libraries") or [])
        if evidence.get("kind") == "external":
            needers = {p for ps in (evidence.get("needed_by") or {}).values() for p in ps}
            vendored = sorted(names & _vendored_loads(v, needers))
            if names and not vendored:
                out.append(_correct(f, f"the loader takes {sorted(names)} from outside the wheel"))
            else:
                out.append(_false(f, f"the loader loads {vendored[:4]} from the wheel (vendored)"))
            continue
        found = sorted(names - missing)
        if names and not found:
            out.append(_correct(f, f"the loader cannot find {sorted(names)}"))
        else:
            out.append(_false(f, f"the loader finds {found[:4]} (vendored or in the image)"))
    return out


def _pk003(findings: list[Finding], v: View) -> list[Verdict]:
    truly = {
        e["version"]
        for r in v.roots
        for e in v.elf[r].get("version_errors", [])
        if e["version"].startswith("GLIBC_")
    }
    out = []
    for f in findings:
        needs = f.get("evidence", {}).get("needs")
        if needs in truly:
            out.append(_correct(f, f"the loader reports {needs} not found"))
        else:
            out.append(_false(f, f"the loader reports no missing {needs or 'GLIBC version'}"))
    for version in sorted(truly - {f.get("evidence", {}).get("needs") for f in findings}):
        out.append(_missed("PK003", version, "the loader: version not found"))
    return out


ORACLES: dict[str, Callable[[list[Finding], View], list[Verdict]]] = {
    "EL001": _el001,
    "EL002": _el002,
    "SEC001": _sec001,
    "SEC002": _sec002,
    "SEC003": _sec003,
    "SEC004": _sec004,
    "SEC005": _sec005,
    "PY001": _py001,
    "PY002": _py002,
    "PY003": _py003,
    "PY007": _py007,
    "CC001": _cc001,
    "PK002": _pk002,
    "PK003": _pk003,
    "SZ001": _sz001,
}


# --------------------------------------------------------------------------- facts sections


def judge_inventory(report: Report, v: View) -> list[Verdict]:
    """facts.packages against ``importlib.metadata.distributions()`` of every interpreter
    and venv in the image, by (name, version, directory)."""
    truth: dict[tuple[str, str | None, str], str] = {}
    for python, env in v.envs.items():
        for d in env.get("distributions", []) if env.get("runs") else []:
            if d["path"] is None or d["name"] is None:
                continue
            key = (canonical(d["name"]), d["version"], os.path.dirname(d["path"].rstrip("/")))
            truth.setdefault(key, python)
    out = []
    seen = set()
    for p in report["facts"]["packages"]:
        key = (canonical(p["name"] or ""), p["version"], _slash(p["location"]).rstrip("/"))
        seen.add(key)
        subject = f"{p['name']} {p['version']} in {key[2]}"
        if key in truth:
            out.append(Verdict("inventory", "correct", subject, f"listed by {truth[key]}"))
        else:
            near = sorted(
                f"{n} {ver} in {loc}" for n, ver, loc in truth if n == key[0] and loc == key[2]
            )
            why = f"importlib.metadata lists {near}" if near else "no interpreter lists it there"
            out.append(Verdict("inventory", "false", subject, why))
    for key, python in sorted(truth.items(), key=lambda kv: str(kv[0])):
        if key not in seen:
            out.append(Verdict("inventory", "missed", f"{key[0]} {key[1]} in {key[2]}",
                               f"listed by {python}"))  # fmt: skip
    return out


def judge_pythons(report: Report, v: View) -> list[Verdict]:
    """facts.pythons: each interpreter's version must be its full version (3.11.2)."""
    out = []
    found = set()
    for p in report["facts"]["pythons"]:
        path = _slash(p["path"])
        found.add(path)
        env = v.envs.get(path)
        version = p.get("full_version") or p.get("version")
        subject = f"{path} {version}"
        if env is None or not env.get("runs"):
            out.append(Verdict("pythons", "false", subject, "no interpreter the probe ran"))
        elif version == env["version"]:
            out.append(Verdict("pythons", "correct", subject, "sys.version agrees"))
        else:
            out.append(Verdict("pythons", "false", subject, f"it says {env['version']}"))
    for path in sorted(set(v.truth["inventory"]["pythons"]) - found):
        out.append(Verdict("pythons", "missed", path, "an interpreter the probe ran"))
    return out


# --------------------------------------------------------------------------- reviewed checks


def load_expected(path: Path = EXPECTED) -> dict[str, dict[str, dict[str, Any]]]:
    """image -> check -> rule (see :func:`judge_reviewed`); image ``*`` holds the rules
    for every image that has none of its own for that check."""
    with open(path, "rb") as fh:
        data: dict[str, dict[str, dict[str, Any]]] = tomllib.load(fh)
    return data


def _rule_for(finding: Finding, rule: dict[str, Any]) -> dict[str, Any]:
    """The most specific rule for one finding: the first ``findings`` entry whose
    ``match`` occurs in its message or path, else the check-wide rule."""
    text = finding["message"] + " " + _slash(finding.get("path"))
    for sub in rule.get("findings", []):
        if sub["match"] in text:
            return {"fires": sub["correct"], **sub}
    return rule


def judge_reviewed(
    check: str, findings: list[Finding], rule: dict[str, Any] | None
) -> list[Verdict]:
    """A check without an oracle against reviewed expectations (expected.toml).

    A rule says whether the check should fire on the image (``fires``), why
    (``reason``), optionally at which ``severity`` and at most how many findings
    (``max``); ``findings`` entries refine it per finding by a ``match`` substring. A
    check that should fire and has no correct finding is a miss.
    """
    if rule is None:
        return [_false(f, "not reviewed: add it to expected.toml") for f in findings]
    out = []
    limit = int(rule.get("max", len(findings)))
    kept = 0
    for f in findings:
        r = _rule_for(f, rule)
        if not r["fires"]:
            out.append(_false(f, r["reason"]))
        elif r.get("severity") and f["severity"] != r["severity"]:
            out.append(_false(f, f"should be {r['severity']}, not {f['severity']}: {r['reason']}"))
        elif kept >= limit:
            out.append(_false(f, f"more than {limit} findings for it: {r['reason']}"))
        else:
            kept += 1
            out.append(_correct(f, r["reason"]))
    if rule["fires"] and not kept:
        out.append(_missed(check, "-", rule["reason"]))
    return out


# --------------------------------------------------------------------------- entry point


def judge_image(
    name: str, report: Report, truth: Truth, expected: dict[str, dict[str, dict[str, Any]]]
) -> dict[str, list[Verdict]]:
    """Every check run on the image (plus ``inventory`` and ``pythons``) -> its verdicts."""
    v = View(truth)
    by_check: dict[str, list[Finding]] = {}
    for f in report["findings"]:
        by_check.setdefault(f["check_id"], []).append(f)
    checks = sorted({r["check_id"] for r in report["results"]} | set(by_check))
    verdicts: dict[str, list[Verdict]] = {}
    for check in checks:
        findings = by_check.get(check, [])
        oracle = ORACLES.get(check)
        if oracle is not None:
            verdicts[check] = oracle(findings, v)
        else:
            rule = expected.get(name, {}).get(check) or expected.get("*", {}).get(check)
            verdicts[check] = judge_reviewed(check, findings, rule)
    verdicts["inventory"] = judge_inventory(report, v)
    verdicts["pythons"] = judge_pythons(report, v)
    return verdicts
