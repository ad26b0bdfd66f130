"""Settings of the Customer.io clients: the track function reads the Track API's, the email function the
App API's, each from its own variables (each composition root builds its one client from them).

Secrets are never in settings: only the *name* of the Secrets Manager secret that holds the keys, read
lazily (a dry run never reads it) and re-read every five minutes (a rotated key needs no cold start).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import NamedTuple, TypeVar

from cio_sync.adapters.aws import aws_client
from cio_sync.adapters.customerio.client import CustomerIoClient
from cio_sync.adapters.customerio.credentials import APP_FIELDS, TRACK_FIELDS, SecretCredentials
from cio_sync.adapters.customerio.preflight import Check, passed
from cio_sync.adapters.customerio.transport_policy import RetryPolicy
from cio_sync.customerio.regions import APP_HOSTS, TRACK_HOSTS, Region
from cio_sync.environment import Environment
from cio_sync.observability import logger

REGIONS: tuple[Region, ...] = ("us", "eu")


def _region(env: Environment) -> Region:
    return "eu" if env.choice("CUSTOMER_IO_REGION", REGIONS) == "eu" else "us"


class ApiSettings(NamedTuple):
    """How to reach one Customer.io API and how hard this process may push it."""

    secret_name: str
    secret_fields: tuple[str, ...]  # what this API needs from it (the function's own secret)
    base_url: str  # the region's host, or an override (the local emulator)
    rate_per_s: float  # the whole deployment's budget, not one process's
    concurrency: int  # how many processes share the budget (the queue's MaximumConcurrency)
    enabled: bool  # false = dry run: log what would be sent, call nothing
    region: Region = "us"  # the workspace's region, as configured (the preflight checks it)
    retry_time_scale: float = 1.0  # < 1 only in the local stack's tests: retries back off that much faster

    @property
    def rate_per_process(self) -> float:
        """Pacing is per process: each concurrent consumer gets an equal share of the fair-use budget."""
        return self.rate_per_s / max(self.concurrency, 1)


def track_api_settings(env: Environment) -> ApiSettings:
    return ApiSettings(
        secret_name=env.text("CUSTOMER_IO_TRACK_SECRET_NAME"),
        secret_fields=TRACK_FIELDS,
        base_url=env.text_or("CUSTOMER_IO_TRACK_URL", TRACK_HOSTS[_region(env)]),
        rate_per_s=env.number("CUSTOMER_IO_TRACK_RATE_PER_S"),
        concurrency=env.count("CUSTOMER_IO_TRACK_CONCURRENCY"),
        enabled=env.flag("CUSTOMER_IO_ENABLED"),
        region=_region(env),
        retry_time_scale=env.number("RETRY_TIME_SCALE", default=1.0),
    )


def app_region_url(env: Environment) -> str:
    """The App API's host for the workspace's region, or an override (the local emulator)."""
    return env.text_or("CUSTOMER_IO_APP_URL", APP_HOSTS[_region(env)])


def app_api_settings(env: Environment) -> ApiSettings:
    return ApiSettings(
        secret_name=env.text("CUSTOMER_IO_APP_SECRET_NAME"),
        secret_fields=APP_FIELDS,
        base_url=app_region_url(env),
        rate_per_s=env.number("CUSTOMER_IO_APP_RATE_PER_S"),
        concurrency=env.count("CUSTOMER_IO_APP_CONCURRENCY"),
        enabled=env.flag("CUSTOMER_IO_ENABLED"),
        region=_region(env),
        retry_time_scale=env.number("RETRY_TIME_SCALE", default=1.0),
    )


def secret_credentials(settings: ApiSettings) -> SecretCredentials:
    """The keys, read at first use (a dry run never reads them) and cached five minutes."""
    return SecretCredentials(
        settings.secret_name, lambda: aws_client("secretsmanager"), fields=settings.secret_fields
    )


ClientT = TypeVar("ClientT", bound=CustomerIoClient)


def customerio_client(kind: type[ClientT], settings: ApiSettings) -> ClientT:
    """The process's one client of this API: one pooled connection and one pacing bucket for its life."""
    return kind(
        secret_credentials(settings),
        base_url=settings.base_url,
        rate_per_s=settings.rate_per_process,
        enabled=settings.enabled,
        retry=RetryPolicy().scaled(settings.retry_time_scale),
    )


PREFLIGHT_BUDGET_S = 5.0


def log_preflight(preflight: Callable[[], Sequence[Check]]) -> None:
    """Once per execution environment: a wrong key or region says so at the first invocation, instead of
    only as every operation failing. Never fails the invocation: the work itself reports what follows."""
    try:
        checks = preflight()
    except Exception as error:  # a diagnostic must not take the function down with it
        # The type only: an unexpected error's text is not known to be free of request values.
        logger.error("Customer.io preflight could not run", extra={"error": type(error).__name__})
        return
    if not checks:
        return
    lines = [check.line() for check in checks]
    if passed(checks):
        logger.info("Customer.io preflight passed", extra={"checks": lines})
    else:
        logger.error("Customer.io preflight FAILED: fix the configuration", extra={"checks": lines})


def preflight_deadline() -> float:
    return time.monotonic() + PREFLIGHT_BUDGET_S
