from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from cio_sync.customerio.credentials import Credentials
from cio_sync.observability import SERVICE, logger, metrics
from cio_sync_local.emulator import Emulator

# The credentials the shared `cio_emulator` fixture accepts.
EMULATOR_CREDENTIALS = Credentials(site_id="site", track_api_key="track-key", app_api_key="app-key")


class LogLines(logging.Handler):
    """Every log line exactly as Powertools would print it."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(logger.registered_formatter)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


@pytest.fixture
def log_lines() -> Iterator[LogLines]:
    handler = LogLines()
    target = logging.getLogger(SERVICE)
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


class Control:
    """The emulator's JSON control and inspection endpoints, over HTTP as a script would use them."""

    def __init__(self, emulator: Emulator) -> None:
        self.url = emulator.url + "/_emulator"

    def get(self, what: str) -> Any:
        response = requests.get(f"{self.url}/{what}", timeout=5)
        response.raise_for_status()
        return response.json()

    def faults(self, **settings: Any) -> None:
        requests.post(f"{self.url}/faults", json=settings, timeout=5).raise_for_status()


@pytest.fixture
def control(cio_emulator: Emulator) -> Control:
    return Control(cio_emulator)
