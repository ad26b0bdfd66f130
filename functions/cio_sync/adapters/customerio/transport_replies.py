"""What one exchange with Customer.io means: a 2xx reply, or a typed error and whether repeating is safe.

A call that is not idempotent (send email) may be repeated only when Customer.io certainly did not act on
it: a 429, or a connection that never opened. Broken configuration fails every attempt alike, so it is
never repeated. Error text is Customer.io's own words, with the request's sensitive values cut out.
"""

from __future__ import annotations

import email.utils
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, NamedTuple

from urllib3.exceptions import ConnectTimeoutError, HTTPError, NewConnectionError
from urllib3.exceptions import TimeoutError as Urllib3Timeout

from cio_sync.customerio.errors import (
    ConfigurationError,
    CustomerIoError,
    NetworkError,
    OutcomeUnknown,
    RateLimited,
    error_for_status,
    scrub,
)

MAX_RAW_ERROR_TEXT = 2000


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


class Failure(NamedTuple):
    """A failed exchange: the typed error, and whether this kind may be sent again."""

    error: CustomerIoError
    may_retry: bool


def classify_reply(
    response: Reply, *, operation: str, idempotent: bool, sensitive: tuple[str, ...]
) -> Reply | Failure:
    """The 2xx reply itself, or the error its status means."""
    if 200 <= response.status_code < 300:
        return response
    error = error_for_status(
        response.status_code,
        scrub(_error_text(response), sensitive),
        retry_after=_retry_after_s(response),
        location=response.headers.get("Location"),
        prefix=f"Customer.io {operation}",
    )
    # Broken configuration fails every attempt alike: give the work back at once, to wait it out.
    safe_to_repeat = idempotent or isinstance(error, RateLimited)
    return Failure(error, safe_to_repeat and not isinstance(error, ConfigurationError))


def classify_network_failure(failure: HTTPError, *, operation: str, idempotent: bool) -> Failure:
    """No answer came: retryable when repeating is harmless, else the outcome is unknown."""
    kind = "timeout" if isinstance(failure, Urllib3Timeout) else "connection failed"
    if idempotent or _never_sent(failure):
        return Failure(NetworkError(f"Customer.io {operation}: {kind} ({type(failure).__name__})"), True)
    unknown = OutcomeUnknown(
        None, f"Customer.io {operation}: {kind} ({type(failure).__name__}); it may have been sent"
    )
    return Failure(unknown, False)


def describe_batch_error(entry: object) -> str:
    """One v2 error object as text: reason, field, message."""
    if not isinstance(entry, dict):
        return str(entry)
    return ": ".join(str(entry[key]) for key in ("reason", "field", "message") if entry.get(key))


def _never_sent(error: HTTPError) -> bool:
    """True when the connection never opened, so Customer.io cannot have seen the request."""
    return isinstance(error, ConnectTimeoutError | NewConnectionError)


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
