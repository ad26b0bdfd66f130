"""Each function's settings: only its own variables, all required, read once; errors name the variable."""

from collections.abc import Callable
from typing import Any

import pytest

from cio_sync.adapters.customerio.track_client import TrackClient
from cio_sync.adapters.customerio.transport_policy import RetryPolicy
from cio_sync.environment import Environment, SettingsError
from cio_sync.handlers.customerio_settings import app_api_settings, customerio_client, track_api_settings
from cio_sync.handlers.email_runtime import EmailSettings
from cio_sync.handlers.import_chunk_runtime import ImportChunkSettings
from cio_sync.handlers.import_file_runtime import ImportFileSettings
from cio_sync.handlers.member_stream_runtime import MemberStreamSettings
from cio_sync.handlers.profile_sweep_runtime import ProfileSweepSettings
from cio_sync.handlers.track_runtime import TrackSettings

CUSTOMER_IO = {
    "CUSTOMER_IO_REGION": "us",
    "CUSTOMER_IO_TRACK_SECRET_NAME": "cio-sync/customer-io-track",
    "CUSTOMER_IO_APP_SECRET_NAME": "cio-sync/customer-io-app",
    "CUSTOMER_IO_ENABLED": "true",
    "CUSTOMER_IO_TRACK_URL": "",
    "CUSTOMER_IO_APP_URL": "",
}
TRACK = {
    **CUSTOMER_IO,
    "AWS_REGION": "eu-west-1",
    "MEMBER_TABLE_NAME": "members",
    "TRACK_QUEUE_URL": "https://sqs/track.fifo",
    "TRACK_DEAD_LETTER_QUEUE_URL": "https://sqs/track-dlq.fifo",
    "MAX_RECEIVE_COUNT": "300",
    "CUSTOMER_IO_TRACK_RATE_PER_S": "100",
    "CUSTOMER_IO_TRACK_CONCURRENCY": "4",
}


def test_track_settings_read_its_variables_and_share_the_budget() -> None:
    settings = TrackSettings.from_env(TRACK)
    assert (settings.region, settings.member_table, settings.queue.max_receive_count) == (
        "eu-west-1",
        "members",
        300,
    )
    assert settings.queue.retry_time_scale == 1.0
    assert settings.track_api.base_url == "https://track.customer.io"
    assert settings.track_api.rate_per_process == 25


def test_the_track_and_email_clients_run_their_backoff_on_the_stacks_clock() -> None:
    """RETRY_TIME_SCALE (the local stack's compressed-time tests only) reaches the transport's retry policy
    (what it scales: tests/unit/customerio/test_track.py); unset, the policy is production's."""
    assert track_api_settings(Environment(TRACK)).retry_time_scale == 1.0
    settings = track_api_settings(Environment({**TRACK, "RETRY_TIME_SCALE": "0.01"}))
    assert settings.retry_time_scale == 0.01
    app = {**CUSTOMER_IO, "CUSTOMER_IO_APP_RATE_PER_S": "10", "CUSTOMER_IO_APP_CONCURRENCY": "1"}
    assert app_api_settings(Environment({**app, "RETRY_TIME_SCALE": "0.01"})).retry_time_scale == 0.01
    assert customerio_client(TrackClient, settings)._transport._retry == RetryPolicy(time_scale=0.01)
    unset = track_api_settings(Environment(TRACK))
    assert customerio_client(TrackClient, unset)._transport._retry == RetryPolicy()  # production's


def test_an_override_url_replaces_the_regions_host() -> None:
    env = Environment({**TRACK, "CUSTOMER_IO_REGION": "eu", "CUSTOMER_IO_TRACK_URL": "http://127.0.0.1:8099"})
    assert track_api_settings(env).base_url == "http://127.0.0.1:8099"
    env = Environment({**TRACK, "CUSTOMER_IO_REGION": "eu"})
    assert track_api_settings(env).base_url == "https://track-eu.customer.io"


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("CUSTOMER_IO_REGION", "ap", "CUSTOMER_IO_REGION must be one of us, eu"),
        ("CUSTOMER_IO_ENABLED", "maybe", "CUSTOMER_IO_ENABLED must be true or false"),
        ("CUSTOMER_IO_TRACK_RATE_PER_S", "-1", "must be positive"),
        ("RETRY_TIME_SCALE", "nan", "RETRY_TIME_SCALE must be positive and finite"),
        ("RETRY_TIME_SCALE", "inf", "RETRY_TIME_SCALE must be positive and finite"),
        ("MAX_RECEIVE_COUNT", "many", "MAX_RECEIVE_COUNT must be a number"),
        ("MAX_RECEIVE_COUNT", "2.5", "MAX_RECEIVE_COUNT must be a whole number"),
        ("TRACK_QUEUE_URL", "", "TRACK_QUEUE_URL is required"),
    ],
)
def test_bad_values_name_the_variable_not_the_value(name: str, value: str, message: str) -> None:
    with pytest.raises(SettingsError, match=message) as raised:
        TrackSettings.from_env({**TRACK, name: value})
    assert value not in str(raised.value) or value in message


@pytest.mark.parametrize(
    "from_env",
    [
        MemberStreamSettings.from_env,
        TrackSettings.from_env,
        EmailSettings.from_env,
        ImportFileSettings.from_env,
        ImportChunkSettings.from_env,
        ProfileSweepSettings.from_env,
    ],
)
def test_nothing_has_a_default_resource(from_env: Callable[[dict[str, str]], Any]) -> None:
    """An empty environment fails at cold start, naming a variable, instead of half-running."""
    with pytest.raises(SettingsError, match="is required"):
        from_env({})


def test_dry_run_switch() -> None:
    assert track_api_settings(Environment({**TRACK, "CUSTOMER_IO_ENABLED": "false"})).enabled is False


SWEEP = {
    **CUSTOMER_IO,
    "AWS_REGION": "eu-west-1",
    "MEMBER_TABLE_NAME": "members",
    "TRACK_QUEUE_URL": "https://sqs/track.fifo",
    "CUSTOMER_IO_APP_IDENTIFIER_ID": "cio-sync-transactional",
    "PROFILE_SWEEP_APP_RATE_PER_S": "5",
    "PROFILE_SWEEP_CHECK_ATTRIBUTES": "false",
    "PROFILE_SWEEP_MAX_DELETES": "10000",
    "PROFILE_SWEEP_FIND_MISSING": "true",
    "PROFILE_SWEEP_READ_CONSENT": "false",
    "PROFILE_SWEEP_READ_OPT_OUTS": "true",
    "VOLATILE_SYNC_WINDOW_S": "86400",
}


def test_the_sweep_paces_itself_alone_at_its_own_app_api_budget() -> None:
    settings = ProfileSweepSettings.from_env({**SWEEP, "CUSTOMER_IO_REGION": "eu"})
    assert settings.app_api.rate_per_process == 5.0
    assert settings.app_api.base_url == "https://api-eu.customer.io"
    assert (settings.placeholder_id, settings.check_attributes, settings.max_deletes) == (
        "cio-sync-transactional",
        False,
        10000,
    )
    assert settings.volatile_window_s == 86400


@pytest.mark.parametrize(
    ("name", "value"),
    [("PROFILE_SWEEP_MAX_DELETES", "0"), ("PROFILE_SWEEP_CHECK_ATTRIBUTES", "sometimes")],
)
def test_the_sweeps_switches_are_checked(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name):
        ProfileSweepSettings.from_env({**SWEEP, name: value})
