"""Typed Customer.io failures that tell the caller one thing above all: can retrying help?

Messages carry the HTTP status and Customer.io's own error text, scrubbed: that text can echo what we
sent, so email-like and phone-like strings and every value from the request are cut out of it. The
request payload itself never goes into an error.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence

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
    """Sending the same thing again cannot help (400, 401, 403, 404, 413, refused before sending)."""

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


class Unauthorized(PermanentError):
    """401/403: wrong credentials or region; every call will fail until configuration is fixed."""


class NotFound(PermanentError):
    """404: the path does not exist (for example a wrong base URL)."""


class PayloadTooLarge(PermanentError):
    """413, or an operation we refused to send because it alone exceeds Customer.io's size limit."""


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


_PERMANENT_BY_STATUS: dict[int, type[PermanentError]] = {
    400: InvalidRequest,
    401: Unauthorized,
    403: Unauthorized,
    404: NotFound,
    413: PayloadTooLarge,
}


def error_for_status(
    status: int, text: str, *, retry_after: float | None = None, prefix: str = "Customer.io"
) -> CustomerIoError:
    """Map an HTTP status to the error type that tells the caller what to do; `text` must be scrubbed."""
    message = f"{prefix} answered HTTP {status}: {text}" if text else f"{prefix} answered HTTP {status}"
    if status == 429:
        return RateLimited(message, retry_after)
    if status >= 500 or status in (408, 425):
        return ServerError(status, message)
    return _PERMANENT_BY_STATUS.get(status, PermanentError)(status, message)
