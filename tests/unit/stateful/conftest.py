"""The machine runs thousands of invocations: their INFO lines and metric flushes (EMF printed to stdout)
cost more than the pipeline itself, and no verdict reads them. Warnings and errors are still formatted,
so a log call that cannot be built still fails a test; restored after each test."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from cio_sync.observability import SERVICE


@pytest.fixture(autouse=True)
def quiet_pipeline(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    logger = logging.getLogger(SERVICE)  # Powertools' Logger logs through the standard one of its service
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)
