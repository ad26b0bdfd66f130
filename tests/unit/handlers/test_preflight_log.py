"""The consumers' preflight is logged once, at the first invocation, and never fails it."""

from __future__ import annotations

from cio_sync.adapters.customerio.preflight import Check
from cio_sync.handlers.customerio_settings import log_preflight
from tests.observability import captured_logs


def test_a_failed_preflight_is_one_error_line_naming_each_check() -> None:
    checks = [Check("App API key", True, "accepted"), Check("placeholder profile id", False, "not set")]
    with captured_logs() as logs:
        log_preflight(checks)
    (entry,) = logs.entries
    assert entry["level"] == "ERROR"
    assert "FAILED" in entry["message"]
    assert entry["checks"] == [check.line() for check in checks]


def test_a_dry_run_has_nothing_to_check_and_logs_nothing() -> None:
    with captured_logs() as logs:
        log_preflight([])
    assert logs.entries == []
