"""One status line on stderr for slow work (pulls, exports, layer downloads).

Why so small: progress is a courtesy for a person at a terminal. When stderr is not
a terminal (CI logs, pipes) or `--quiet` is given, nothing is written, so machine
output and logs stay clean. Updates are throttled and always rewrite the same line
(`\\r` + clear), so several worker processes sharing the terminal never scroll it.
"""

from __future__ import annotations

import sys
import time

_INTERVAL = 0.1  # seconds between redraws
_WIDTH = 24  # characters of the bar itself


def enabled(quiet: bool) -> bool:
    """Progress is shown only on a terminal, and never with --quiet."""
    if quiet:
        return False
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def human(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"


def bar(done: int, total: int | None) -> str:
    """`[#####.....] 12.0 MB/40.0 MB`, or just the count when the total is unknown."""
    if not total:
        return human(done)
    filled = min(_WIDTH, int(_WIDTH * done / total))
    return f"[{'#' * filled}{'.' * (_WIDTH - filled)}] {human(done)}/{human(total)}"


class StatusLine:
    """A throttled, self-overwriting line on stderr (a no-op when disabled)."""

    def __init__(self, show: bool) -> None:
        self.show = show
        self._last = 0.0
        self._drawn = False

    def update(self, text: str, force: bool = False) -> None:
        if not self.show:
            return
        now = time.monotonic()
        if not force and now - self._last < _INTERVAL:
            return
        self._last = now
        sys.stderr.write("\r\x1b[K" + text[:160])
        sys.stderr.flush()
        self._drawn = True

    def clear(self) -> None:
        if self.show and self._drawn:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()
            self._drawn = False
