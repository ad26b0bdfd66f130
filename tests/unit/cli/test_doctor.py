"""`cio-sync doctor` needs only what it checks from an operator's shell."""

from __future__ import annotations

import pytest

from cio_sync_cli.doctor_cli import FUNCTIONS, doctor_inputs
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
