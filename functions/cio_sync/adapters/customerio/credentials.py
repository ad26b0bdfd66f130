"""Customer.io keys, read from a Secrets Manager secret.

The secret is cached for five minutes by the client that reads it (one per function's runtime, no
process-wide cache), and clients ask for credentials on every request, so a rotated key takes effect
within that time without a cold start. Keys never reach a repr or a log. (Powertools' Parameters did this
before; its package imports a provider for every AWS parameter store, for one GetSecretValue.)
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

from botocore.exceptions import BotoCoreError, ClientError

from cio_sync.customerio.errors import CredentialsError

SECRET_MAX_AGE_S = 300
# Each function holds only its own API's keys: two secrets, one per API (docs/deploy.md).
TRACK_FIELDS: Final = ("site_id", "track_api_key")
APP_FIELDS: Final = ("app_api_key",)


@dataclass(frozen=True)
class Credentials:
    """Track uses site id + Track API key (HTTP Basic); App uses the App API key (Bearer). A function's
    secret holds only its own API's keys; the others stay empty.

    A dataclass, not a NamedTuple like the transport's records: a tuple hands its keys to anything that
    iterates it (a JSON log line's `extra`, `json.dumps`, %-formatting), where this shows only its repr.
    """

    site_id: str = ""
    track_api_key: str = field(default="", repr=False)
    app_api_key: str = field(default="", repr=False)


CredentialsProvider = Callable[[], Credentials]


def as_provider(credentials: Credentials | CredentialsProvider) -> CredentialsProvider:
    """Fixed credentials or a provider (re-read per request so key rotation needs no cold start)."""
    if isinstance(credentials, Credentials):
        return lambda: credentials
    return credentials


def parse_credentials(
    secret_name: str, secret_string: str, fields: tuple[str, ...] = (*TRACK_FIELDS, *APP_FIELDS)
) -> Credentials:
    """The secret's JSON with the `fields` this API needs; errors name the field, never a value."""
    try:
        value = json.loads(secret_string)
    except ValueError:
        raise CredentialsError(f"secret {secret_name} is not a JSON object") from None
    if not isinstance(value, dict):
        raise CredentialsError(f"secret {secret_name} is not a JSON object")
    missing = [name for name in fields if not isinstance(value.get(name), str) or not value[name]]
    if missing:
        raise CredentialsError(f"secret {secret_name} lacks {', '.join(missing)}")
    return Credentials(**{name: value[name] for name in fields})


class SecretCredentials:
    """A CredentialsProvider: reads the secret at first use (a dry run never does), then every 5 minutes."""

    def __init__(
        self,
        secret_name: str,
        client: Callable[[], Any],
        *,
        fields: tuple[str, ...] = (*TRACK_FIELDS, *APP_FIELDS),
        max_age_s: float = SECRET_MAX_AGE_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._secret_name = secret_name
        self._fields = fields
        self._client = client  # made on first use: a dry run needs no Secrets Manager client either
        self._made: Any = None
        self._max_age_s = max_age_s
        self._clock = clock
        self._lock = threading.Lock()
        self._cached: tuple[Credentials, float] | None = None

    def __call__(self) -> Credentials:
        with self._lock:
            now = self._clock()
            if self._cached is not None and now - self._cached[1] < self._max_age_s:
                return self._cached[0]
            credentials = parse_credentials(self._secret_name, self._read(), self._fields)
            self._cached = (credentials, now)
            return credentials

    def _read(self) -> str:
        try:
            if self._made is None:
                self._made = self._client()  # once: a client per read would cost a cold start's worth
            response = self._made.get_secret_value(SecretId=self._secret_name)
        except (ClientError, BotoCoreError) as error:
            raise CredentialsError(f"secret {self._secret_name} could not be read") from error
        secret = response.get("SecretString")
        if not isinstance(secret, str):
            raise CredentialsError(f"secret {self._secret_name} is not a JSON object")
        return secret
