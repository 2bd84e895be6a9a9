"""Shared fixtures: every test gets its own layer cache, never the user's."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _private_cache(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    path = tmp_path_factory.mktemp("imgaudit-cache")
    monkeypatch.setenv("IMGAUDIT_CACHE_DIR", str(path))
    return path
