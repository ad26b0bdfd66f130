"""Unit tests are pure: no socket, whichever command runs them (`make unit` or make test's single run),
and no metric left over from another test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from cio_sync.observability import metrics

UNIT = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.is_relative_to(UNIT):
            item.add_marker(pytest.mark.disable_socket)


@pytest.fixture(autouse=True)
def fresh_metrics() -> Iterator[None]:
    """Powertools keeps one metric set per process: each test starts with it empty and leaves it so."""
    metrics.clear_metrics()
    yield
    metrics.clear_metrics()
