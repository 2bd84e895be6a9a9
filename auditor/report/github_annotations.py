"""GitHub Actions workflow commands: one `::error`/`::warning`/`::notice` line per finding.

GitHub turns these lines (on stdout or stderr of a step) into annotations on the run
summary. Image paths do not exist in the repository, so the annotation carries the
image path in `file=` and the check in `title=`; a finding with a Dockerfile line
(`--dockerfile`) is annotated on that line (`file=Dockerfile,line=14`), the image path
then in the message; values are escaped as the runner's
command parser expects (%, CR, LF in the message; also `:` and `,` in properties).
"""

from __future__ import annotations

from auditor.report.dockerfile_links import repo_path
from auditor.report.model import Report

LEVEL = {"error": "error", "warning": "warning", "info": "notice"}


def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def render(report: Report) -> str:
    lines = []
    for f in report.findings or ():
        props = []
        message = f.message
        if f.dockerfile is not None:  # the annotation lands on the line in the PR diff
            props.append(f"file={escape_property(repo_path(f.dockerfile.path))}")
            props.append(f"line={f.dockerfile.line}")
            if f.path:
                message += f" ({f.path} in the image)"
        elif f.path:
            props.append(f"file={escape_property(f.path)}")
        props.append(f"title={escape_property(f.check_id + ' ' + f.name)}")
        if f.remedy:
            message += f"\nFix: {f.remedy}"
        level = LEVEL[str(f.severity)]
        lines.append(f"::{level} {','.join(props)}::{escape_data(message)}\n")
    return "".join(lines)
