from __future__ import annotations

from typing import Any

import pytest
from aws_lambda_powertools.utilities import parameters

from cio_sync.adapters.customerio.credentials import SECRET_MAX_AGE_S, Credentials, load_credentials
from cio_sync.customerio.errors import CredentialsError
from cio_sync.environment import Environment
from cio_sync.handlers.customerio_clients import (
    app_api_settings,
    app_client,
    track_api_settings,
    track_client,
)

SECRET = {"site_id": "site-9", "track_api_key": "tk-very-secret", "app_api_key": "ak-very-secret"}


class FakeSecrets:
    def __init__(self, value: Any) -> None:
        self.value = value
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, name: str, **options: Any) -> Any:
        self.calls.append((name, options))
        if isinstance(self.value, Exception):
            raise self.value
        return self.value


@pytest.fixture
def secrets(monkeypatch: pytest.MonkeyPatch) -> FakeSecrets:
    fake = FakeSecrets(SECRET)
    monkeypatch.setattr(parameters, "get_secret", fake)
    return fake


def test_loads_the_json_secret_through_powertools_with_a_cache(secrets: FakeSecrets) -> None:
    credentials = load_credentials("cio-sync/customer-io")
    assert credentials == Credentials("site-9", "tk-very-secret", "ak-very-secret")
    assert secrets.calls == [("cio-sync/customer-io", {"transform": "json", "max_age": SECRET_MAX_AGE_S})]


def test_repr_hides_the_keys() -> None:
    shown = repr(Credentials("site-9", "tk-very-secret", "ak-very-secret")) + str(
        Credentials("site-9", "tk-very-secret", "ak-very-secret")
    )
    assert "site-9" in shown
    assert "very-secret" not in shown


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"site_id": "s", "track_api_key": "tk-very-secret"}, "lacks app_api_key"),
        ({**SECRET, "site_id": ""}, "lacks site_id"),
        ("just a string", "not a JSON object"),
        (parameters.TransformParameterError("bad json"), "not a JSON object"),
        (parameters.GetParameterError("AccessDenied"), "could not be read"),
    ],
)
def test_a_bad_secret_names_the_problem_not_the_values(
    secrets: FakeSecrets, value: Any, expected: str
) -> None:
    secrets.value = value
    with pytest.raises(CredentialsError, match=expected) as caught:
        load_credentials("cio-sync/customer-io")
    assert "very-secret" not in str(caught.value)


def test_each_function_builds_its_own_client_and_a_dry_run_never_reads_the_secret(
    secrets: FakeSecrets,
) -> None:
    environment = {
        "CUSTOMER_IO_REGION": "eu",
        "CUSTOMER_IO_SECRET_NAME": "cio-sync/customer-io",
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
    assert app.send_email("a@b.co", "m", "placeholder", {}) == "dry-run"
    assert secrets.calls == []
