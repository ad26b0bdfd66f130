"""The member table's tests run on in-process moto, with no way to reach a real AWS account."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.offline_aws import offline_aws


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    with offline_aws(monkeypatch):
        yield
