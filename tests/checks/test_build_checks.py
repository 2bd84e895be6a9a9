"""BL001-BL004 against factory images: history order, toolchains, timestamps, layers."""

from __future__ import annotations

import importlib.util
import os
import py_compile
import shutil
from pathlib import Path

import pytest

from auditor.checks import (
    bl001_cache_unfriendly_order,
    bl002_single_stage,
    bl003_not_reproducible,
    bl004_layers,
)
from auditor.findings import Status
from tests.checks.support import debian_base, image, run, status, summary
from tests.factory import MTIME, Dir, File, Layer, Symlink, host_file

CREATED = 1_793_491_200  # 2026-11-01T00:00:00Z: the factory's history time


def steps(*created_by: str) -> list[Layer]:
    return [Layer([File(f"step{i}", b"x" * 2048)], c) for i, c in enumerate(created_by)]


# ---- BL001 ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "history",
    [
        (
            "COPY requirements.txt /app/ # buildkit",
            "RUN pip install -r /app/requirements.txt # buildkit",
            "COPY . /app # buildkit",
            "RUN pip install --no-deps /app # buildkit",
        ),
        (
            "/bin/sh -c #(nop) COPY file:0a1b in /app/requirements.txt",
            "/bin/sh -c pip install -r /app/requirements.txt",
            "/bin/sh -c #(nop) COPY dir:9f8e in /app",
        ),
        ("COPY pyproject.toml poetry.lock ./", "RUN poetry install --no-root", "COPY src/ ./src/"),
        ("COPY . /app",),
        ("COPY . /app", "RUN pip install gunicorn==23.0.0"),
        # a base's root filesystem as the first layer, no base boundary known (no CMD in
        # the history): the legacy builder's `COPY --from=rootfs / /` of a Debian image
        (
            "/bin/sh -c #(nop) COPY dir:cdc7ef8da262c816 in / ",
            "/bin/sh -c #(nop) WORKDIR /app",
            "/bin/sh -c #(nop) COPY file:0a1b in /app/requirements.txt",
            "/bin/sh -c pip install --no-cache-dir -r requirements.txt",
            "/bin/sh -c #(nop) COPY dir:9f8e in /app",
        ),
        ("COPY . / # buildkit", "RUN pip install -r /requirements.txt # buildkit"),
    ],
)
def test_bl001_good_orders_pass(tmp_path: Path, history: tuple[str, ...]) -> None:
    assert run(bl001_cache_unfriendly_order, image(*steps(*history)), tmp_path) == []


@pytest.mark.parametrize(
    ("history", "layer"),
    [
        (
            (
                "ADD rootfs.tar /",
                "COPY . /app # buildkit",
                "RUN pip install -r /app/requirements.txt # buildkit",
            ),
            2,
        ),
        (
            (
                "ADD file:abc in /",
                "/bin/sh -c #(nop) COPY dir:9f8e in /app",
                "/bin/sh -c python -m pip install /app",
            ),
            2,
        ),
        (("COPY --chown=app:app . .", "RUN uv sync --frozen"), 1),
        # the same source copy into / is the app's once it is not the first layer
        (("ADD file:abc in /", "COPY dir:9f8e in /", "RUN pip install -r requirements.txt"), 2),
        (
            (
                "RUN pip install --no-cache-dir setuptools==75.0 wheel  # the python base's",
                "COPY . /app",
                "RUN pip install --no-cache-dir -r /app/requirements.txt",
            ),
            2,
        ),
    ],
)
def test_bl001_source_before_install(tmp_path: Path, history: tuple[str, ...], layer: int) -> None:
    found = run(bl001_cache_unfriendly_order, image(*steps(*history)), tmp_path)
    assert summary(found) == [("BL001", "warning", None)]
    assert found[0].layer == layer


@pytest.mark.parametrize(
    ("copied", "flagged"),
    [
        (
            ["wheels/numpy-2.1.0-cp311-cp311-manylinux_2_17_x86_64.whl", "wheels/requirements.txt"],
            False,
        ),
        (["wheels/numpy-2.1.0-cp311-cp311-manylinux_2_17_x86_64.whl", "wheels/app.py"], True),
        # `pip download` of a package with no wheel for the platform leaves its sdist
        # (Debian's python3 image built psycopg2-2.9.13.tar.gz and docopt-0.6.2.tar.gz)
        (
            [
                "wheels/flask-3.1.3-py3-none-any.whl",
                "wheels/psycopg2-2.9.13.tar.gz",
                "wheels/docopt-0.6.2.tar.gz",
                "wheels/pyodbc-5.2.0.zip",
            ],
            False,
        ),
        (["wheels/flask-3.1.3-py3-none-any.whl", "wheels/app.tar.gz"], True),
    ],
)
def test_bl001_a_wheelhouse_copied_first_is_no_source(
    tmp_path: Path, copied: list[str], flagged: bool
) -> None:
    """`COPY wheels /wheels` then `pip install --no-index --find-links /wheels -r ...`:
    the legacy builder's history says only `COPY dir:<hash> in /wheels`, the layer says
    what was copied. A Python file among the wheels makes it a source copy again."""
    nop = "/bin/sh -c #(nop) "
    layers = [
        Layer([File(p, b"x" * 100) for p in copied], f"{nop}COPY dir:e0bb in /wheels "),
        Layer(
            [File("usr/local/lib/python3.11/site-packages/numpy/__init__.py", b"")],
            "/bin/sh -c pip install --no-index --find-links /wheels -r /wheels/requirements.txt",
        ),
        Layer([File("app/main.py", b"x" * 2048)], "COPY . /app # buildkit"),
    ]
    found = run(bl001_cache_unfriendly_order, image(*layers), tmp_path)
    assert [f.evidence["copy_layer"] for f in found] == ([0] if flagged else [])


def test_bl001_is_skipped_for_an_imported_image(tmp_path: Path) -> None:
    """`docker export` of a container, then `docker import --change 'CMD [...]'`: one
    layer, and a history whose one entry names no step ("Imported from -"). What order
    the build ran in is not in the image: BL001 passed the image (a claim that the order
    is cache-friendly); it is skipped, saying why."""
    squashed = Layer(
        [
            File("app/requirements.txt", b"requests\n"),
            File("app/app.py", b"import requests\n"),
            File("opt/venv/pyvenv.cfg", b"home = /usr/local/bin\n"),
        ],
        created_by="",
    )
    found, reason = status(bl001_cache_unfriendly_order, image(squashed, Cmd=["python"]), tmp_path)
    assert found == Status.SKIPPED
    assert reason is not None and "names no build step" in reason


def test_bl001_only_the_teams_own_steps_count(tmp_path: Path) -> None:
    """A base whose own Dockerfile copies a tree before installing from it (its boundary
    inferred from the history: its CMD, then more layers) is the base's business; the
    team's manifest-first order on top of it passes. The same steps without the CMD
    (no boundary known) are all the team's: a finding."""
    nop = "/bin/sh -c #(nop) "
    base = steps(
        f"{nop}COPY dir:cdc7ef8da262c816 in / ",
        f"{nop}COPY dir:aa11 in /opt/tool ",
        "/bin/sh -c pip install -r /opt/tool/requirements.txt",
    )
    own = [
        Layer([File("app/requirements.txt", b"flask\n")], f"{nop}COPY file:0a1b in /app/ "),
        Layer([File("site/flask.py", b"x" * 2048)], "/bin/sh -c pip install -r requirements.txt"),
        Layer([File("app/main.py", b"x" * 2048)], f"{nop}COPY dir:9f8e in /app "),
    ]
    base[-1].after = [f'{nop}CMD ["python3"]']
    assert run(bl001_cache_unfriendly_order, image(*base, *own), tmp_path) == []
    base[-1].after = []
    found = run(bl001_cache_unfriendly_order, image(*base, *own), tmp_path)
    assert [(f.layer, f.evidence["copy_layer"]) for f in found] == [(2, 1)]


# ---- BL002 ------------------------------------------------------------------------

EXT = "usr/lib/python3/dist-packages/_cffi_backend.cpython-311-x86_64-linux-gnu.so"
# Real ELF files from the host, wherever it keeps them: cffi's compiled backend (a test
# dependency) and the gcc driver on PATH, placed at the image paths above and below.
_CFFI = importlib.util.find_spec("_cffi_backend")
HOST_EXT = _CFFI.origin if _CFFI is not None and _CFFI.origin else ""
HOST_GCC = os.path.realpath(shutil.which("gcc") or "/usr/bin/gcc")
needs_host = pytest.mark.skipif(
    not (shutil.which("gcc") and shutil.which("make") and HOST_EXT),
    reason="needs gcc and make (apt-get install gcc make) and cffi (pip install cffi)",
)


@needs_host
def test_bl002_extensions_without_compiler_pass(tmp_path: Path) -> None:
    spec = image(debian_base(setuid=False), Layer([host_file(HOST_EXT, EXT)]))
    assert run(bl002_single_stage, spec, tmp_path) == []


@needs_host
def test_bl002_extensions_and_compiler(tmp_path: Path) -> None:
    tools = Layer(
        [
            host_file(HOST_GCC, "usr/bin/gcc-12"),
            host_file(shutil.which("make") or "/usr/bin/make", "usr/bin/make"),
        ],
        "RUN apt-get install -y gcc make",
    )
    ext = Layer([host_file(HOST_EXT, EXT)], "RUN pip install cffi")
    found = run(bl002_single_stage, image(debian_base(setuid=False), tools, ext), tmp_path)
    assert summary(found) == [("BL002", "warning", "/usr/bin/gcc-12")]
    assert found[0].evidence == {"tools": ["gcc", "make"], "extensions": ["/" + EXT]}
    assert found[0].layer == 1


@needs_host
def test_bl002_the_teams_extensions_on_a_base_with_compilers_are_the_teams(
    tmp_path: Path,
) -> None:
    """`FROM python:3.11` (gcc in the base, its boundary known from the history's CMD)
    plus the team's `RUN pip install`: the single-stage build is the team's, so the
    finding is at the team's layer (its origin: own), not at the base's compiler."""
    nop = "/bin/sh -c #(nop) "
    tools = Layer([host_file(HOST_GCC, "usr/bin/gcc-12")], "RUN apt-get install -y gcc")
    tools.after = [f'{nop}CMD ["python3"]']
    ext = Layer([host_file(HOST_EXT, EXT)], "RUN pip install cffi")
    found = run(bl002_single_stage, image(debian_base(setuid=False), tools, ext), tmp_path)
    assert [(f.path, f.layer, f.created_by) for f in found] == [
        ("/usr/bin/gcc-12", 2, "RUN pip install cffi")
    ]


# ---- BL003 ------------------------------------------------------------------------


def _pyc(tmp_path: Path, mode: py_compile.PycInvalidationMode) -> bytes:
    src = tmp_path / "mod.py"
    src.write_text("x = 1\n")
    out = tmp_path / f"mod-{mode.name}.pyc"
    py_compile.compile(str(src), cfile=str(out), invalidation_mode=mode, doraise=True)
    return out.read_bytes()


def test_bl003_normalised_build_passes(tmp_path: Path) -> None:
    tag = "cpython-311"
    layer = Layer(
        [
            File("app/mod.py", b"x = 1\n", mtime=MTIME),
            File(
                f"app/__pycache__/mod.{tag}.pyc",
                _pyc(tmp_path, py_compile.PycInvalidationMode.CHECKED_HASH),
            ),
            File("var/log/dpkg.log", b""),
        ]
    )
    assert run(bl003_not_reproducible, image(layer), tmp_path) == []


def test_bl003_timestamps_pycs_and_logs(tmp_path: Path) -> None:
    stamped = _pyc(tmp_path, py_compile.PycInvalidationMode.TIMESTAMP)
    layer = Layer(
        [
            Dir("app", mtime=CREATED - 30),
            File("app/mod.py", b"x = 1\n", mtime=CREATED - 20),
            File("app/__pycache__/mod.cpython-311.pyc", stamped, mtime=CREATED - 10),
            File("var/log/dpkg.log", b"2026-10-31 23:59:00 status installed\n", mtime=CREATED - 10),
            File("var/log/apt/history.log", b"Start-Date: 2026-10-31\n", mtime=CREATED - 10),
        ],
        "RUN pip install .",
    )
    found = run(bl003_not_reproducible, image(debian_base(setuid=False), layer), tmp_path)
    assert summary(found) == [
        ("BL003", "info", None),
        ("BL003", "info", "/app/__pycache__/mod.cpython-311.pyc"),
        ("BL003", "info", "/var/log/apt/history.log"),
    ]
    assert found[0].layer == 1 and found[0].evidence == {"distinct_build_mtimes": 3}
    assert found[2].paths == ("/var/log/dpkg.log",)


# ---- BL004 ------------------------------------------------------------------------


def test_bl004_purposeful_layers_pass(tmp_path: Path) -> None:
    assert (
        run(
            bl004_layers,
            image(*steps("ADD rootfs /", "RUN pip install x", "COPY . /app")),
            tmp_path,
        )
        == []
    )


def test_bl004_count_empty_tiny(tmp_path: Path) -> None:
    layers = [
        *steps("ADD rootfs /", "RUN pip install x"),
        Layer([], "RUN true"),
        Layer([Dir("app")], "RUN mkdir /app"),
    ]
    found = run(bl004_layers, image(*layers), tmp_path, {"max-layers": 3})
    assert [(str(f.severity), f.layer, f.message) for f in found] == [
        ("warning", None, "4 layers (limit 3)"),
        ("info", 2, "layer 2 is empty: RUN true"),
        ("info", 3, "layer 3 is tiny (0 B of content): RUN mkdir /app"),
    ]


#: The legacy builder's history, as `docker build` (no BuildKit) records the public
#: patterns: file and directory copies are named by a content hash, not by their sources.
NOP = "/bin/sh -c #(nop) "
BASE_END = [f'{NOP} CMD ["python3"]']


def python_base() -> list[Layer]:
    """A python:3.11-slim look-alike: a root filesystem, the interpreter, and (upstream's
    own separate step) a layer of nothing but symlinks; its Dockerfile ends at its CMD."""
    layers = [
        Layer([File("etc/os-release", b"ID=debian\n" * 300)], f"{NOP} ADD file:5e7b in / "),
        Layer(
            [File("usr/local/bin/python3.11", b"\x7fELF" + b"x" * 4096, 0o755)],
            "/bin/sh -c set -eux; ./configure; make install",
        ),
        Layer(
            [Symlink("usr/local/bin/python", "python3.11")],
            "/bin/sh -c set -eux; for src in idle3 pip3 pydoc3 python3; do ln -svT ...",
            after=BASE_END,
        ),
    ]
    return layers


def fastapi_like() -> list[Layer]:
    """FastAPI's documented Dockerfile on that base: WORKDIR, the manifest-first COPY,
    the install, the final app COPY (a few hundred bytes)."""
    return [
        Layer([Dir("code")], f"{NOP} WORKDIR /code"),
        Layer(
            [File("code/requirements.txt", b"fastapi==0.115.0\n")],
            f"{NOP} COPY file:0a1b in /code/requirements.txt ",
        ),
        Layer(
            [File("usr/local/lib/python3.11/site-packages/fastapi/__init__.py", b"#" * 4096)],
            "|3 PIP_NO_INDEX=1 /bin/sh -c pip install --no-cache-dir -r /code/requirements.txt",
        ),
        Layer(
            [File("code/app/__init__.py", b""), File("code/app/main.py", b"app = 1\n" * 40)],
            f"{NOP} COPY dir:9f8e in /code/app ",
        ),
    ]


def test_bl004_nothing_a_user_can_merge_is_no_finding(tmp_path: Path) -> None:
    """WORKDIR's directory-only layer, the manifest-first COPY, the final app COPY and the
    base's own symlink layer: each tiny, none something this Dockerfile could merge."""
    spec = image(*python_base(), *fastapi_like())
    assert run(bl004_layers, spec, tmp_path) == []
    metadata = [
        Layer([], f"{NOP} USER app"),
        Layer([], f"{NOP} ENV A=1"),
        Layer([Dir("srv")], "WORKDIR /srv # buildkit"),
    ]
    assert run(bl004_layers, image(*python_base(), *fastapi_like(), *metadata), tmp_path) == []


def test_bl004_the_symlink_step_in_the_teams_own_layers_is_a_finding(tmp_path: Path) -> None:
    """The python image itself, judged as its maintainers' own work on a Debian base: its
    symlink RUN could be part of the build RUN before it. One finding, naming that RUN."""
    rootfs, build_layer, links = python_base()
    rootfs.after = [f'{NOP} CMD ["bash"]']  # the Debian base ends here
    links.after = []
    (found,) = run(bl004_layers, image(rootfs, build_layer, links), tmp_path)
    assert found.layer == 2
    assert found.message.startswith("layer 2 is tiny (0 B of content): RUN set -eux; for")
    assert found.evidence["merge_with"] == 1
    assert found.remedy.startswith("merge this step into the RUN of layer 1 (RUN set -eux;")


def test_bl004_a_lone_tiny_run_has_nothing_to_join(tmp_path: Path) -> None:
    """uv's runtime stage: one RUN (groupadd/useradd) among copies: nothing to merge it into."""
    users = Layer([File("etc/group", b"nonroot:x:999:\n")], "RUN groupadd --system nonroot")
    app = Layer([File("app/main.py", b"x = 1\n" * 400)], "COPY --from=builder /app /app")
    assert run(bl004_layers, image(*python_base(), users, app), tmp_path) == []


def test_bl004_copies_that_could_be_one(tmp_path: Path) -> None:
    """Two COPYs of the build context in a row, the first tiny: one COPY would do. The
    second (the final app COPY) and a copy from another stage are left alone."""
    own = [
        Layer([File("app/config.yaml", b"debug: false\n")], "COPY config.yaml /app/ # buildkit"),
        Layer([File("app/main.py", b"x = 1\n")], "COPY main.py /app/ # buildkit"),
        Layer([File("opt/venv/x.py", b"y = 2\n")], "COPY --from=build /opt/venv /opt/venv"),
    ]
    found = run(bl004_layers, image(*python_base(), *own), tmp_path)
    assert [(f.layer, f.evidence["merge_with"]) for f in found] == [(3, 4)]
    assert found[0].remedy.startswith("merge this step into the COPY of layer 4")
