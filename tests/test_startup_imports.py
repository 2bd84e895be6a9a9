"""Start-up stays lean: what `imgaudit` imports before and during a JSON scan.

Not timed (timings are flaky on shared machines): the structure that keeps start-up
cheap is asserted instead. Heavy dependencies are imported where they are used
(README "Performance"): Dask and the registry client by `fleet`, requests by the
registry transport, the docker SDK by the engine transport, tabulate by table output,
python-debian where a dpkg database or a Packages index is parsed, pyelftools where
an ELF file is parsed. None of them may come back at module level on the scan path.
Each check runs in a fresh interpreter: this process has imported everything already.
"""

from __future__ import annotations

import json
import os
import pkgutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from auditor.fleet import view as fleet_view
from auditor.report import diffview, historyview
from auditor.report.formats import DOCUMENT_FORMATS
from tests.factory import File, ImageSpec, Layer, build, write_docker_archive

REPO = Path(__file__).resolve().parent.parent

# Top-level packages a docker-archive scan with JSON output never needs.
NOT_ON_SCAN_PATH = (
    "dask",
    "distributed",
    "docker",
    "requests",
    "urllib3",
    "debian",
    "tabulate",
    "elftools",
    "auditwheel",
    "psycopg",
)


# What only reading layers or computing facts needs (README "Performance").
READ_OR_COMPUTED = {
    "auditor.layers",
    "auditor.tarstream",
    "auditor.elf",
    "auditor.indexcodec",
    "auditor.second_process",
    "multiprocessing",
    "auditor.facts.distributions",
    "auditor.facts.elfgraph",
    "auditor.facts.pythons",
    "auditor.facts.compilers",
    "auditor.facts.owners",
    "auditor.facts.permissions",
    # the models themselves: checks name entry kinds from auditor.kinds, and the caches
    # the index format from auditor.indexformat
    "auditor.fs",
    "auditor.layerindex",
    "auditor.elffacts",
}


def _modules_after(code: str, env: dict[str, str] | None = None) -> set[str]:
    """Module names in `sys.modules` after running `code` in a fresh interpreter."""
    script = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    proc = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return set(json.loads(proc.stdout.splitlines()[-1]))


def _json_scan_of(spec: ImageSpec, archive: Path) -> str:
    """Code that scans `spec` (written to `archive`) as the command line does, JSON out."""
    write_docker_archive(build(spec), archive)
    return (
        "import contextlib, io\n"
        "from auditor.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        f"    main(['scan', 'docker-archive:{archive}', '--format', 'json', '--quiet'])"
    )


def _heavy(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if m.split(".")[0] in NOT_ON_SCAN_PATH)


def test_cli_and_scan_command_import_nothing_heavy() -> None:
    modules = _modules_after("import auditor.cli, auditor.commands.scan")
    assert "auditor.commands.scan" in modules
    assert _heavy(modules) == []
    # what only other commands run: `fleet`, `diff` and `history` import it in execute
    assert not modules & {
        "auditor.fleet.command",
        "auditor.fleet.engine",
        "auditor.fleet.tasks",
        "auditor.sources.registry",
        "auditor.sources.daemon",
        "auditor.diff",
        "auditor.report.diffview",
        "auditor.report.historyview",
        "auditor.report.table",
    }


def test_import_auditor_is_cheap_and_the_api_comes_on_first_use() -> None:
    """`import auditor` (every process, the CLI's first line) loads no other module of
    ours; `from auditor import audit` loads the pipeline, still nothing heavy."""
    modules = _modules_after("import auditor")
    assert {m for m in modules if m.split(".")[0] == "auditor"} == {"auditor"}
    modules = _modules_after("from auditor import audit, Report, Settings")
    assert "auditor.pipeline" in modules
    assert _heavy(modules) == []


def test_warm_json_scan_of_a_docker_archive_imports_nothing_heavy(tmp_path: Path) -> None:
    """The whole command, run twice (the second from the layer cache). The image has no
    ELF file and no dpkg database, so nothing on this path has a reason to import
    pyelftools or python-debian: only transport, format and fleet code could."""
    spec = ImageSpec(
        layers=[
            Layer([File("etc/os-release", b'ID=debian\nVERSION_ID="12"\n')], "ADD rootfs /"),
            Layer([File("app/main.py", b"print('hi')\n")], "COPY app /app"),
        ],
        config={"Cmd": ["python3", "/app/main.py"]},
    )
    scan = _json_scan_of(spec, tmp_path / "app.tar")
    env = {"IMGAUDIT_CACHE_DIR": str(tmp_path / "cache")}
    _modules_after(scan, env)  # cold: fills the layer cache
    modules = _modules_after(scan, env)
    assert "auditor.report.json_format" in modules  # the scan did run and render
    assert _heavy(modules) == []
    assert "auditor.sources.registry" not in modules


def test_a_scan_answered_from_the_result_cache_parses_no_python_metadata(tmp_path: Path) -> None:
    """The second run of the same scan reads no layer (the result cache answers): the
    parsers facts use on an image's Python metadata (packaging's metadata, requirements
    and tags modules, and the email package under them: ~20 ms of start-up) are not
    imported. The first run computes the facts, and does import them."""
    spec = ImageSpec(
        layers=[
            Layer([File("etc/os-release", b'ID=debian\nVERSION_ID="12"\n')], "ADD rootfs /"),
            Layer(
                [
                    File("usr/lib/python3/dist-packages/six-1.16.0.dist-info/METADATA",
                         b"Metadata-Version: 2.1\nName: six\nVersion: 1.16.0\n"),
                    File("usr/lib/python3/dist-packages/six.py", b"# six\n"),
                ],
                "RUN pip install six",
            ),
        ],
    )  # fmt: skip
    scan = _json_scan_of(spec, tmp_path / "app.tar")
    parsers = {"packaging.metadata", "packaging.requirements", "packaging.tags", "email.parser"}
    env = {"IMGAUDIT_CACHE_DIR": str(tmp_path / "cache")}
    computed = _modules_after(scan, env)
    assert parsers <= computed  # the facts were computed: the parsers were needed
    answered = _modules_after(scan, env)
    assert "auditor.report.json_format" in answered  # the scan did run and render
    assert not parsers & answered
    # nor the layer reader, the facts' own modules or the second process's machinery
    assert not READ_OR_COMPUTED & answered
    assert READ_OR_COMPUTED - {"auditor.second_process", "multiprocessing"} <= computed
    # nor what only a check's own work, a compressed archive or a broken check needs:
    # ini parsing (SEC008), version ordering (PY004, the stdlib table), top-N
    # selection, zstandard (and the `platform` module it imports), tracebacks
    deferred = {"configparser", "packaging.version", "heapq", "zstandard", "platform", "traceback"}
    assert not deferred & answered
    # nor, without --dockerfile, the Dockerfile parser and matcher; nor sqlite3 when
    # the history store is not used (no --baseline last, no recording)
    assert not {"auditor.dockerfile", "auditor.dockerfile_match", "sqlite3"} & (answered | computed)


def _two_layer_archive(tmp_path: Path) -> Path:
    """A small two-layer image as a docker-archive: two layers, so workers read them."""
    spec = ImageSpec(
        layers=[
            Layer([File("etc/os-release", b'ID=debian\nVERSION_ID="12"\n')], "ADD rootfs /"),
            Layer([File("app/main.py", b"print('hi')\n")], "COPY app /app"),
        ],
    )
    archive = tmp_path / "app.tar"
    write_docker_archive(build(spec), archive)
    return archive


def test_a_cold_scan_imports_the_facts_modules_while_its_layers_are_read(
    tmp_path: Path,
) -> None:
    """With worker processes reading the layers, this process imports what the facts
    need meanwhile (`auditor.facts.preload`): by the time the layers are merged, before
    any fact is computed, the modules are there."""
    archive = _two_layer_archive(tmp_path)
    code = (
        "from auditor.facts import Facts\n"
        "from auditor.loading import LoadOptions, open_loaded\n"
        f"loaded = open_loaded('docker-archive:{archive}', LoadOptions(use_cache=False, jobs=2))\n"
        "Facts(loaded).read_layers()\n"
    )
    modules = _modules_after(code)
    assert "auditor.layers" in modules
    package = Path(__file__).resolve().parent.parent / "auditor" / "facts"
    facts_modules = {f"auditor.facts.{m.name}" for m in pkgutil.iter_modules([str(package)])}
    assert "auditor.facts.distributions" in facts_modules  # the listing found them
    assert facts_modules <= modules
    assert {"packaging.metadata", "packaging.requirements", "packaging.tags"} <= modules
    assert "debian.deb822" in modules  # the dpkg fact's parser (most bases have dpkg)


def test_a_cold_scan_starts_its_layer_workers_before_it_imports_the_checks(
    tmp_path: Path,
) -> None:
    """The checks (~20 ms of imports) are imported while the workers read the layers,
    not before the first is forked; a config that names no check does not need them
    (the pipeline's `_KnownChecks`). A warm scan still imports them, to recall results."""
    archive = _two_layer_archive(tmp_path)
    code = (
        "import sys\n"
        "from auditor import cli, layers\n"
        "read = layers._read_in_workers\n"
        "seen = []\n"
        "def spy(*args, **kwargs):\n"
        "    seen.append('auditor.checks' in sys.modules)\n"
        "    return read(*args, **kwargs)\n"
        "layers._read_in_workers = spy\n"
        f"code = cli.main(['scan', 'docker-archive:{archive}', '--quiet', '--format', 'json',"
        " '--jobs', '2'])\n"
        "assert code in (0, 1), code\n"
        "assert seen == [False], seen\n"
    )
    env = {"IMGAUDIT_CACHE_DIR": str(tmp_path / "cache")}
    assert "auditor.checks" in _modules_after(code, env)  # imported, and run, after
    assert "auditor.checks" in _modules_after(code.replace("[False]", "[]"), env)  # warm


@pytest.mark.parametrize("view", [diffview, historyview, fleet_view])
def test_document_format_choices_match_the_renderers(view: ModuleType) -> None:
    """The parsers of `diff`, `history` and `fleet` offer DOCUMENT_FORMATS without
    importing the renderers: the two lists must stay the same."""
    assert sorted(view.FORMATS) == sorted(DOCUMENT_FORMATS)
