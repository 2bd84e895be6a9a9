"""The tally: per check, imgaudit's findings on the realistic set judged against the truth.

    python -m tests.realistic.tally [--output FILE] [--details]

Builds (or reuses) the set in the shared test engine, establishes each image's truth by
running it, scans each image with ``imgaudit scan --format json``, judges every finding
(tests/realistic/judge.py) and prints a Markdown table per check: findings, judged
correct, judged false and missed, then every false finding and every miss with its
reason. Issue 15's "before" is this output on the code before the fixes
(tests/data/realistic/BEFORE.md).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

_ROOT = Path(__file__).resolve().parents[2]
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

from tests.realistic.judge import Verdict, judge_image, load_expected  # noqa: E402
from tests.realistic.reports import code_digest, scan  # noqa: E402
from tests.support import realistic_images  # noqa: E402
from tests.support.realistic_truth import establish  # noqa: E402
from tests.support.services import shared_docker_engine  # noqa: E402


def tally(details: bool) -> str:
    timings: dict[str, float] = {}
    start = time.monotonic()
    with shared_docker_engine() as engine:
        built = realistic_images.build_set(engine)
        timings["build"] = time.monotonic() - start
        mark = time.monotonic()
        truths = {name: establish(engine, image) for name, image in built.items()}
        timings["truth"] = time.monotonic() - mark
        mark = time.monotonic()
        reports = {name: scan(engine, image) for name, image in built.items()}
        timings["scan"] = time.monotonic() - mark
    expected = load_expected()
    verdicts: dict[str, dict[str, list[Verdict]]] = {
        name: judge_image(name, reports[name], truths[name], expected) for name in built
    }
    checks = sorted({c for per in verdicts.values() for c in per})
    lines = [
        f"imgaudit code digest {code_digest()}; images: {', '.join(built)}",
        "",
        "| check | findings | correct | false | of which errors | missed |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    totals: Counter[str] = Counter()
    for check in checks:
        counts: Counter[str] = Counter()
        for per in verdicts.values():
            counts.update(v.kind for v in per.get(check, []))
            counts["false errors"] += sum(
                v.kind == "false" and v.severity == "error" for v in per.get(check, [])
            )
        findings = counts["correct"] + counts["false"]
        if check not in ("inventory", "pythons"):
            totals.update(counts)
        if findings or counts["missed"]:
            lines.append(
                f"| {check} | {findings} | {counts['correct']} | {counts['false']} "
                f"| {counts['false errors']} | {counts['missed']} |"
            )
    total = totals["correct"] + totals["false"]
    lines.append(
        f"| **all checks** | {total} | {totals['correct']} | {totals['false']} "
        f"| {totals['false errors']} | {totals['missed']} |"
    )
    lines += ["", "Per image (checks only): findings / false / missed", ""]
    for name, per in verdicts.items():
        c: Counter[str] = Counter(
            v.kind for check, vs in per.items() if check not in ("inventory", "pythons") for v in vs
        )
        lines.append(f"- {name}: {c['correct'] + c['false']} / {c['false']} / {c['missed']}")
    for kind in ("false", "missed"):
        lines += ["", f"## {kind.capitalize()} (grouped by image, check and reason)", ""]
        for name, per in verdicts.items():
            for check in checks:
                groups: dict[str, list[str]] = {}
                for v in per.get(check, []):
                    if v.kind == kind:
                        groups.setdefault(v.reason, []).append(v.subject)
                for reason, subjects in groups.items():
                    shown = subjects if details else subjects[:1]
                    times = f" x{len(subjects)}" if len(subjects) > 1 else ""
                    lines.append(f"- {name} {check}{times}: {reason[:220]}")
                    lines += [f"    - {subject[:200]}" for subject in shown]
    lines += [
        "",
        "Timings (s): " + ", ".join(f"{k} {v:.0f}" for k, v in timings.items()),
        "Image builds (s, 0 = reused): "
        + ", ".join(f"{k} {v:.0f}" for k, v in realistic_images.BUILD_SECONDS.items()),
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", type=Path, help="also write the tally to this file")
    parser.add_argument(
        "--details", action="store_true", help="list every false finding, not one per reason"
    )
    args = parser.parse_args(argv)
    text = tally(args.details)
    sys.stdout.write(text)
    if args.output:
        args.output.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
