"""Engine-built images for the Python inventory, version and app-interpreter tests, and
the oracle that asks each image's own interpreters what they see.

Every case importlib.metadata has a rule for is built for real, in one Debian image
(Debian's python3 + venv + pip, `imgaudit-test/bookworm-python`):

- Debian python3-* packages: dist-info (python3-yaml), egg-info directories
  (python3-six, python3-toml) and a single-file egg-info (python3-apt);
- a venv with several wheels, a venv with `--system-site-packages`, `pip install
  --user` (root's user site), `pip install --target` (on no sys.path until PYTHONPATH
  names it);
- written by hand into /usr/local/lib/python3.11/dist-packages: a dist-info whose
  suffix is upper case, a distutils-style single-file egg-info, a `.egg` directory put
  on sys.path by easy-install.pth, a .pth adding /opt/extra (and a hidden .pth that
  site.py skips), METADATA without Version, empty METADATA, no METADATA at all,
  merge markers in METADATA and in RECORD, Name given twice, PKG-INFO in a dist-info,
  a dist-info that is a file, an egg-info with requires.txt;
- the interpreter's own `Python-3.11.egg-info` in lib-dynload (importlib lists it; it
  is not a package).

A second image runs the first as a non-root user with PYTHONPATH=/app/deps and its own
`pip install --user`. The oracle (`environment_truth`) runs `python -c` with the
image's own interpreter for each interpreter and venv (`docker run --network none`)
and returns what `importlib.metadata.distributions()` lists over sys.path (the
script's own directory, '' for -c, left out: it is no installed location).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from tests.support.baseimages import PYTHON_TAG, build
from tests.support.cpython import PREFIX, SourceCPython
from tests.support.downloads import pypi
from tests.support.services import DockerEngine

V = "3.11"  # Debian's python3 and the source-built CPython (tests/support/cpython.py)
WHEELS = ["six==1.17.0", "markupsafe==3.0.3", "idna==3.10", "attrs==25.3.0", "packaging==25.0"]

# ---- the oracle: the image's own interpreter -------------------------------------------

ORACLE = r"""
import importlib.metadata as m, json, os, sys
path = [p for p in sys.path if p]
dists = []
for d in m.distributions(path=path):
    meta = d.metadata
    dists.append([meta.get("Name"), meta.get("Version"), os.path.realpath(str(d._path))])
print(json.dumps({"version": sys.version.split()[0], "prefix": sys.prefix,
                  "base_prefix": sys.base_prefix, "path": path, "dists": dists}))
"""


def environment_truth(engine: DockerEngine, tag: str, python: str) -> dict[str, Any]:
    """What `python` (an image path) in image `tag` sees: version, sys.path, and every
    distribution importlib.metadata lists as [Name, Version, real path of its metadata]."""
    out = subprocess.run(
        ["docker", "run", "--rm", "--network", "none", "--entrypoint", python, tag,
         "-c", ORACLE],
        env=engine.env(), capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    truth: dict[str, Any] = json.loads(out.stdout)
    return truth


def run_image(engine: DockerEngine, tag: str) -> str:
    """The image's own entrypoint and command, run as the engine runs it (stdout)."""
    out = subprocess.run(
        ["docker", "run", "--rm", "--network", "none", tag],
        env=engine.env(), capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    return out.stdout


# ---- wheels ----------------------------------------------------------------------------


def wheels() -> Path:
    """Binary or pure wheels of WHEELS from PyPI for the images' CPython 3.11, cached."""
    return pypi(WHEELS, label="py-inventory")


# ---- hand-written metadata, each a rule of importlib.metadata --------------------------

DIST_PACKAGES = "usr/local/lib/python3.11/dist-packages"


def _meta(name: str, version: str | None = None, *extra: str) -> bytes:
    lines = ["Metadata-Version: 2.1", f"Name: {name}"]
    if version is not None:
        lines.append(f"Version: {version}")
    return ("\n".join([*lines, *extra]) + "\n").encode()


MERGE_RECORD = (
    b"merged/__init__.py,sha256=AAAA,10\n"
    b"<<<<<<< HEAD\n"
    b"merged/a.py,sha256=BBBB,20\n"
    b"=======\n"
    b"merged/b.py,sha256=CCCC,30\n"
    b">>>>>>> feature\n"
    b"merged-1.0.dist-info/RECORD,,\n"
)

CASES: dict[str, bytes] = {
    # the suffix in upper case: importlib lowers the name before matching
    "Mixed_Case-1.0.DIST-INFO/METADATA": _meta(
        "Mixed_Case", "1.0", "Requires-Dist: idna>=3", "Requires-Dist: attrs; extra == 'x'"
    ),
    # what distutils' install_egg_info wrote, and Debian still ships: PKG-INFO as a file
    "distutils_style-0.5-py3.11.egg-info": _meta("distutils-style", "0.5", "Summary: old"),
    # an easy_install egg: found only because easy-install.pth puts it on sys.path
    "eggy-2.0-py3.11.egg/EGG-INFO/PKG-INFO": _meta("eggy", "2.0"),
    "eggy-2.0-py3.11.egg/EGG-INFO/requires.txt": b"six\n\n[extra]\nidna\n",
    "eggy-2.0-py3.11.egg/eggy/__init__.py": b"",
    "easy-install.pth": b"import sys; sys.__plen = len(sys.path)\n./eggy-2.0-py3.11.egg\n",
    # a .pth naming another directory (and one that does not exist); hidden ones are skipped
    "extra.pth": b"# comment\n/opt/extra\n\n/nonexistent/dir\n",
    ".hidden.pth": b"/opt/hidden\n",
    # malformed, as syft's fixtures and real images have them
    "noversion-0.1.dist-info/METADATA": _meta("noversion"),
    "emptymeta-1.0.dist-info/METADATA": b"",
    "nometa-1.0.dist-info/INSTALLER": b"pip\n",
    "conflicted-1.0.dist-info/METADATA": b"<<<<<<< HEAD\n" + _meta("conflicted", "1.0"),
    "merged-1.0.dist-info/METADATA": _meta("merged", "1.0"),
    "merged-1.0.dist-info/RECORD": MERGE_RECORD,
    "merged/__init__.py": b"x" * 10,
    "dupname-1.0.dist-info/METADATA": b"Name: first\nName: second\nVersion: 1.0\n",
    "pkginfo_only-1.0.dist-info/PKG-INFO": _meta("pkginfo-only", "1.0"),
    "fileinfo-1.0.dist-info": _meta("fileinfo", "1.0"),
    "badversion-1.0.dist-info/METADATA": _meta("badversion", "not a version!"),
    "Foo_Bar-1.0.egg-info/PKG-INFO": _meta("Foo.Bar", "1.0"),
    "Foo_Bar-1.0.egg-info/requires.txt": (
        b"six>=1.0\n\n[test]\nidna\n\n[:python_version < '4']\nattrs\n"
    ),
}
ELSEWHERE: dict[str, bytes] = {
    "opt/extra/Extra_Pkg-3.0.dist-info/METADATA": _meta("Extra_Pkg", "3.0"),
    "opt/hidden/hidden_pkg-1.0.dist-info/METADATA": _meta("hidden-pkg", "1.0"),
    # the interpreter's own metadata, as CPython's setup.py once installed it
    "usr/lib/python3.11/lib-dynload/Python-3.11.egg-info": _meta("Python", "3.11.2"),
}

INVENTORY_TAG = "imgaudit-test/py-inventory:latest"
INVENTORY = f"""\
FROM {PYTHON_TAG}
RUN export DEBIAN_FRONTEND=noninteractive && apt-get update -q \\
 && apt-get install -y -q --no-install-recommends python3-apt python3-yaml python3-six \\
    python3-toml \\
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/cache/apt/archives/*.deb
COPY wheels /wheels
RUN python3 -m venv /opt/venv \\
 && /opt/venv/bin/pip install -q --no-index --find-links /wheels six markupsafe idna attrs \\
    packaging \\
 && python3 -m venv --system-site-packages /opt/sysvenv \\
 && /opt/sysvenv/bin/pip install -q --no-index --find-links /wheels idna \\
 && pip install -q --user --break-system-packages --no-index --find-links /wheels attrs \\
 && pip install -q --target /app/deps --no-index --find-links /wheels packaging \\
 && rm -rf /root/.cache
COPY cases /{DIST_PACKAGES}
COPY elsewhere /
"""

AS_USER_TAG = "imgaudit-test/py-inventory-user:latest"
AS_USER = f"""\
FROM {INVENTORY_TAG}
RUN useradd -m -u 1000 app \\
 && su app -c "pip install -q --user --break-system-packages --no-index \\
    --find-links /wheels markupsafe"
ENV PYTHONPATH=/app/deps
USER app
"""

#: Interpreters and venvs of both images, as paths the oracle runs.
ENVIRONMENTS = {
    "/usr/bin/python3.11": "/usr/bin/python3.11",
    "/opt/venv": "/opt/venv/bin/python",
    "/opt/sysvenv": "/opt/sysvenv/bin/python",
}


def build_inventory_images(engine: DockerEngine) -> tuple[str, str]:
    wheel_dir = wheels()
    files: dict[str, bytes | Path] = {"wheels": wheel_dir}
    files.update({f"cases/{k}": v for k, v in CASES.items()})
    files.update({f"elsewhere/{k}": v for k, v in ELSEWHERE.items()})
    build(engine, INVENTORY_TAG, INVENTORY, files)
    build(engine, AS_USER_TAG, AS_USER)
    return INVENTORY_TAG, AS_USER_TAG


# ---- which interpreter the app runs: the image's own command says -----------------------

#: What every app entry point here prints: the interpreter that really runs it.
REPORT = (
    "import json, sys; print(json.dumps({'executable': sys.executable, 'prefix': sys.prefix, "
    "'base_prefix': sys.base_prefix, 'version': sys.version.split()[0]}))\n"
)
APP_BASE_TAG = "imgaudit-test/py-app-base:latest"
APP_BASE = f"""\
FROM {PYTHON_TAG}
RUN apt-get update -q && apt-get install -y -q --no-install-recommends {{packages}} \\
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/cache/apt/archives/*.deb
COPY --from={{cpython}} {PREFIX} {PREFIX}
COPY app /app
RUN echo {PREFIX}/lib > /etc/ld.so.conf.d/acme-python.conf && ldconfig \\
 && {PREFIX}/bin/python{V} -m venv /opt/acme/venv \\
 && for s in gunicorn uvicorn; do \\
      printf '#!/opt/acme/venv/bin/python\\n%s' "$(cat /app/report.py)" > /opt/acme/venv/bin/$s \\
      && chmod 755 /opt/acme/venv/bin/$s; done \\
 && chmod 755 /app/run.py
"""
VENV_PATH = "/opt/acme/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#: name -> the Dockerfile lines that pick the command (FROM the app base).
APP_VARIANTS = {
    "gunicorn-on-path": f'ENV PATH={VENV_PATH}\nCMD ["gunicorn", "app:app"]',
    "sh-c": f'ENV PATH={VENV_PATH}\nCMD ["sh", "-c", "cd /app && exec uvicorn app:app"]',
    "python3": 'CMD ["python3", "/app/main.py"]',
    "env-shebang": 'ENTRYPOINT ["/app/run.py"]',
    "own-python": 'CMD ["/opt/acme/python/bin/python3", "/app/main.py"]',
    "venv-python": 'WORKDIR /app\nCMD ["/opt/acme/venv/bin/python", "main.py"]',
}


def build_app_images(engine: DockerEngine, cpython: SourceCPython) -> dict[str, str]:
    """The app base (Debian's python3 for apt's sake, the app's own CPython in /opt, the
    tests' source build, and a venv made from it) and one image per way of starting the
    app; name -> tag."""
    build(
        engine,
        APP_BASE_TAG,
        APP_BASE.format(packages=" ".join(cpython.runtime_packages), cpython=cpython.image.tag),
        {
            "app/report.py": REPORT,
            "app/main.py": REPORT,
            "app/run.py": "#!/usr/bin/env python3\n" + REPORT,
        },
    )
    tags = {}
    for name, lines in APP_VARIANTS.items():
        tags[name] = f"imgaudit-test/py-app-{name}:latest"
        build(engine, tags[name], f"FROM {APP_BASE_TAG}\n{lines}\n")
    return tags


# ---- a distroless look-alike: dpkg data only in status.d --------------------------------

DISTROLESS_TAG = "imgaudit-test/py-distroless-dpkg:latest"
DISTROLESS = f"""\
FROM {PYTHON_TAG}
RUN cd /var/lib/dpkg && mkdir status.d \\
 && for p in $(dpkg-query -W -f '${{Package}}\\n'); do \\
      dpkg-query -s "$p" | grep -v '^Status:' > "status.d/$p"; \\
      for f in "info/$p.md5sums" info/"$p":*.md5sums; do \\
        if [ -f "$f" ]; then cp "$f" "status.d/$p.md5sums"; fi; done; \\
    done \\
 && rm -rf /var/lib/dpkg/status /var/lib/dpkg/status-old /var/lib/dpkg/info
"""


def build_distroless_image(engine: DockerEngine) -> str:
    """Debian's python3 with the dpkg database as distroless keeps it: a control stanza
    per package in status.d/<name> and its md5sums next to it, no status, no info/."""
    build(engine, DISTROLESS_TAG, DISTROLESS)
    return DISTROLESS_TAG
