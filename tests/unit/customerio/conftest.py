from __future__ import annotations

from collections.abc import Iterator

import pytest

from cio_sync.adapters.customerio.credentials import Credentials
from cio_sync.observability import metrics
from tests.observability import LogLines, captured_logs
from tests.unit.customerio.fakes import FakeClock

CREDENTIALS = Credentials(site_id="site-1", track_api_key="track-secret-key", app_api_key="app-secret-key")


@pytest.fixture
def log_lines() -> Iterator[LogLines]:
    with captured_logs() as lines:
        yield lines


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
