"""BL001 cache-unfriendly-order: application source is copied before dependencies install.

Why it matters: Docker reuses a cached step only while every step before it is
unchanged. When `COPY . /app` comes before `RUN pip install -r requirements.txt`,
every code change re-installs every dependency: slow builds, and (without pinned
hashes) a different dependency set each time.

Read from the image's build history (`created_by`; skipped when no entry names a step, as
after `docker import` of an exported container): the first step that copies a
source tree (`COPY . /app`, `COPY src/ ...`, the legacy builder's `COPY dir:...`)
is compared with the first step that installs the project's dependencies (`pip
install -r ...`, `pip install .` or a path, `poetry install`, `uv sync`, `pipenv
install`, `pdm install`). Installs of named packages (a base image's `pip install
wheel`) and `--no-deps` installs of the app itself do not count. Only the team's own
steps count: the base image's are skipped when its boundary is known (`--base`, the OCI
base labels, or inferred from the history: auditor/facts/provenance.py). Whatever is
known, the image's first layer, when it is a COPY or ADD into `/`, is a root filesystem
(`FROM scratch` plus a distribution's tree: how Debian's and most base images are
made, `COPY dir:... in /` in the legacy builder's words), never the app's source.
And whatever the step's words, a copy whose layer holds nothing but wheels, sdists
(`psycopg2-2.9.13.tar.gz`: what `pip download` keeps of a package with no wheel for the
platform) and dependency manifests is not source: a wheelhouse copied in to install from (`COPY
wheels /wheels`, or the legacy builder's `COPY dir:<hash> in /wheels`, which names no
source), what a build that installs with `--no-index --find-links` does first.

Example:

    COPY . /app
    RUN pip install -r /app/requirements.txt      # re-runs on every code change

How to fix: copy only the dependency manifests first, install, then copy the rest:

    COPY requirements.txt /app/
    RUN pip install --no-cache-dir -r /app/requirements.txt
    COPY . /app

References: https://docs.docker.com/build/cache/#order-your-layers
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING

from auditor.context import CheckContext
from auditor.findings import CheckInfo, Dimension, Finding, Severity, Skip
from auditor.history import MANIFESTS, clean_step
from auditor.kinds import FILE

if TYPE_CHECKING:
    from auditor.facts.image_layers import LayerFacts

INFO = CheckInfo(
    id="BL001",
    name="cache-unfriendly-order",
    title="Application source copied before dependencies are installed",
    severity=Severity.WARNING,
    criterion="dependencies installed before source is copied",
    dimension=Dimension.FAST,
)

# Pattern texts, compiled on first use (re's own cache) rather than at import: every
# scan imports every check. Deferred: start-up time, see README "Performance".
INSTALL = (
    r"\b(?:pip3?(?:\.\d+)?\s+install|-m\s+pip\s+install|poetry\s+install|uv\s+sync|"
    r"uv\s+pip\s+(?:install|sync)|pipenv\s+(?:install|sync)|pdm\s+(?:install|sync)|"
    r"conda\s+install|mamba\s+install)\b"
)


FROM_MANIFEST = (
    r"(?:\s-r\s*\S|--requirement[=\s]|poetry\s+install|uv\s+sync|uv\s+pip\s+sync|"
    r"pipenv\s+(?:install|sync)|pdm\s+(?:install|sync)|conda\s+env|\s-e\s|"
    r"install\s+(?:-\S+\s+)*(?:\.|\./\S*|/\S+)(?:\[[^\]]*\])?(?:\s|$))"
)


def is_install(step: str) -> bool:
    """A RUN that installs dependencies from the project (requirements, lock, the project
    itself); named packages (`pip install gunicorn`, a base's `pip install wheel`) are not."""
    if not step.startswith("RUN ") or not re.search(INSTALL, step):
        return False
    if "--no-deps" in step:
        return False  # installing the app itself after its deps
    return bool(re.search(FROM_MANIFEST, step))


def is_source_copy(step: str) -> bool:
    """COPY/ADD of a source tree (not manifests, not another stage, not the base rootfs)."""
    words = step.split()
    if not words or words[0] not in ("COPY", "ADD"):
        return False
    args = [w for w in words[1:] if not w.startswith("--") and w != "#" and w != "buildkit"]
    if any(w.startswith("--from") for w in words[1:]):
        return False
    if len(args) >= 3 and args[1] == "in":  # legacy builder: "COPY dir:<hash> in /app"
        kind = args[0].split(":", 1)[0]
        return kind == "dir"  # "file:" and "multi:" are usually the manifests
    if len(args) < 2:
        return False
    sources, dest = args[:-1], args[-1]
    if dest in ("/", "") and words[0] == "ADD":
        return False  # a base rootfs tarball
    return any(not re.search(MANIFESTS, s.rstrip("/")) for s in sources)


def copy_destination(step: str) -> str | None:
    """Where a COPY/ADD step writes (`/app`, `./`), None for any other step."""
    words = step.split()
    if not words or words[0] not in ("COPY", "ADD"):
        return None
    args = [w for w in words[1:] if not w.startswith("--") and w != "#" and w != "buildkit"]
    if len(args) >= 3 and args[1] == "in":  # legacy builder: "COPY dir:<hash> in /app"
        return args[2]
    return args[-1] if len(args) >= 2 else None


#: a source distribution as `pip download` saves it: `{name}-{version}.tar.gz` (or the
#: older .zip, .tar.bz2), the version starting with a digit (`app.tar.gz` is no sdist)
SDIST = re.compile(r"(?:^|/)[A-Za-z0-9][A-Za-z0-9._]*-\d[^/-]*\.(?:tar\.gz|zip|tar\.bz2|tgz)$")


def dependencies_only(layer: LayerFacts) -> bool:
    """The layer's files are all wheels, sdists or dependency manifests (module doc)."""
    t = layer.entries
    files = [p for p, kind in zip(t.paths, t.kinds) if kind == FILE]
    return bool(files) and all(
        p.endswith(".whl") or SDIST.search(p) or re.search(MANIFESTS, p) for p in files
    )


def is_rootfs(step: str, layer: int | None) -> bool:
    """The image's first layer copied into `/`: a base's root filesystem (module doc)."""
    return layer == 0 and copy_destination(step) == "/"


def run(ctx: CheckContext) -> Iterator[Finding]:
    history = ctx.facts.image_config.get("history")
    if not isinstance(history, list) or not history:
        raise Skip("the image has no build history")
    if not any(isinstance(h, dict) and str(h.get("created_by") or "").strip() for h in history):
        # `docker import` of an exported container: one entry, "Imported from -"
        raise Skip("the image's history names no build step (an imported or squashed image)")
    start_layer = ctx.facts.provenance.base_layers or 0
    steps: list[tuple[str, int | None]] = []  # (cleaned step, layer index or None)
    layer = 0
    for h in history:
        if not isinstance(h, dict):
            continue
        empty = bool(h.get("empty_layer"))
        text = clean_step(str(h.get("created_by") or ""))
        if not empty and layer >= start_layer:
            steps.append((text, layer))
        elif empty and layer >= start_layer:
            steps.append((text, None))
        if not empty:
            layer += 1
    layers = ctx.facts.layers

    def copies_source(step: str, ly: int | None) -> bool:
        if not is_source_copy(step) or is_rootfs(step, ly):
            return False
        return ly is None or ly >= len(layers) or not dependencies_only(layers[ly])

    first_copy = next((i for i, (s, ly) in enumerate(steps) if copies_source(s, ly)), None)
    if first_copy is None:
        return
    installs = [i for i, (s, _) in enumerate(steps) if is_install(s)]
    if not installs or installs[0] < first_copy:
        return  # nothing installed after the copy, or the deps were installed before it
    copy_step, copy_layer = steps[first_copy]
    install_step, install_layer = steps[installs[0]]
    yield INFO.finding(
        f"the source is copied ({copy_step!r}) before dependencies install "
        f"({install_step!r}): every code change re-installs all dependencies",
        "COPY the requirements/lock file, RUN the install, then COPY the rest of the source",
        layer=install_layer,
        evidence={"copy": copy_step, "copy_layer": copy_layer, "install": install_step},
    )
