"""HTTP to Customer.io: one logical request, paced and retried within the caller's deadline.

Retries are ours rather than urllib3's so that every wait (pacing, backoff, Retry-After) is checked
against the caller's deadline, runs on an injectable clock, and is counted in metrics. The pool and the
retry budget are in `transport_policy`; what an answer means, and whether a retry is safe, in
`transport_replies`.
"""

from __future__ import annotations

import base64
import random
import time
from collections.abc import Callable, Iterable, Mapping

import urllib3
from aws_lambda_powertools.metrics import MetricUnit
from urllib3.exceptions import HTTPError

from cio_sync.adapters.customerio.pacing import TokenBucket
from cio_sync.adapters.customerio.transport_policy import Pool, RetryPolicy, Timeouts, new_pool
from cio_sync.adapters.customerio.transport_replies import (
    Failure,
    Reply,
    classify_network_failure,
    classify_reply,
)
from cio_sync.customerio.errors import (
    ConfigurationError,
    CredentialsError,
    CustomerIoError,
    DeadlineExceeded,
    RateLimited,
)
from cio_sync.observability import logger, metrics


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
            delay = self._retry.delay(attempt - 1, self._rng, rate_limited=isinstance(error, RateLimited))
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
    ) -> Reply | Failure:
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
            return classify_network_failure(failure, operation=operation, idempotent=idempotent)
        response = Reply(raw.status, raw.headers, raw.data)
        return classify_reply(response, operation=operation, idempotent=idempotent, sensitive=sensitive)

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
