"""`cio-sync doctor` needs only what it checks from an operator's shell, and `--json` prints JSON."""

from __future__ import annotations

import json

import pytest

from cio_sync.adapters.customerio.preflight import Check
from cio_sync_cli.doctor_cli import FUNCTIONS, doctor_inputs, doctor_report
from cio_sync_cli.errors import CommandError

CHECKED = {
    "CUSTOMER_IO_TRACK_SECRET_NAME": "cio-sync/prod/customer-io-track",
    "CUSTOMER_IO_APP_SECRET_NAME": "cio-sync/prod/customer-io-app",
    "CUSTOMER_IO_REGION": "eu",
    "CUSTOMER_IO_APP_IDENTIFIER_ID": "cio-sync-transactional",
    "CUSTOMER_IO_FORGOT_PASSWORD_TRANSACTIONAL_MESSAGE_ID": "3",
    "CUSTOMER_IO_PASSWORD_UPDATED_TRANSACTIONAL_MESSAGE_ID": "password_updated",
}


def test_only_the_checked_variables_are_needed() -> None:
    inputs = doctor_inputs(dict.fromkeys(FUNCTIONS, CHECKED))  # no rates, no concurrency, no switch
    assert inputs.track_api.secret_name == "cio-sync/prod/customer-io-track"
    assert inputs.app_api.secret_name == "cio-sync/prod/customer-io-app"
    assert inputs.track_api.region == inputs.app_api.region == "eu"
    assert inputs.app_api.base_url == "https://api-eu.customer.io"
    assert inputs.message_ids == [("forgot_password", "3"), ("password_updated", "password_updated")]


def test_a_missing_checked_variable_is_one_clear_error() -> None:
    partial = {name: value for name, value in CHECKED.items() if name != "CUSTOMER_IO_APP_SECRET_NAME"}
    with pytest.raises(CommandError, match="CUSTOMER_IO_APP_SECRET_NAME"):
        doctor_inputs(dict.fromkeys(FUNCTIONS, partial))


CHECKS = [
    Check("App API key", True, "accepted"),
    Check("transactional message for forgot_password", None, "a trigger name"),
    Check("Track API credentials and region", False, "refused (401)"),
]


def test_json_is_one_object_with_every_check_and_the_verdict() -> None:
    report = json.loads(doctor_report("stack cio-sync-dev (AWS us-east-1)", CHECKS, as_json=True))
    assert report == {
        "target": "stack cio-sync-dev (AWS us-east-1)",
        "passed": False,
        "checks": [
            {"name": "App API key", "ok": True, "detail": "accepted"},
            {"name": "transactional message for forgot_password", "ok": None, "detail": "a trigger name"},
            {"name": "Track API credentials and region", "ok": False, "detail": "refused (401)"},
        ],
    }


def test_without_json_one_line_per_check_under_the_target() -> None:
    lines = doctor_report("environment (AWS)", CHECKS, as_json=False).splitlines()
    assert lines[0] == "cio-sync doctor: environment (AWS)"
    assert lines[1:] == [check.line() for check in CHECKS]
