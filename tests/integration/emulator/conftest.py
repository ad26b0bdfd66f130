"""Fixtures for the emulator's own tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cio_sync_local.emulator import Emulator
from tests.integration.emulator.support import Api


@pytest.fixture
def api(cio_emulator: Emulator) -> Iterator[Api]:
    caller = Api(cio_emulator)
    yield caller
    caller.close()
