"""Settings and construction of the Customer.io clients: the track function builds the Track client, the
email function the App client, each from its own variables.

Secrets are never in settings: only the *name* of the Secrets Manager secret that holds the keys, read
lazily (a dry run never reads it) and re-read every five minutes (a rotated key needs no cold start).
"""

from __future__ import annotations

from dataclasses import dataclass

from cio_sync.adapters.aws import aws_client
from cio_sync.adapters.customerio.app_client import AppClient
from cio_sync.adapters.customerio.credentials import SecretCredentials
from cio_sync.adapters.customerio.track_client import TrackClient
from cio_sync.customerio.regions import APP_HOSTS, TRACK_HOSTS, Region
from cio_sync.environment import Environment

REGIONS: tuple[Region, ...] = ("us", "eu")


def _region(env: Environment) -> Region:
    return "eu" if env.choice("CUSTOMER_IO_REGION", REGIONS) == "eu" else "us"


@dataclass(frozen=True)
class ApiSettings:
    """How to reach one Customer.io API and how hard this process may push it."""

    secret_name: str
    base_url: str  # the region's host, or an override (the local emulator)
    rate_per_s: float  # the whole deployment's budget, not one process's
    concurrency: int  # how many processes share the budget (the queue's MaximumConcurrency)
    enabled: bool  # false = dry run: log what would be sent, call nothing

    @property
    def rate_per_process(self) -> float:
        """Pacing is per process: each concurrent consumer gets an equal share of the fair-use budget."""
        return self.rate_per_s / max(self.concurrency, 1)


def track_api_settings(env: Environment) -> ApiSettings:
    return ApiSettings(
        secret_name=env.text("CUSTOMER_IO_SECRET_NAME"),
        base_url=env.text_or("CUSTOMER_IO_TRACK_URL", TRACK_HOSTS[_region(env)]),
        rate_per_s=env.number("CUSTOMER_IO_TRACK_RATE_PER_S"),
        concurrency=env.count("CUSTOMER_IO_TRACK_CONCURRENCY"),
        enabled=env.flag("CUSTOMER_IO_ENABLED"),
    )


def app_api_settings(env: Environment) -> ApiSettings:
    return ApiSettings(
        secret_name=env.text("CUSTOMER_IO_SECRET_NAME"),
        base_url=env.text_or("CUSTOMER_IO_APP_URL", APP_HOSTS[_region(env)]),
        rate_per_s=env.number("CUSTOMER_IO_APP_RATE_PER_S"),
        concurrency=env.count("CUSTOMER_IO_APP_CONCURRENCY"),
        enabled=env.flag("CUSTOMER_IO_ENABLED"),
    )


def _secret(settings: ApiSettings) -> SecretCredentials:
    return SecretCredentials(settings.secret_name, lambda: aws_client("secretsmanager"))


def track_client(settings: ApiSettings) -> TrackClient:
    """The process's one Track client: one pooled connection and one pacing bucket for its life."""
    return TrackClient(
        _secret(settings),
        base_url=settings.base_url,
        rate_per_s=settings.rate_per_process,
        enabled=settings.enabled,
    )


def app_client(settings: ApiSettings) -> AppClient:
    return AppClient(
        _secret(settings),
        base_url=settings.base_url,
        rate_per_s=settings.rate_per_process,
        enabled=settings.enabled,
    )
