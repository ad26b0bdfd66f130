"""Customer.io clients: Track (v1 identify/delete/event, v2 batch) and App (transactional email).

Built on requests + urllib3 rather than the official `customerio` SDK (see docs/customerio.md for why).
Handlers get both clients from `clients_from_settings`, once per process.
"""

from __future__ import annotations

from functools import cache

from cio_sync.customerio.app import AppClient
from cio_sync.customerio.batch import Delete, Event, Identify, Operation, pack
from cio_sync.customerio.credentials import Credentials, load_credentials, secret_provider
from cio_sync.customerio.errors import (
    CredentialsError,
    CustomerIoError,
    DeadlineExceeded,
    PermanentError,
    RateLimited,
    RetryableError,
)
from cio_sync.customerio.track import BatchResult, TrackClient
from cio_sync.settings import CustomerIoSettings

__all__ = [
    "AppClient",
    "BatchResult",
    "Credentials",
    "CredentialsError",
    "CustomerIoError",
    "DeadlineExceeded",
    "Delete",
    "Event",
    "Identify",
    "Operation",
    "PermanentError",
    "RateLimited",
    "RetryableError",
    "TrackClient",
    "clients_from_settings",
    "load_credentials",
    "pack",
]


@cache
def clients_from_settings(settings: CustomerIoSettings) -> tuple[TrackClient, AppClient]:
    """The process's two clients, so each keeps one pooled session and one pacing bucket for its life.

    Credentials are read lazily from the secret (cached by Powertools), so a dry run needs no secret.
    """
    credentials = secret_provider(settings.secret_name)
    track = TrackClient(
        credentials,
        base_url=settings.track_base_url,
        region=settings.region,
        rate_per_s=settings.track_rate_per_process,
        enabled=settings.enabled,
    )
    app = AppClient(
        credentials,
        base_url=settings.app_base_url,
        region=settings.region,
        rate_per_s=settings.app_rate_per_process,
        enabled=settings.enabled,
    )
    return track, app
