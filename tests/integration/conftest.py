"""Shared integration fixtures: one local Customer.io emulator per test session, reset before each test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cio_sync_local.emulator import Emulator
from cio_sync_local.moto_server import share_within_process

EMULATOR_SITE_ID = "site"
EMULATOR_TRACK_API_KEY = "track-key"
EMULATOR_APP_API_KEY = "app-key"

# The local stacks a test process starts one after another share one moto server, reset between them.
share_within_process()


@pytest.fixture(scope="session")
def _cio_emulator_server() -> Iterator[Emulator]:
    """Starting the server and compiling the OpenAPI validators once keeps each test cheap."""
    with Emulator(
        site_id=EMULATOR_SITE_ID, track_api_key=EMULATOR_TRACK_API_KEY, app_api_key=EMULATOR_APP_API_KEY
    ) as emulator:
        yield emulator


@pytest.fixture
def cio_emulator(_cio_emulator_server: Emulator) -> Emulator:
    """A running emulator with credentials site / track-key / app-key and empty state, no faults, no limit."""
    _cio_emulator_server.reset()
    return _cio_emulator_server
