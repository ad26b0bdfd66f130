from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from cio_sync.customerio.credentials import Credentials
from cio_sync.observability import SERVICE, logger, metrics
from tests.unit.customerio.fakes import FakeClock

CREDENTIALS = Credentials(site_id="site-1", track_api_key="track-secret-key", app_api_key="app-secret-key")


class LogLines(logging.Handler):
    """Every log line exactly as Powertools would print it (JSON with the extra keys)."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(logger.registered_formatter)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))

    @property
    def entries(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.lines]

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


@pytest.fixture
def log_lines() -> Iterator[LogLines]:
    handler = LogLines()
    target = logging.getLogger(SERVICE)  # the standard logger behind Powertools' Logger
    target.addHandler(handler)
    previous = target.level
    target.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        target.setLevel(previous)
        target.removeHandler(handler)


@pytest.fixture(autouse=True)
def fresh_metrics() -> Iterator[None]:
    metrics.clear_metrics()
    yield
    metrics.clear_metrics()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def metric_total(name: str) -> float:
    """Sum of the values recorded (not yet flushed) for one metric."""
    entry = metrics.metric_set.get(name)
    return float(sum(entry["Value"])) if entry else 0.0
