"""Sizes as reports list and compare them: shared by the report, `diff`, `history`
and SZ005.

A report keeps only its TOP_DIRECTORIES largest directories (at most DIRECTORY_DEPTH
path components deep), so whatever is compared with a report's list must be measured
and cut the same way. Growth counts as a regression (SZ005) or a jump (`history`)
beyond REGRESSION_PERCENT of the earlier size or REGRESSION_BYTES.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # deferred: start-up time, see README "Performance"
    from auditor.fs import FileSystem

TOP_DIRECTORIES = 15
DIRECTORY_DEPTH = 3
REGRESSION_PERCENT = 10.0
REGRESSION_BYTES = 50_000_000


def directory_sizes(fs: FileSystem) -> dict[str, int]:
    """Every directory down to DIRECTORY_DEPTH, as an absolute path, with its content size
    (the recursive size of its regular files; directories holding no byte left out)."""
    return {"/" + p: b for p, b in fs.directory_sizes(DIRECTORY_DEPTH).items()}


def top_directories(sizes: dict[str, int], n: int = TOP_DIRECTORIES) -> dict[str, int]:
    """The `n` largest, largest first (ties by path): the report's `sizes` cut."""
    return dict(sorted(sizes.items(), key=lambda kv: (-kv[1], kv[0]))[:n])
