from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from cio_sync.adapters.customerio.credentials import (
    APP_FIELDS,
    SECRET_MAX_AGE_S,
    TRACK_FIELDS,
    Credentials,
    SecretCredentials,
    parse_credentials,
)
from cio_sync.adapters.customerio.track_client import TrackClient
from cio_sync.customerio.errors import CredentialsError
from cio_sync.environment import Environment
from cio_sync.handlers.customerio_settings import app_api_settings, track_api_settings
from cio_sync.handlers.email_runtime import app_client
from cio_sync.handlers.track_runtime import track_client
from cio_sync.observability import logger
from tests.observability import captured_logs
from tests.unit.customerio.conftest import metric_total

SECRET = {"site_id": "site-9", "track_api_key": "tk-very-secret", "app_api_key": "ak-very-secret"}
NAME = "cio-sync/customer-io"


class FakeSecretsManager:
    """GetSecretValue of one secret, counted; `value` a string to return or an error to raise."""

    def __init__(self, value: str | Exception) -> None:
        self.value = value
        self.calls: list[str] = []

    def get_secret_value(self, SecretId: str) -> dict[str, Any]:
        self.calls.append(SecretId)
        if isinstance(self.value, Exception):
            raise self.value
        return {"SecretString": self.value}


def reader(manager: FakeSecretsManager, clock: list[float] | None = None) -> SecretCredentials:
    now = clock if clock is not None else [0.0]
    return SecretCredentials(NAME, lambda: manager, clock=lambda: now[0])


def test_reads_the_json_secret_once_then_again_after_five_minutes() -> None:
    manager, clock = FakeSecretsManager(json.dumps(SECRET)), [0.0]
    credentials = reader(manager, clock)
    assert credentials() == Credentials("site-9", "tk-very-secret", "ak-very-secret")
    clock[0] = SECRET_MAX_AGE_S - 1
    credentials()
    assert manager.calls == [NAME]
    clock[0] = SECRET_MAX_AGE_S + 1
    credentials()
    assert manager.calls == [NAME, NAME]


def test_repr_hides_the_keys() -> None:
    shown = repr(Credentials("site-9", "tk-very-secret", "ak-very-secret")) + str(
        Credentials("site-9", "tk-very-secret", "ak-very-secret")
    )
    assert "site-9" in shown
    assert "very-secret" not in shown


def test_credentials_logged_as_a_value_show_no_key() -> None:
    """A JSON log line serialises what it cannot encode with str(): a tuple would be written item by item."""
    credentials = Credentials("site-9", "tk-very-secret", "ak-very-secret")
    with captured_logs() as logs:
        logger.info("read", extra={"credentials": credentials})
    assert "site-9" in logs.text
    assert "very-secret" not in logs.text


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (json.dumps({"site_id": "s", "track_api_key": "tk-very-secret"}), "lacks app_api_key"),
        (json.dumps({**SECRET, "site_id": ""}), "lacks site_id"),
        (json.dumps("just a string"), "not a JSON object"),
        ("{not json, tk-very-secret", "not a JSON object"),
        (ClientError({"Error": {"Code": "AccessDeniedException"}}, "GetSecretValue"), "could not be read"),
    ],
)
def test_a_bad_secret_names_the_problem_not_the_values(value: str | Exception, expected: str) -> None:
    with pytest.raises(CredentialsError, match=expected) as caught:
        reader(FakeSecretsManager(value))()
    assert "very-secret" not in str(caught.value)


def test_each_function_builds_its_own_client_and_a_dry_run_never_reads_the_secret() -> None:
    environment = {
        "CUSTOMER_IO_REGION": "eu",
        "CUSTOMER_IO_TRACK_SECRET_NAME": "cio-sync/customer-io-track",
        "CUSTOMER_IO_APP_SECRET_NAME": "cio-sync/customer-io-app",
        "CUSTOMER_IO_ENABLED": "false",
        "CUSTOMER_IO_TRACK_URL": "http://127.0.0.1:1",
        "CUSTOMER_IO_APP_URL": "",
        "CUSTOMER_IO_TRACK_RATE_PER_S": "100",
        "CUSTOMER_IO_TRACK_CONCURRENCY": "2",
        "CUSTOMER_IO_APP_RATE_PER_S": "10",
        "CUSTOMER_IO_APP_CONCURRENCY": "2",
    }
    track = track_client(track_api_settings(Environment(environment)))
    app = app_client(app_api_settings(Environment(environment)))
    assert track.base_url == "http://127.0.0.1:1"
    assert app.base_url == "https://api-eu.customer.io"
    assert not track.enabled
    assert not app.enabled
    # Sockets are disabled in unit tests: reading the secret would fail here.
    assert app.send_email("a@b.co", "m", "placeholder", {}) == "dry-run"


def test_each_api_reads_only_its_own_keys_from_its_own_secret() -> None:
    """The track function's secret holds the Track keys, the email function's the App key: neither
    needs, nor may read, the other's (template.yaml grants one secret per function)."""
    track = parse_credentials("t", json.dumps({"site_id": "s", "track_api_key": "tk"}), TRACK_FIELDS)
    assert (track.site_id, track.track_api_key, track.app_api_key) == ("s", "tk", "")
    app = parse_credentials("a", json.dumps({"app_api_key": "ak"}), APP_FIELDS)
    assert (app.site_id, app.app_api_key) == ("", "ak")
    with pytest.raises(CredentialsError, match="lacks app_api_key"):
        parse_credentials("a", json.dumps({"site_id": "s", "track_api_key": "tk"}), APP_FIELDS)


def test_a_secret_that_gives_no_keys_counts_as_a_configuration_error() -> None:
    """Otherwise a secret the role may not read, or one missing a key, shows on no alarm at all."""
    denied = ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "GetSecretValue")
    secrets = FakeSecretsManager(denied)
    client = TrackClient(SecretCredentials(NAME, lambda: secrets, fields=TRACK_FIELDS), base_url="http://x")
    before = metric_total("CustomerIoConfigurationErrors")
    with pytest.raises(CredentialsError, match=f"secret {NAME} could not be read"):
        client.get_json("/api/v1/accounts/region", operation="region")
    assert metric_total("CustomerIoConfigurationErrors") == before + 1
    assert metric_total("CustomerIoErrors") >= 1


def test_the_secrets_manager_client_is_made_once() -> None:
    made: list[FakeSecretsManager] = []

    def make() -> FakeSecretsManager:
        made.append(FakeSecretsManager(json.dumps(SECRET)))
        return made[-1]

    clock = [0.0]
    credentials = SecretCredentials(NAME, make, clock=lambda: clock[0])
    credentials()
    clock[0] += SECRET_MAX_AGE_S + 1
    credentials()
    assert len(made) == 1
    assert made[0].calls == [NAME, NAME]
