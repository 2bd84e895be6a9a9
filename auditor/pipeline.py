"""The pipeline as one library function: `audit(image, settings) -> Report`.

    reference ──► sources ──► layers ──► fs ──► facts ──► checks ──► scoring ──► report

Every face calls this and adds nothing to the pipeline: `imgaudit scan`, `diff` and
`fleet`, a user's script or notebook (`from auditor import audit`), the tests.
Everything that decides a report besides the image is one frozen `Settings` value, so
the same image under the same settings gives the same findings through any face.

    from auditor import audit
    report = audit("docker-archive:app.tar", config=".imgaudit.toml")
    for finding in report.findings or ():
        print(finding.check_id, finding.severity, finding.message)

Two caches sit on the line: layer indexes by blob digest (auditor/cache.py, used by the
loader) and each image's derived results (auditor/results.py, used here): an
unchanged image is reported without reading a layer.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any

from auditor import baseline as baselines
from auditor import config as configuration
from auditor.baseline import BaselineImage, BaselineSource, LastRecorded
from auditor.check import Check
from auditor.context import today_utc
from auditor.errors import InputError
from auditor.facts import Facts
from auditor.facts import packages_index as packages
from auditor.facts import provenance as prov
from auditor.facts.baseline import Baseline
from auditor.facts.packages_index import PackagesIndex
from auditor.findings import Finding
from auditor.loading import LoadedImage, LoadOptions, load_image, open_loaded
from auditor.report import sections
from auditor.report.catalog import checks_section
from auditor.report.model import Report
from auditor.results import ImageResults, ResultCache, canonical, image_key, no_results
from auditor.runner import run_checks
from auditor.scoring import score

# checks/ is `auditor.checks` only once installed (setuptools package-dir): a checkout
# put on PYTHONPATH alone has `auditor` but not its checks
NOT_INSTALLED = (
    "imgaudit's checks (auditor.checks) cannot be imported: install imgaudit "
    "(pip install . or, in a checkout, pip install -e .)"
)


def installed_checks() -> tuple[Check, ...]:
    """Every check imgaudit ships (auditor.checks), imported on first use: importing
    them is most of a warm scan's start-up, and `import auditor` must stay cheap."""
    try:
        from auditor.checks import ALL_CHECKS
    except ModuleNotFoundError as exc:
        if exc.name != "auditor.checks":
            raise
        raise InputError(NOT_INSTALLED) from None
    checks: tuple[Check, ...] = ALL_CHECKS
    return checks


def find_check(name: str) -> Check | None:
    """A check by ID (any case) or by name (`SEC001`, `runs-as-root`)."""
    installed_checks()  # the one clear error when the checks cannot be imported
    from auditor.checks import by_id

    found: Check | None = by_id(name)
    return found


def load_config(
    path: str | os.PathLike[str] | None = None, cli: Mapping[str, Any] | None = None
) -> configuration.Config:
    """`[tool.imgaudit]` as the command line reads it: `path`, else `IMGAUDIT_CONFIG`, else
    `.imgaudit.toml` or `pyproject.toml` found upward from the working directory; then
    `IMGAUDIT_*` variables, then `cli` (Config field -> value; None: not given)."""
    return configuration.load(
        _KnownChecks(), cli=cli, config_path=os.fspath(path) if path else None
    )


class _KnownChecks(Mapping[str, Mapping[str, Any]]):
    """Check ID -> its option defaults, the checks imported on first use: a config that
    names no check needs none of them, and a cold scan imports them while its layers
    are read (`_audit`) rather than before."""

    @cached_property
    def _options(self) -> dict[str, Mapping[str, Any]]:
        return {c.info.id: c.options for c in installed_checks()}

    def __getitem__(self, check_id: str) -> Mapping[str, Any]:
        return self._options[check_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self._options)

    def __len__(self) -> int:
        return len(self._options)


@dataclass(frozen=True)
class Settings:
    """Everything that decides an image's report besides the image itself."""

    config: configuration.Config = field(default_factory=configuration.Config)
    loading: LoadOptions = field(default_factory=LoadOptions)  # transport, caches, limits
    # per check ID, over the config's `[tool.imgaudit.checks.ID]` (e.g. SZ005's limits)
    check_options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    baseline: BaselineSource | None = None  # what SZ005 compares with
    packages_index: PackagesIndex | None = None  # what OS006 compares with

    @classmethod
    def from_config(
        cls,
        path: str | os.PathLike[str] | None = None,
        cli: Mapping[str, Any] | None = None,
        **fields: Any,
    ) -> Settings:
        """Settings from the config (see `load_config`), its `packages-index` read; the
        other fields as given."""
        config = load_config(path, cli)
        index = packages.load(config.packages_index) if config.packages_index else None
        return cls(config=config, **{"packages_index": index, **fields})


# ---- one image --------------------------------------------------------------------------


def audit(
    image: str | LoadedImage,
    settings: Settings | None = None,
    *,
    config: str | os.PathLike[str] | None = None,
) -> Report:
    """The report of one image: a reference (any transport `imgaudit scan` reads) or an
    image already opened (its own LoadOptions then decide how its layers are read).

    `config`: a config file, when no `settings` are given (`Settings.from_config`);
    with neither, the config is found as the command line finds it. Raises
    `auditor.errors.InputError` for what the user can fix (a bad reference, a damaged
    layer, a config mistake)."""
    if settings is not None and config is not None:
        raise TypeError("audit() takes settings or config, not both")
    if settings is None:
        settings = Settings.from_config(config)
    loaded = image if isinstance(image, LoadedImage) else open_loaded(image, settings.loading)
    return _audit(loaded, settings)


def _audit(loaded: LoadedImage, settings: Settings) -> Report:
    config = settings.config
    facts = Facts(
        loaded,
        base=config.base,
        baseline=_baseline(loaded, settings),
        packages_index=settings.packages_index,
    )
    provenance = facts.provenance  # a bad --base is an input error: raise it before checks
    dockerfile = None
    if config.dockerfile:
        # deferred: start-up time, see README "Performance" (the Dockerfile parser and
        # matcher, ~10 ms of imports: only a scan given --dockerfile needs them)
        from auditor import dockerfile as dockerfiles

        dockerfile = dockerfiles.parse_file(config.dockerfile)
    provenance_json = provenance.to_json()
    stored = stored_results(loaded, {"strict": config.strict, "provenance": provenance_json})
    if not stored.has_section("content"):
        # The report's content needs the layers: the workers start reading them now,
        # and the checks are imported while they do (~20 ms off a cold scan's start).
        facts.read_layers(also=installed_checks)
    every = installed_checks()
    checks = [c for c in every if config.selected(c.info.id)]
    outcome = run_checks(
        checks, facts, check_options(settings), config.strict, stored, loaded.options.jobs
    )
    applied = configuration.apply(config, outcome.findings)
    findings = prov.mark(applied.findings, provenance)
    dockerfile_json = None
    if dockerfile is not None:
        from auditor.dockerfile_lines import locate_in  # deferred: see above

        located = locate_in(dockerfile, loaded.image.config, len(loaded.image.layers), findings)
        findings, dockerfile_json = located.findings, located.matching.to_json()
    scores = score(findings, {c.info.id: c.info.dimension for c in every})
    content = stored.section("content", lambda: sections.content_sections(loaded))
    facts_json = stored.section("facts", facts.content_json)
    stored.save()
    return sections.build_report(
        loaded,
        content,
        facts={**facts_json, "provenance": provenance_json},
        results=outcome.results,
        findings=findings,
        checks=checks_section(every),
        scores=scores,
        config=applied.to_json(config.source),
        dockerfile=dockerfile_json,
    )


def check_options(settings: Settings) -> dict[str, dict[str, Any]]:
    """Each check's options: the config's, under the ones given in the settings."""
    out = {cid: dict(opts) for cid, opts in settings.config.options.items()}
    for cid, opts in settings.check_options.items():
        out[cid] = {**out.get(cid, {}), **opts}
    return out


def _baseline(loaded: LoadedImage, settings: Settings) -> Baseline | None:
    source = settings.baseline
    if source is None or isinstance(source, Baseline):
        return source
    if isinstance(source, BaselineImage):
        base = load_image(source.reference, settings.loading)
        # the baseline is another build: the Dockerfile's lines are not its lines
        plain = replace(settings.config, dockerfile=None)
        report = _audit(base, replace(settings, baseline=None, config=plain))
        return Baseline(report.to_json(), base.image.reference or source.reference, base.fs)
    assert isinstance(source, LastRecorded)
    reference = loaded.image.reference or loaded.image.source.reference
    repository, _ = baselines.repository_of(reference, source.repository)
    return baselines.last_recorded(source.store_url, repository)


# ---- the result cache -------------------------------------------------------------------


def stored_results(loaded: LoadedImage, context: dict[str, Any]) -> ImageResults:
    """The image's entry in the result cache (an empty one when caching is off).
    `context`: what every check's result depends on besides the image and its options."""
    path = results_path(loaded)
    if path is None:
        return no_results()
    stored = ResultCache.open_path(path)
    stored.context = canonical(context)
    return stored


def results_path(loaded: LoadedImage) -> Path | None:
    """Where the image's results are kept (None: caching off). The fleet asks whether
    the file exists before it tries to report from it."""
    root = loaded.options.cache_root
    if root is None:
        return None
    limits = (loaded.options.max_ratio, loaded.options.max_entries)
    blobs = [layer.digest for layer in loaded.image.layers]
    return ResultCache(root).path(image_key(loaded.image.config, blobs, limits))


# ---- several images: the version-family comparison (PY004) ------------------------------


@dataclass(frozen=True)
class Family:
    """Several images' reports, and their comparison as version families (PY004)."""

    reports: tuple[Report, ...]
    rows: tuple[Any, ...]  # auditor.checks.py004_version_family.Row, one per image
    findings: tuple[Finding, ...]  # PY004's, under the config (disable, severity, ignore)

    def to_json(self) -> dict[str, Any]:
        """What `imgaudit scan A B --format json` prints."""
        return {
            "reports": [r.to_json() for r in self.reports],
            "version_family": {
                "rows": [row.to_json() for row in self.rows],
                "findings": [f.to_json() for f in self.findings],
            },
        }


def audit_many(images: Sequence[str | LoadedImage], settings: Settings | None = None) -> Family:
    """Each image as `audit` reports it, then the family comparison of them all."""
    settings = settings or Settings.from_config()
    reports = [audit(image, settings) for image in images]
    names = [i if isinstance(i, str) else i.image.source.reference for i in images]
    return compare_family(reports, names, settings)


def compare_family(reports: Sequence[Report], names: Sequence[str], settings: Settings) -> Family:
    """PY004 over reports already made (`names`: what each was scanned as). The family
    findings go through the config like any other: a disabled PY004 finds nothing."""
    from auditor.checks import py004_version_family as version_family

    config = settings.config
    members = [
        version_family.Member.from_facts(report.image.get("reference") or name, report.facts)
        for report, name in zip(reports, names)
    ]
    rows, found = version_family.families(members, today_utc())
    findings = configuration.apply(config, found).findings if config.selected("PY004") else []
    return Family(tuple(reports), tuple(rows), tuple(findings))
