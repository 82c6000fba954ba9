"""Fixtures for the data tests: bugs raise instead of becoming a clean error line."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _bugs_raise(monkeypatch: pytest.MonkeyPatch) -> None:
    """TUNEFORGE_DEBUG=1: an unexpected exception in `check` fails the test loudly."""
    monkeypatch.setenv("TUNEFORGE_DEBUG", "1")
