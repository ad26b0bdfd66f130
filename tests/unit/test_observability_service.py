"""The metrics' service dimension is the stack's name that template.yaml gives each function."""

from __future__ import annotations

import os
import subprocess
import sys

PROGRAM = "from cio_sync.observability import metrics, logger; print(metrics.service, logger.service)"


def _service_with(environment: dict[str, str]) -> str:
    variables = {name: value for name, value in os.environ.items() if name != "POWERTOOLS_SERVICE_NAME"}
    completed = subprocess.run(
        [sys.executable, "-c", PROGRAM],
        env={**variables, **environment},
        capture_output=True,
        text=True,
        check=True,
    )
    return completed.stdout.strip()


def test_metrics_and_logs_carry_the_stack_name_as_their_service() -> None:
    assert (
        _service_with({"POWERTOOLS_SERVICE_NAME": "cio-sync-staging"}) == "cio-sync-staging cio-sync-staging"
    )


def test_outside_a_stack_the_service_is_cio_sync() -> None:
    assert _service_with({}) == "cio-sync cio-sync"
