"""Customer.io keys, read from a Secrets Manager secret through Powertools Parameters.

The secret is cached for five minutes per process, and clients ask for credentials on every request,
so a rotated key takes effect within that time without a cold start. Keys never reach a repr or a log.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from aws_lambda_powertools.utilities import parameters

from cio_sync.customerio.errors import CredentialsError

SECRET_MAX_AGE_S = 300
_FIELDS = ("site_id", "track_api_key", "app_api_key")


@dataclass(frozen=True)
class Credentials:
    """Track uses site id + Track API key (HTTP Basic); App uses the App API key (Bearer)."""

    site_id: str
    track_api_key: str = field(repr=False)
    app_api_key: str = field(repr=False)


CredentialsProvider = Callable[[], Credentials]


def as_provider(credentials: Credentials | CredentialsProvider) -> CredentialsProvider:
    """Fixed credentials or a provider (re-read per request so key rotation needs no cold start)."""
    if isinstance(credentials, Credentials):
        return lambda: credentials
    return credentials


def load_credentials(secret_name: str) -> Credentials:
    """Read the secret (JSON with site_id, track_api_key, app_api_key); cached by Powertools."""
    try:
        value = parameters.get_secret(secret_name, transform="json", max_age=SECRET_MAX_AGE_S)
    except parameters.TransformParameterError as error:
        raise CredentialsError(f"secret {secret_name} is not a JSON object") from error
    except parameters.GetParameterError as error:
        raise CredentialsError(f"secret {secret_name} could not be read") from error
    if not isinstance(value, dict):
        raise CredentialsError(f"secret {secret_name} is not a JSON object")
    missing = [name for name in _FIELDS if not isinstance(value.get(name), str) or not value[name]]
    if missing:
        raise CredentialsError(f"secret {secret_name} lacks {', '.join(missing)}")
    return Credentials(
        site_id=value["site_id"], track_api_key=value["track_api_key"], app_api_key=value["app_api_key"]
    )


def secret_provider(secret_name: str) -> CredentialsProvider:
    """Credentials on demand, so a dry run never reads the secret and a rotation is picked up."""
    return lambda: load_credentials(secret_name)
