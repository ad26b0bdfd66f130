"""HTTP to Customer.io: one connection pool, explicit timeouts, pacing, and deadline-aware retries.

urllib3 directly, not requests: botocore already loads urllib3, so the client costs no import at a cold
start (requests and its dependencies cost 10-25% of `import boto3`), and nothing here needs more than a
pool. Retries are ours rather than urllib3's so that every wait (pacing, backoff, Retry-After) is checked
against the caller's deadline, runs on an injectable clock, and is counted in metrics. urllib3 is kept
at zero retries underneath. A call that is not idempotent (send email) is retried only when Customer.io
certainly did not act on it: a 429 or a connection that never opened.
"""

from __future__ import annotations

import base64
import email.utils
import json
import random
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, NamedTuple, Protocol

import urllib3
from aws_lambda_powertools.metrics import MetricUnit
from botocore.httpsession import where as ca_bundle
from urllib3.exceptions import ConnectTimeoutError, HTTPError, NewConnectionError
from urllib3.exceptions import TimeoutError as Urllib3Timeout

from cio_sync.adapters.customerio.pacing import TokenBucket
from cio_sync.customerio.errors import (
    ConfigurationError,
    CredentialsError,
    CustomerIoError,
    DeadlineExceeded,
    NetworkError,
    OutcomeUnknown,
    RateLimited,
    error_for_status,
    scrub,
)
from cio_sync.observability import logger, metrics

POOL_SIZE = 10
MAX_RAW_ERROR_TEXT = 2000


class Timeouts(NamedTuple):
    """Connect just over a TCP retransmit window (3 s); read long enough for a slow batch."""

    connect_s: float = 3.05
    read_s: float = 10.0


class RetryPolicy(NamedTuple):
    """Bounded, jittered exponential backoff; a Retry-After longer than the cap is not waited for."""

    max_attempts: int = 4
    base_delay_s: float = 0.2
    max_delay_s: float = 5.0
    max_retry_after_s: float = 30.0

    def delay(self, retry_number: int, rng: random.Random) -> float:
        """Equal jitter: half the exponential step fixed (so a retry never comes at once), half random."""
        step = min(self.max_delay_s, self.base_delay_s * 2.0**retry_number)
        return step / 2 + rng.uniform(0, step / 2)


class Reply(NamedTuple):
    """A Customer.io answer: status, headers (case-insensitive), body."""

    status_code: int
    headers: Mapping[str, str]
    content: bytes

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The body as JSON; ValueError when it is not JSON."""
        return json.loads(self.content)


class Pool(Protocol):
    """What the transport needs of a urllib3 PoolManager (tests pass a fake)."""

    def request(
        self,
        method: str,
        url: str,
        *,
        body: bytes | None,
        headers: Mapping[str, str],
        timeout: urllib3.Timeout,
        redirect: bool,
        retries: bool,
    ) -> Any: ...


def new_pool(pool_size: int = POOL_SIZE) -> urllib3.PoolManager:
    """Keep-alive connections, verified against the AWS SDK's CA bundle; urllib3 itself never retries
    (the transport does, deadline-aware)."""
    return urllib3.PoolManager(
        num_pools=2, maxsize=pool_size, cert_reqs="CERT_REQUIRED", ca_certs=ca_bundle()
    )


def basic_auth(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
    return {"Authorization": f"Basic {token}"}


def bearer_auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def count_error(error: CustomerIoError, value: int = 1) -> None:
    """CustomerIoErrors for alarms, and the same count per status for diagnosis.

    Broken configuration (credentials, region, base URL) is also counted on its own, for its own alarm.
    """
    metrics.add_metric(name="CustomerIoErrors", unit=MetricUnit.Count, value=value)
    if isinstance(error, ConfigurationError):
        metrics.add_metric(name="CustomerIoConfigurationErrors", unit=MetricUnit.Count, value=value)
    label = str(error.status) if error.status is not None else type(error).__name__
    metrics.add_metric(name=f"CustomerIoErrors{label}", unit=MetricUnit.Count, value=value)


def count_credentials_error() -> None:
    """The secret could not give keys (unreadable, not granted, a field missing): configuration, too."""
    metrics.add_metric(name="CustomerIoErrors", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="CustomerIoConfigurationErrors", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="CustomerIoErrorsCredentials", unit=MetricUnit.Count, value=1)


def _retry_after_s(response: Reply) -> float | None:
    raw = response.headers.get("Retry-After")
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _error_text(response: Reply) -> str:
    """Customer.io's own words from any of its error shapes (Track v1, v2, App)."""
    try:
        payload = response.json()
    except ValueError:
        return response.text[:MAX_RAW_ERROR_TEXT]
    parts: list[str] = []
    if isinstance(payload, dict):
        meta = payload.get("meta")
        if isinstance(meta, dict):
            if isinstance(meta.get("error"), str):
                parts.append(meta["error"])
            if isinstance(meta.get("errors"), list):
                parts.extend(str(entry) for entry in meta["errors"])
        if isinstance(payload.get("errors"), list):
            parts.extend(describe_batch_error(entry) for entry in payload["errors"])
    return "; ".join(parts) if parts else response.text[:MAX_RAW_ERROR_TEXT]


def describe_batch_error(entry: object) -> str:
    """One v2 error object as text: reason, field, message."""
    if not isinstance(entry, dict):
        return str(entry)
    return ": ".join(str(entry[key]) for key in ("reason", "field", "message") if entry.get(key))


def _never_sent(error: HTTPError) -> bool:
    """True when the connection never opened, so Customer.io cannot have seen the request."""
    return isinstance(error, ConnectTimeoutError | NewConnectionError)


class _Failure(NamedTuple):
    error: CustomerIoError
    may_retry: bool


class Transport:
    """Sends one logical request, paced and retried, and returns the 2xx response or raises a typed error."""

    def __init__(
        self,
        api: str,
        base_url: str,
        authorize: Callable[[], Mapping[str, str]],
        bucket: TokenBucket,
        *,
        pool: Pool | None = None,
        timeouts: Timeouts | None = None,
        retry: RetryPolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.api = api
        self.base_url = base_url.rstrip("/")
        self._authorize = authorize
        self._bucket = bucket
        self._pool: Pool = pool if pool is not None else new_pool()
        self._timeouts = timeouts or Timeouts()
        self._retry = retry or RetryPolicy()
        self._clock = clock
        self._sleep = sleep
        self._rng = rng or random.Random()  # noqa: S311 - backoff jitter, not security

    def send(
        self,
        method: str,
        path: str,
        body: bytes | None,
        *,
        operation: str,
        deadline: float | None,
        idempotent: bool = True,
        sensitive: Iterable[str] = (),
    ) -> Reply:
        """`sensitive` lists request values to cut out of any error text Customer.io echoes back."""
        sensitive_values = tuple(sensitive)
        last_error: CustomerIoError | None = None
        for attempt in range(1, self._retry.max_attempts + 1):
            if not self._bucket.acquire(deadline) or (timeout := self._timeout(deadline)) is None:
                raise self._give_up(
                    last_error or DeadlineExceeded(f"Customer.io {operation} not sent: deadline reached"),
                    operation,
                    reason="deadline",
                )
            outcome = self._attempt(
                method,
                path,
                body,
                operation=operation,
                timeout=timeout,
                idempotent=idempotent,
                sensitive=sensitive_values,
            )
            if isinstance(outcome, Reply):
                return outcome
            error, may_retry = outcome
            last_error = error
            if not (error.retryable and may_retry) or attempt == self._retry.max_attempts:
                retried_out = error.retryable and may_retry
                raise self._give_up(error, operation, reason="attempts" if retried_out else "not retryable")
            delay = self._retry.delay(attempt - 1, self._rng)
            if isinstance(error, RateLimited) and error.retry_after is not None:
                if error.retry_after > self._retry.max_retry_after_s:
                    raise self._give_up(error, operation, reason="retry-after too long")
                delay = max(delay, error.retry_after)
            if deadline is not None and self._clock() + delay >= deadline:
                raise self._give_up(error, operation, reason="deadline")
            metrics.add_metric(name="CustomerIoRetries", unit=MetricUnit.Count, value=1)
            logger.warning(
                "Customer.io call failed; retrying",
                extra={
                    "api": self.api,
                    "operation": operation,
                    "status": error.status,
                    "error_type": type(error).__name__,
                    "attempt": attempt,
                    "delay_s": round(delay, 3),
                },
            )
            self._sleep(delay)
        raise AssertionError("unreachable: the last attempt always returns or raises")  # pragma: no cover

    def _timeout(self, deadline: float | None) -> tuple[float, float] | None:
        if deadline is None:
            return (self._timeouts.connect_s, self._timeouts.read_s)
        remaining = deadline - self._clock()
        if remaining <= 0:
            return None
        return (min(self._timeouts.connect_s, remaining), min(self._timeouts.read_s, remaining))

    def _attempt(
        self,
        method: str,
        path: str,
        body: bytes | None,
        *,
        operation: str,
        timeout: tuple[float, float],
        idempotent: bool,
        sensitive: tuple[str, ...],
    ) -> Reply | _Failure:
        """One HTTP exchange: the 2xx response, or the error and whether this kind may be retried."""
        try:
            authorization = self._authorize()
        except CredentialsError:
            count_credentials_error()  # otherwise a broken secret shows on no alarm at all
            raise
        headers = {"Accept": "application/json", **authorization}
        if body is not None:
            headers["Content-Type"] = "application/json"
        metrics.add_metric(name="CustomerIoRequests", unit=MetricUnit.Count, value=1)
        try:
            raw = self._pool.request(
                method,
                self.base_url + path,
                body=body,
                headers=headers,
                timeout=urllib3.Timeout(connect=timeout[0], read=timeout[1]),
                redirect=False,
                retries=False,
            )
        except HTTPError as failure:
            kind = "timeout" if isinstance(failure, Urllib3Timeout) else "connection failed"
            if idempotent or _never_sent(failure):
                network = NetworkError(f"Customer.io {operation}: {kind} ({type(failure).__name__})")
                return _Failure(network, True)
            unknown = OutcomeUnknown(
                None, f"Customer.io {operation}: {kind} ({type(failure).__name__}); it may have been sent"
            )
            return _Failure(unknown, False)
        response = Reply(raw.status, raw.headers, raw.data)
        if 200 <= response.status_code < 300:
            return response
        text = scrub(_error_text(response), sensitive)
        error = error_for_status(
            response.status_code,
            text,
            retry_after=_retry_after_s(response),
            location=response.headers.get("Location"),
            prefix=f"Customer.io {operation}",
        )
        # Broken configuration fails every attempt alike: give the work back at once, to wait it out.
        safe_to_repeat = idempotent or isinstance(error, RateLimited)
        may_retry = safe_to_repeat and not isinstance(error, ConfigurationError)
        return _Failure(error, may_retry)

    def _give_up(self, error: CustomerIoError, operation: str, *, reason: str) -> CustomerIoError:
        count_error(error)
        logger.warning(
            "Customer.io call failed",
            extra={
                "api": self.api,
                "operation": operation,
                "status": error.status,
                "error_type": type(error).__name__,
                "retryable": error.retryable,
                "gave_up_because": reason,
                "error": error.message,
            },
        )
        return error
