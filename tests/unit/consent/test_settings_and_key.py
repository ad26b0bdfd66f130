"""The consent function's settings (topic map, bounce policy, quarantine window) and the signing key's
secret: clear errors that name the variable or the secret, never a value."""

from __future__ import annotations

from typing import Any

import pytest

from cio_sync.adapters.signing_key import SecretSigningKey
from cio_sync.customerio.errors import CredentialsError
from cio_sync.environment import SettingsError
from cio_sync.handlers.consent_runtime import ConsentSettings

START, END = "CONSENT_QUARANTINE_START", "CONSENT_QUARANTINE_END"
BASE = {
    "AWS_REGION": "us-east-1",
    "MEMBER_TABLE_NAME": "members",
    "CONSENT_DEAD_LETTER_QUEUE_URL": "dlq",
    "CONSENT_QUARANTINE_QUEUE_URL": "quarantine",
    "EMAIL_TOPIC_MAP": "news=1, lifestyle=2,community=10",
    "BOUNCE_POLICY": "unsubscribe",
    "CONSENT_QUARANTINE_START": "",
    "CONSENT_QUARANTINE_END": "",
    "CUSTOMER_IO_APP_IDENTIFIER_ID": "placeholder",
}


def test_settings_read_the_map_the_policy_and_no_window() -> None:
    policy = ConsentSettings.from_env(BASE).policy
    assert policy.topic_map == {"topic_1": "news", "topic_2": "lifestyle", "topic_10": "community"}
    assert policy.bounce_unsubscribes is True
    assert policy.quarantine is None


def test_a_window_is_read_in_unix_seconds() -> None:
    window = {
        "CONSENT_QUARANTINE_START": "2026-12-01T00:00:00Z",
        "CONSENT_QUARANTINE_END": "2026-12-01T01:00:00+00:00",
    }
    assert ConsentSettings.from_env({**BASE, **window}).policy.quarantine == (1796083200, 1796086800)


@pytest.mark.parametrize(
    ("overrides", "variable"),
    [
        ({"EMAIL_TOPIC_MAP": "news=1,sports=2"}, "EMAIL_TOPIC_MAP"),
        ({"EMAIL_TOPIC_MAP": "news=1,lifestyle=1"}, "EMAIL_TOPIC_MAP"),
        ({"EMAIL_TOPIC_MAP": "news"}, "EMAIL_TOPIC_MAP"),
        ({"BOUNCE_POLICY": "ignore"}, "BOUNCE_POLICY"),
        ({"CONSENT_QUARANTINE_START": "2026-12-01T00:00:00Z"}, "CONSENT_QUARANTINE_START"),
        (
            {
                "CONSENT_QUARANTINE_START": "2026-12-02T00:00:00Z",
                "CONSENT_QUARANTINE_END": "2026-12-01T00:00:00Z",
            },
            "CONSENT_QUARANTINE_START",
        ),
        (
            {
                "CONSENT_QUARANTINE_START": "2026-12-01T00:00:00",
                "CONSENT_QUARANTINE_END": "2026-12-02T00:00:00",
            },
            "CONSENT_QUARANTINE_START",
        ),
    ],
    ids=["unknown-topic", "repeated-number", "no-number", "policy", "half-window", "backwards", "no-offset"],
)
def test_a_bad_setting_fails_naming_the_variable(overrides: dict[str, str], variable: str) -> None:
    with pytest.raises(SettingsError, match=variable):
        ConsentSettings.from_env({**BASE, **overrides})


class Secrets:
    def __init__(self, *values: Any) -> None:
        self.values = list(values)
        self.reads = 0

    def get_secret_value(self, SecretId: str) -> dict[str, Any]:
        self.reads += 1
        value = self.values[min(self.reads, len(self.values)) - 1]
        return {"SecretString": value}


def test_the_key_is_read_once_then_again_after_five_minutes() -> None:
    now = [0.0]
    secrets = Secrets('{"signing_key": "first"}', '{"signing_key": "second"}')
    key = SecretSigningKey("webhook", lambda: secrets, clock=lambda: now[0])
    assert key() == b"first"
    now[0] = 299
    assert key() == b"first"
    now[0] = 301
    assert key() == b"second"
    assert secrets.reads == 2


@pytest.mark.parametrize("secret", ["not json", '{"other": "x"}', '{"signing_key": ""}', '"plain"'])
def test_a_secret_without_a_key_names_the_secret_not_its_value(secret: str) -> None:
    with pytest.raises(CredentialsError, match="secret webhook lacks signing_key") as raised:
        SecretSigningKey("webhook", lambda: Secrets(secret))()
    assert "x" not in str(raised.value).replace("webhook", "")
