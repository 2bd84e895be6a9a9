#!/usr/bin/env bash
# The GitHub Action's one step (action.yml at the repository root runs it).
#
# Why a script and not inline YAML: the runner's environment is all it needs, so the
# tests run it with the variables a runner sets (tests/test_github_action.py).
#
# Reads (action.yml passes its inputs as these):
#   INPUT_IMAGE        what `imgaudit scan` reads (required)
#   INPUT_FAIL_ON      info|warning|error (default error)
#   INPUT_FAIL_UNDER   a score 0-100, empty: none
#   INPUT_DOCKERFILE   the Dockerfile that built the image, empty: none
#   INPUT_SARIF_FILE   where the SARIF goes (default imgaudit.sarif)
#   INPUT_INSTALL      true: pip-install INPUT_PACKAGE into a venv of its own;
#                      false: use the `imgaudit` already on PATH
#   INPUT_PACKAGE      what pip installs (default: the action's own source,
#                      $GITHUB_ACTION_PATH, so `uses: ...@v1` runs imgaudit v1)
#   GITHUB_STEP_SUMMARY, GITHUB_OUTPUT, RUNNER_TEMP, GITHUB_ACTION_PATH (the runner's)
# Writes: the SARIF file (for github/codeql-action/upload-sarif), the Markdown report
# into the job summary, outputs grade, score, exit-code, sarif-file; annotations on
# stdout (imgaudit prints them when GITHUB_ACTIONS=true).
# Exit code: imgaudit's (0 passed, 1 the gate failed, 2 the image could not be read),
# after everything above is written, so an `if: always()` upload still finds the SARIF.
set -uo pipefail

image=${INPUT_IMAGE:-}
fail_on=${INPUT_FAIL_ON:-error}
fail_under=${INPUT_FAIL_UNDER:-}
dockerfile=${INPUT_DOCKERFILE:-}
sarif=${INPUT_SARIF_FILE:-imgaudit.sarif}
install=${INPUT_INSTALL:-true}
package=${INPUT_PACKAGE:-${GITHUB_ACTION_PATH:-}}
work=$(mktemp -d "${RUNNER_TEMP:-${TMPDIR:-/tmp}}/imgaudit.XXXXXX")
trap 'rm -rf "$work"' EXIT

summary() { # append stdin to the job summary, when the runner gave one
    if [[ -n ${GITHUB_STEP_SUMMARY:-} ]]; then cat >>"$GITHUB_STEP_SUMMARY"; else cat >/dev/null; fi
}
output() { # output NAME VALUE
    if [[ -n ${GITHUB_OUTPUT:-} ]]; then printf '%s=%s\n' "$1" "$2" >>"$GITHUB_OUTPUT"; fi
}
fail() { # a usage error: say it where the user looks, exit 2
    echo "::error title=imgaudit::$1"
    printf '### imgaudit: not run\n\n%s\n' "$1" | summary
    output exit-code 2
    exit 2
}

[[ -n $image ]] || fail "the input 'image' is required"
case $fail_on in info | warning | error) ;; *) fail "fail-on must be info, warning or error, not '$fail_on'" ;; esac

if [[ $install == true ]]; then
    [[ -n $package ]] || fail "nothing to install: set the input 'package' (or run as an action)"
    venv=${RUNNER_TEMP:-$work}/imgaudit-venv
    python=$(command -v python3 || command -v python) || fail "no python3 on this runner (actions/setup-python)"
    echo "::group::install imgaudit ($package)"
    if ! "$python" -m venv "$venv" || ! "$venv/bin/pip" install --quiet --disable-pip-version-check "$package"; then
        echo "::endgroup::"
        fail "could not install imgaudit from '$package'"
    fi
    echo "::endgroup::"
    imgaudit=$venv/bin/imgaudit
else
    imgaudit=$(command -v imgaudit) || fail "install is false but no imgaudit on PATH"
fi
py=$(dirname "$imgaudit")/python
[[ -x $py ]] || py=$(command -v python3)

args=(scan "$image" --fail-on "$fail_on" --quiet
    -o "sarif:$sarif" -o "json:$work/report.json" -o "markdown:$work/summary.md")
[[ -z $fail_under ]] || args+=(--fail-under "$fail_under")
[[ -z $dockerfile ]] || args+=(--dockerfile "$dockerfile")

mkdir -p "$(dirname "$sarif")"
GITHUB_ACTIONS=true "$imgaudit" "${args[@]}" 2>"$work/stderr"
code=$?
cat "$work/stderr" >&2
if [[ ! -s $work/report.json ]]; then # no report: the one-line error says why
    fail "$(tail -n 1 "$work/stderr" | sed 's/^imgaudit: error: //')"
fi
output exit-code "$code"
summary <"$work/summary.md"
"$py" - "$work/report.json" <<'EOF' >>"${GITHUB_OUTPUT:-/dev/null}"
import json
import sys

with open(sys.argv[1], encoding="utf-8") as fh:
    scores = json.load(fh).get("scores") or {}
print(f"grade={scores.get('grade', '')}")
print(f"score={scores.get('overall', '')}")
EOF
output sarif-file "$sarif"
exit "$code"
