from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from cio_sync.adapters.customerio.credentials import Credentials
from cio_sync.observability import metrics
from cio_sync_local.emulator import Emulator
from tests.observability import LogLines, captured_logs

# The credentials the shared `cio_emulator` fixture accepts.
EMULATOR_CREDENTIALS = Credentials(site_id="site", track_api_key="track-key", app_api_key="app-key")


@pytest.fixture
def log_lines() -> Iterator[LogLines]:
    with captured_logs() as lines:
        yield lines


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
