"""The reporting webhook's signing key, read from its own Secrets Manager secret ({"signing_key": ...}).

Only the receiver's role may read this secret. Read at the first call, then again every five minutes,
so a rotated key takes effect without a cold start (as adapters/customerio/credentials.py does).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from cio_sync.customerio.errors import CredentialsError

SECRET_MAX_AGE_S = 300
FIELD = "signing_key"


class SecretSigningKey:
    """A callable giving the key's bytes; errors name the secret, never its value."""

    def __init__(
        self,
        secret_name: str,
        client: Callable[[], Any],
        *,
        max_age_s: float = SECRET_MAX_AGE_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._secret_name = secret_name
        self._client = client
        self._made: Any = None
        self._max_age_s = max_age_s
        self._clock = clock
        self._lock = threading.Lock()
        self._cached: tuple[bytes, float] | None = None

    def __call__(self) -> bytes:
        with self._lock:
            now = self._clock()
            if self._cached is not None and now - self._cached[1] < self._max_age_s:
                return self._cached[0]
            key = self._parse(self._read())
            self._cached = (key, now)
            return key

    def _parse(self, secret: str) -> bytes:
        try:
            value = json.loads(secret)
        except ValueError:
            value = None
        key = value.get(FIELD) if isinstance(value, dict) else None
        if not isinstance(key, str) or not key:
            raise CredentialsError(f"secret {self._secret_name} lacks {FIELD}")
        return key.encode()

    def _read(self) -> str:
        try:
            if self._made is None:
                self._made = self._client()
            response = self._made.get_secret_value(SecretId=self._secret_name)
        except (ClientError, BotoCoreError) as error:
            raise CredentialsError(f"secret {self._secret_name} could not be read") from error
        secret = response.get("SecretString")
        if not isinstance(secret, str):
            raise CredentialsError(f"secret {self._secret_name} lacks {FIELD}")
        return secret
