"""Typed Customer.io failures that tell the caller one thing above all: can retrying help?

Messages carry the HTTP status and Customer.io's own error text, scrubbed: that text can echo what we
sent, so email-like and phone-like strings and every value from the request are cut out of it. The
request payload itself never goes into an error.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from urllib.parse import urlsplit

MAX_ERROR_TEXT = 300
# Values shorter than this are too common ("true", "us") to be worth redacting and would shred the text.
MIN_REDACTED_VALUE = 4

_EMAIL = re.compile(r"[\w.+%-]+@[\w-]+(?:\.[\w-]+)+")
# Seven or more digits, optionally led by + and broken by spaces, dots, dashes or brackets: phone-like.
_PHONE = re.compile(r"\+?\d(?:[\s().-]*\d){6,}")


class CustomerIoError(Exception):
    """A call to Customer.io failed; `retryable` says whether the same call may succeed later."""

    def __init__(self, status: int | None, message: str, retryable: bool) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.retryable = retryable

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status={self.status!r}, message={self.message!r})"


class RetryableError(CustomerIoError):
    """Retrying can help (429, 5xx, timeouts, dropped connections): return the work to its queue."""

    def __init__(self, status: int | None, message: str) -> None:
        super().__init__(status, message, retryable=True)


class PermanentError(CustomerIoError):
    """Sending the same thing again cannot help (400, 413, refused before sending)."""

    def __init__(self, status: int | None, message: str) -> None:
        super().__init__(status, message, retryable=False)


class RateLimited(RetryableError):
    """429: Customer.io wants us to slow down; `retry_after` is its hint in seconds, if it gave one."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(429, message)
        self.retry_after = retry_after


class ServerError(RetryableError):
    """5xx (and 408): Customer.io or something in front of it failed."""


class NetworkError(RetryableError):
    """Timeout or connection failure: no HTTP status at all."""

    def __init__(self, message: str) -> None:
        super().__init__(None, message)


class OutcomeUnknown(RetryableError):
    """A non-idempotent call (send email) may or may not have taken effect; retrying may duplicate it."""


class DeadlineExceeded(RetryableError):
    """The caller's deadline came before the call could be made (or made again)."""

    def __init__(self, message: str) -> None:
        super().__init__(None, message)


class InvalidRequest(PermanentError):
    """400: Customer.io rejected the request as malformed or over a limit."""


class PayloadTooLarge(PermanentError):
    """413, or an operation we refused to send because it alone exceeds Customer.io's size limit."""


class ConfigurationError(RetryableError):
    """Every call fails until our configuration is fixed (credentials, region, base URL).

    An outage of our own making: the work waits (retried with backoff, counted, alarmed) instead of being
    parked message by message, and resumes by itself once the configuration is right. Retrying it at
    once, inside one invocation, cannot help.
    """


class Unauthorized(ConfigurationError):
    """401/403: wrong credentials (or keys of another workspace)."""


class NotFound(ConfigurationError):
    """404: the path does not exist (for example a wrong base URL)."""


class WrongRegion(ConfigurationError):
    """3xx: Customer.io redirects to the other region's host; `region` names the one to configure."""

    def __init__(self, status: int, message: str, region: str | None) -> None:
        super().__init__(status, message)
        self.region = region


class UnattributedBatchErrors(RetryableError):
    """A 207 whose errors name no operation of the request: nothing is known to be wrong with any one."""


class ItemNotApplied(RetryableError):
    """A 207 item error whose reason names a condition that passes (rate limit, timeout, server error)."""


# Customer.io documents a 207 item error as "invalid" (its OpenAPI document; `reason` is free text), so an
# item error is permanent unless its reason names one of these conditions, which no payload causes.
_PASSING_REASON = re.compile(
    r"rate.?limit|too.?many.?requests|throttl|time.?out|timed.?out|unavailable|internal|server.?error"
    r"|temporar|try.?again|retry|overload",
    re.IGNORECASE,
)


def batch_item_error(reasons: Sequence[str], text: str) -> CustomerIoError:
    """The error for one batch item from its 207 entries: retried only when every reason names a passing
    condition; any other reason (or none: "invalid" is the documented case) means the item cannot succeed."""
    if reasons and all(_PASSING_REASON.search(reason) for reason in reasons):
        return ItemNotApplied(207, f"Customer.io batch item not applied, retried: {text}")
    return InvalidRequest(207, f"Customer.io batch item rejected: {text}")


class CredentialsError(Exception):
    """The Customer.io secret is missing or malformed; names the secret and field, never a value."""


def string_values(value: object) -> Iterator[str]:
    """Every string inside a JSON value: what Customer.io might echo back and we must scrub."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from string_values(item)
    elif isinstance(value, Sequence):
        for item in value:
            yield from string_values(item)


def scrub(text: str, sensitive_values: Iterable[str] = ()) -> str:
    """Remove personal data from text that may echo a request, and keep it short."""
    cleaned = text
    candidates = {value for value in sensitive_values if len(value) >= MIN_REDACTED_VALUE}
    for value in sorted(candidates, key=len, reverse=True):  # longest first: a value may contain another
        cleaned = cleaned.replace(value, "[redacted]")
    cleaned = _EMAIL.sub("[email]", cleaned)
    cleaned = _PHONE.sub("[phone]", cleaned)
    cleaned = " ".join(cleaned.split())
    if len(cleaned) > MAX_ERROR_TEXT:
        cleaned = cleaned[: MAX_ERROR_TEXT - 3] + "..."
    return cleaned


_BY_STATUS: dict[int, type[PermanentError] | type[ConfigurationError]] = {
    400: InvalidRequest,
    401: Unauthorized,
    403: Unauthorized,
    404: NotFound,
    413: PayloadTooLarge,
}
_REGION_HOSTS: dict[str, str] = {
    "track-eu.customer.io": "eu",
    "api-eu.customer.io": "eu",
    "track.customer.io": "us",
    "api.customer.io": "us",
}


def region_of(location: str | None) -> str | None:
    """The Customer.io region a redirect points at ("us"/"eu"), if it points at a known host."""
    if not location:
        return None
    host = urlsplit(location).hostname or ""
    return _REGION_HOSTS.get(host.lower())


def error_for_status(
    status: int,
    text: str,
    *,
    retry_after: float | None = None,
    location: str | None = None,
    prefix: str = "Customer.io",
) -> CustomerIoError:
    """Map an HTTP status to the error type that tells the caller what to do; `text` must be scrubbed."""
    message = f"{prefix} answered HTTP {status}: {text}" if text else f"{prefix} answered HTTP {status}"
    if status == 429:
        return RateLimited(message, retry_after)
    if status >= 500 or status in (408, 425):
        return ServerError(status, message)
    if 300 <= status < 400:
        region = region_of(location)
        hint = f"; the workspace is in region {region!r}: set CustomerIoRegion to it" if region else ""
        return WrongRegion(status, f"{prefix} was redirected (HTTP {status}){hint}", region)
    return _BY_STATUS.get(status, PermanentError)(status, message)
