"""What an integration test does when a real service cannot run here.

It skips with the reason, so a laptop without root still runs the rest; under
`IMGAUDIT_REQUIRE_INTEGRATION=1` (what scripts/test sets as root, and so CI) it fails
instead, so CI can never pass by skipping quietly.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest

REQUIRE_ENV = "IMGAUDIT_REQUIRE_INTEGRATION"


def unavailable(reason: str) -> NoReturn:
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{reason} (and {REQUIRE_ENV}=1)", pytrace=False)
    pytest.skip(reason)
