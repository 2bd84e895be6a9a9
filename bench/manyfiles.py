"""Generate (never store) a synthetic 4-layer image of many small files.

Why: real images with 300k-1M files exist (node/python monorepos, conda stacks, ML
images), and there the cost of a scan is per tar entry, not per byte: headers, the
index, the merge, the walks of facts and checks, the report. The big bench image
(bench/build_image.py) has 100k entries; this one has as many as asked for, in the
same shape at every count, so that 100k and 1M files compare (time linear in entries).

The shape, per 1,000 files (seeded, so the same count gives the same bytes):

- layer 0, 10%: a base: `etc/os-release`, `etc/passwd`, `etc/group`, and
  `usr/share/doc`-like trees of text files;
- layer 1, 40%: a Python tree under `opt/venv/lib/python3.11/site-packages`: packages
  of modules (`.py`) with their `__pycache__/*.cpython-311.pyc`, data files;
- layer 2, 40%: a node tree under `srv/app/node_modules`: `.js`, `.json`, `.md`;
- layer 3, 10%: the app's sources under `srv/app/src`, a rewrite of 1% of layer 2's
  files (waste), and whiteouts of three of layer 1's packages.

Every file holds 40-400 bytes (one tar block), so an entry is ~1 KiB of archive: 1M
files make a ~1 GB uncompressed docker-archive. Every directory is listed before its
children, with explicit metadata (machine-notes: engines differ on implied parents).

    python3 -m bench.manyfiles 1000000 OUT.tar     # one image
    python3 -m bench.manyfiles --bench             # 100k and 1M files: tar -t, imgaudit
                                                   # cold/warm, dive; RESULTS.md section
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import random
import shutil
import sys
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.run import Results, Row  # noqa: E402

MTIME = 1_700_000_000
SEED = 20
FILES_PER_DIR = 24
SHARES = (0.10, 0.40, 0.40, 0.10)  # of the files, per layer
CREATED_BY = (
    "/bin/sh -c #(nop) ADD file:base in /",
    "RUN /opt/venv/bin/pip install -r requirements.txt",
    "RUN npm ci",
    "COPY src /srv/app/src",
)
_WORDS = (
    "import", "return", "value", "config", "module", "export", "default", "function",
    "const", "self", "data", "path", "name", "items", "result", "error", "options",
)  # fmt: skip


@dataclass(frozen=True)
class ManyFilesImage:
    archive: Path
    files: int  # regular files written, all layers
    entries: int  # tar entries, all layers (directories and whiteouts included)


def _corpus(rng: random.Random) -> bytes:
    """4 MiB of words: each file is a slice of it at a random offset (content differs
    from file to file, as a duplicate-content check would expect of real trees, and
    1M files cost one slice each rather than ~40 random draws)."""
    return " ".join(rng.choice(_WORDS) for _ in range(700_000)).encode()


_CORPUS: dict[int, bytes] = {}


def _text(rng: random.Random) -> bytes:
    corpus = _CORPUS.get(SEED)
    if corpus is None:
        corpus = _CORPUS[SEED] = _corpus(random.Random(SEED + 1))
    size = rng.randint(40, 400)
    start = rng.randrange(len(corpus) - size)
    return corpus[start : start + size - 1] + b"\n"


class _LayerWriter:
    """One layer tar: directories before their children, each once."""

    def __init__(self, path: Path) -> None:
        self.fh = open(path, "wb")  # noqa: SIM115 - closed in finish()
        self.tar = tarfile.open(fileobj=self.fh, mode="w", format=tarfile.PAX_FORMAT)  # noqa: SIM115
        self.dirs: set[str] = set()
        self.files = 0
        self.entries = 0

    def _info(self, name: str, kind: bytes, size: int = 0, mode: int = 0o644) -> tarfile.TarInfo:
        info = tarfile.TarInfo(name)
        info.type, info.size, info.mode, info.mtime = kind, size, mode, MTIME
        info.uname = info.gname = "root"
        return info

    def directory(self, path: str) -> None:
        if not path or path in self.dirs:
            return
        self.directory(path.rpartition("/")[0])
        self.dirs.add(path)
        self.tar.addfile(self._info(path, tarfile.DIRTYPE, mode=0o755))
        self.entries += 1

    def file(self, path: str, data: bytes, mode: int = 0o644) -> None:
        self.directory(path.rpartition("/")[0])
        self.tar.addfile(self._info(path, tarfile.REGTYPE, len(data), mode), io.BytesIO(data))
        self.files += 1
        self.entries += 1

    def whiteout(self, path: str) -> None:
        parent, _, name = path.rpartition("/")
        self.directory(parent)
        self.tar.addfile(self._info(f"{parent}/.wh.{name}", tarfile.REGTYPE))
        self.entries += 1

    def finish(self) -> None:
        self.tar.close()
        self.fh.close()


def _base(w: _LayerWriter, rng: random.Random, count: int) -> None:
    w.file("etc/os-release", b'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\n'
           b'VERSION_ID="12"\n')  # fmt: skip
    w.file("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n")
    w.file("etc/group", b"root:x:0:\napp:x:1000:\n")
    for i in range(count - 3):
        d, f = divmod(i, FILES_PER_DIR)
        w.file(f"usr/share/doc/pkg{d // 40:03d}/part{d % 40:02d}/file{f:02d}.txt", _text(rng))


def _python(w: _LayerWriter, rng: random.Random, count: int) -> list[str]:
    """Modules in pairs (.py + its .pyc); returns the package directories."""
    site = "opt/venv/lib/python3.11/site-packages"
    packages: list[str] = []
    written = 0
    d = 0
    while written < count:
        package = f"{site}/pkg{d // 20:04d}"
        if not packages or packages[-1] != package:
            packages.append(package)
        sub = f"{package}/sub{d % 20:02d}"
        for f in range(min(FILES_PER_DIR // 2, (count - written + 1) // 2)):
            w.file(f"{sub}/mod{f:02d}.py", _text(rng))
            written += 1
            if written < count:
                pyc = b"\xa7\r\r\n" + bytes(12) + _text(rng)
                w.file(f"{sub}/__pycache__/mod{f:02d}.cpython-311.pyc", pyc)
                written += 1
        d += 1
    return packages


def _node(w: _LayerWriter, rng: random.Random, count: int) -> list[str]:
    modules = "srv/app/node_modules"
    paths: list[str] = []
    suffixes = ("js", "js", "js", "json", "md", "d.ts")
    for i in range(count):
        d, f = divmod(i, FILES_PER_DIR)
        path = f"{modules}/mod{d // 30:04d}/lib{d % 30:02d}/f{f:02d}.{suffixes[f % len(suffixes)]}"
        w.file(path, _text(rng))
        paths.append(path)
    return paths


def _app(w: _LayerWriter, rng: random.Random, count: int, node: list[str],
         packages: list[str]) -> None:  # fmt: skip
    rewrites = node[::100][: max(1, count // 10)]  # 1% of layer 2 (waste)
    # Three whole packages whited out, at every count: dive re-stacks every lower layer
    # per whiteout (its cost grows with whiteouts x files), so a count that grew with
    # the image would measure that, not a scan of many files.
    gone = packages[1 : 1 + 3 * max(1, len(packages) // 4) : max(1, len(packages) // 4)][:3]
    for path in gone:
        w.whiteout(path)
    for path in rewrites:
        w.file(path, _text(rng))
    for i in range(max(0, count - len(rewrites))):
        d, f = divmod(i, FILES_PER_DIR)
        w.file(f"srv/app/src/area{d // 30:03d}/part{d % 30:02d}/view{f:02d}.py", _text(rng))


def _layers(files: int, workdir: Path) -> Iterator[tuple[Path, _LayerWriter]]:
    rng = random.Random(SEED)
    counts = [int(files * share) for share in SHARES]
    counts[-1] += files - sum(counts)
    writers = [_LayerWriter(workdir / f"layer{i}.tar") for i in range(4)]
    _base(writers[0], rng, counts[0])
    packages = _python(writers[1], rng, counts[1])
    node = _node(writers[2], rng, counts[2])
    _app(writers[3], rng, counts[3], node, packages)
    for i, w in enumerate(writers):
        w.finish()
        yield workdir / f"layer{i}.tar", w


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return "sha256:" + h.hexdigest()


def write_image(files: int, out: Path) -> ManyFilesImage:
    """The docker-archive (legacy `docker save` layout, uncompressed layers) at `out`,
    written to a temporary name first (an interrupted run leaves no half archive)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="manyfiles-", dir=out.parent) as tmp:
        workdir = Path(tmp)
        layers = list(_layers(files, workdir))
        diff_ids = [_sha256(path) for path, _ in layers]
        config = {
            "architecture": "amd64",
            "os": "linux",
            "created": "2026-01-01T00:00:00Z",
            "config": {"User": "1000", "Cmd": ["node", "/srv/app/src/index.js"],
                       "WorkingDir": "/srv/app"},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "history": [{"created": "2026-01-01T00:00:00Z", "created_by": c}
                        for c in CREATED_BY],
        }  # fmt: skip
        config_bytes = json.dumps(config, sort_keys=True).encode()
        config_name = hashlib.sha256(config_bytes).hexdigest() + ".json"
        partial = out.with_name(out.name + ".partial")
        with tarfile.open(partial, "w", format=tarfile.PAX_FORMAT) as tar:
            _add(tar, config_name, config_bytes)
            names = []
            for (path, _), diff_id in zip(layers, diff_ids):
                name = f"{diff_id.partition(':')[2]}/layer.tar"
                with open(path, "rb") as fh:
                    info = tarfile.TarInfo(name)
                    info.size, info.mtime = path.stat().st_size, MTIME
                    tar.addfile(info, fh)
                path.unlink()
                names.append(name)
            manifest = [{"Config": config_name, "RepoTags": [f"imgaudit-bench/many:{files}"],
                         "Layers": names}]  # fmt: skip
            _add(tar, "manifest.json", json.dumps(manifest).encode())
        partial.replace(out)
    return ManyFilesImage(out, sum(w.files for _, w in layers),
                          sum(w.entries for _, w in layers))  # fmt: skip


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mtime = len(data), MTIME
    tar.addfile(info, io.BytesIO(data))


def ensure_image(files: int, root: Path) -> Path:
    """The archive for `files` files under `root`, generated when missing."""
    out = root / f"many-{files}.docker.tar"
    if not out.exists():
        print(f"[bench] generating {out} ({files} files)", file=sys.stderr, flush=True)
        write_image(files, out)
    return out


# --------------------------------------------------------------------------- the bench

#: The counts measured; the ratio of the two is the "time linear in entries" target.
COUNTS = (100_000, 1_000_000)
SECTION_START = "<!-- manyfiles: written by python3 -m bench.manyfiles --bench -->"
SECTION_END = "<!-- /manyfiles -->"


def _tar_t(archive: Path) -> Row:
    """`tar -t` over every layer (head -c | tar -t, layer after layer): the cost of
    listing the entries and nothing else, the floor a per-entry scan is compared with."""
    from bench.run import _layers, _seconds, _shell_over_blob, _slice, _total

    slices = [_slice(layer) for layer in _layers(f"docker-archive:{archive}")]
    wall, cpu = _total([_seconds(_shell_over_blob, s, "tar -t") for s in slices])
    return Row("`tar -t` every layer", wall, cpu=cpu)


def measure_count(files: int, root: Path, workdir: Path, dive: str | None) -> Results:
    """One image: `tar -t`, imgaudit cold and warm, dive; `x floor` = `tar -t`."""
    from bench.run import _imgaudit, _row, machine, run_measured

    archive = ensure_image(files, root)
    res = Results(machine=machine(), image={"files": files,
                  "archive": f"{archive.stat().st_size / 1e6:.0f} MB"})  # fmt: skip
    listing = res.add(_tar_t(archive))
    res.floor, res.floor_name = listing.seconds or 0.0, "`tar -t` over every layer"
    cache = Path(tempfile.mkdtemp(prefix="cache-", dir=workdir))
    reference = f"docker-archive:{archive}"
    try:
        cold = _imgaudit(reference, cache)
        res.add(_row("imgaudit cold", cold, "empty cache"))
        warm = _imgaudit(reference, cache)
        res.add(_row("imgaudit warm", warm, f"{100 * warm.seconds / cold.seconds:.1f}% of cold"))
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    if dive is None:
        res.add(Row("dive CI mode", None, note="dive not installed"))
    else:
        run = run_measured([dive, "--source", "docker-archive", str(archive)],
                           env={**os.environ, "CI": "true"})  # fmt: skip
        res.add(_row("dive CI mode", run, f"exit {run.returncode}"))
    return res


def _get(res: Results, prefix: str) -> Row | None:
    return next((r for r in res.rows if r.what.startswith(prefix)), None)


def verdicts(by_count: dict[int, Results]) -> list[str]:
    """The issue's many-file targets, checked against this run."""

    def ok(good: bool) -> str:
        return "met" if good else "NOT met"

    lines: list[str] = []
    big = by_count.get(max(by_count))
    small = by_count.get(min(by_count))
    if big is None:
        return lines
    cold, dive = _get(big, "imgaudit cold"), _get(big, "dive")
    n = max(by_count)
    if cold and dive and cold.seconds and dive.seconds:
        r = cold.seconds / dive.seconds
        lines.append(f"- {n:,} files: cold <= 0.5x dive (wall): {r:.2f}x, {ok(r <= 0.5)}")
        if cold.cpu and dive.cpu:
            r = cold.cpu / dive.cpu
            lines.append(f"- {n:,} files: cold <= 0.5x dive (CPU): {r:.2f}x, {ok(r <= 0.5)}")
    if cold and cold.pss_tree_mb:
        p = cold.pss_tree_mb
        lines.append(f"- {n:,} files: peak PSS, process tree <= 250 MB: {p:.0f} MB, {ok(p <= 250)}")
    if small is not None and small is not big:
        scold = _get(small, "imgaudit cold")
        m = min(by_count)
        if cold and scold and cold.seconds and scold.seconds:
            r = cold.seconds / scold.seconds
            lines.append(f"- time linear in entries, cold {n:,} / {m:,} files <= 11x (wall): "
                         f"{r:.1f}x, {ok(r <= 11)}")  # fmt: skip
            if cold.cpu and scold.cpu:
                r = cold.cpu / scold.cpu
                lines.append(f"- time linear in entries (CPU): {r:.1f}x, {ok(r <= 11)}")
    warm = _get(big, "imgaudit warm")
    if cold and warm and cold.seconds and warm.seconds:
        p = 100 * warm.seconds / cold.seconds
        lines.append(f"- {n:,} files: warm <= 5% of cold: {p:.1f}%, {ok(p <= 5)}")
    return lines


def render_section(by_count: dict[int, Results]) -> str:
    from bench.run import render_table

    any_res = next(iter(by_count.values()))
    m = any_res.machine
    out = [SECTION_START, "## Many small files (bench/manyfiles.py)", "",
           f"Synthetic 4-layer docker-archive, uncompressed layers, generated by "
           f"`python3 -m bench.manyfiles`; {m['nproc']} cores, {m['date']} UTC. "
           f"`x floor` = `tar -t` over the same layers.", ""]  # fmt: skip
    for files, res in sorted(by_count.items()):
        out += [f"### {files:,} files ({res.image['archive']})", "", render_table(res), ""]
    out += ["### Targets", "", *verdicts(by_count), "", SECTION_END]
    return "\n".join(out)


def write_section(results: Path, section: str) -> None:
    """Replace (or append) the many-files section of RESULTS.md, keeping the rest."""
    text = results.read_text() if results.exists() else ""
    if SECTION_START in text and SECTION_END in text:
        head, _, rest = text.partition(SECTION_START)
        _, _, tail = rest.partition(SECTION_END)
        text = head + section + tail
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    results.write_text(text)


def bench(counts: tuple[int, ...], results: Path | None) -> dict[int, Results]:
    from bench.build_image import cache_root
    from bench.run import bench_venv, compile_package

    compile_package()
    root = cache_root() / "many"
    dive = str(bench_venv() / "bin" / "dive")
    workdir = Path(tempfile.mkdtemp(prefix="many-", dir=cache_root()))
    try:
        by_count = {n: measure_count(n, root, workdir, dive) for n in counts}
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    section = render_section(by_count)
    print(section)
    if results is not None:
        write_section(results, section)
    return by_count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", type=int, nargs="?", help="generate one image of this many files")
    parser.add_argument("out", type=Path, nargs="?")
    parser.add_argument("--bench", action="store_true",
                        help="measure --counts files, update RESULTS.md")  # fmt: skip
    parser.add_argument("--counts", type=int, nargs="+", default=list(COUNTS))
    parser.add_argument("--results", type=Path, default=Path(__file__).parent / "RESULTS.md")
    args = parser.parse_args(argv)
    if args.bench:
        bench(tuple(args.counts), args.results)
        return 0
    if args.files is None or args.out is None:
        parser.error("FILES OUT, or --bench")
    image = write_image(args.files, args.out)
    print(f"{image.archive}\t{image.files} files\t{image.entries} entries\t"
          f"{image.archive.stat().st_size / 1e6:.0f} MB")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
