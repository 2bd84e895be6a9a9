"""CPU seconds per step of a scan whose layers come from the layer cache.

What a scan of a new image over cached lower layers pays after reading its new layer:
loading cached indexes, merging them, each fact, each check. Run it on the benchmark
image after one `imgaudit scan` has filled the cache:

    IMGAUDIT_CACHE_DIR=/tmp/cache python3 -m bench.checks_cost docker-archive:BIG.tar

Facts are computed lazily by the first check that asks, so they are timed first, on
their own; checks are then timed with every fact in place. Not a timed test: a tool
for deciding what to optimise (bench/PROFILE.md).
"""

from __future__ import annotations

import argparse
import contextlib
import time
from collections.abc import Callable
from typing import Any

from auditor.checks import ALL_CHECKS
from auditor.context import CheckContext
from auditor.facts import Facts
from auditor.loading import LoadOptions, open_loaded
from auditor.report import sections

FACTS = (
    "os", "users", "dpkg", "distro", "distributions", "owners", "pythons", "venvs",
    "venv_writable", "app_dirs", "extension_modules", "pycs", "elf_graph", "glibc_version",
    "compilers", "dev_files",
)  # fmt: skip


def cpu(step: Callable[[], Any]) -> float:
    start = time.process_time()
    step()
    return time.process_time() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("image")
    parser.add_argument("--top", type=int, default=15, help="rows to print")
    args = parser.parse_args()
    loaded = open_loaded(args.image, LoadOptions(jobs=1))
    rows = [("load cached layer indexes", cpu(lambda: loaded.indexes))]
    rows.append(("merge (FileSystem)", cpu(lambda: loaded.fs)))
    facts = Facts(loaded)
    rows += [(f"fact {name}", cpu(lambda n=name: getattr(facts, n))) for name in FACTS]  # type: ignore[misc]
    for check in ALL_CHECKS:
        ctx = CheckContext(facts)

        def run(check: Any = check, ctx: CheckContext = ctx) -> None:
            with contextlib.suppress(Exception):  # Skip and the like: the cost counts
                list(check.run(ctx))

        rows.append((f"check {check.info.id} {check.info.name}", cpu(run)))
    # The report's content sections (auditor/report/sections.py), after the checks
    for name in ("layer_sizes", "waste_section", "sizes_section"):
        rows.append((f"report {name}", cpu(lambda n=name: getattr(sections, n)(loaded))))  # type: ignore[misc]
    rows.append(("report skipped_section", cpu(lambda: sections.skipped_section(loaded.fs))))
    total = sum(t for _, t in rows)
    print(f"{'step':<44} {'CPU s':>7} {'share':>6}")
    for what, t in sorted(rows, key=lambda r: -r[1])[: args.top]:
        print(f"{what:<44} {t:7.3f} {100 * t / total:5.1f}%")
    print(f"{'all steps':<44} {total:7.3f}")


if __name__ == "__main__":
    main()
