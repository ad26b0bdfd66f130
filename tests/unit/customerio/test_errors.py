from __future__ import annotations

import pytest

from cio_sync.customerio.errors import (
    MAX_ERROR_TEXT,
    ConfigurationError,
    CustomerIoError,
    InvalidRequest,
    NotFound,
    PayloadTooLarge,
    PermanentError,
    RateLimited,
    ServerError,
    Unauthorized,
    WrongRegion,
    error_for_status,
    scrub,
    string_values,
)


@pytest.mark.parametrize(
    ("status", "kind", "retryable"),
    [
        (400, InvalidRequest, False),
        (401, Unauthorized, True),  # configuration: the work waits for a fix, it is never parked
        (403, Unauthorized, True),
        (404, NotFound, True),
        (413, PayloadTooLarge, False),
        (422, PermanentError, False),
        (408, ServerError, True),
        (429, RateLimited, True),
        (500, ServerError, True),
        (502, ServerError, True),
        (503, ServerError, True),
    ],
)
def test_status_decides_type_and_whether_retrying_can_help(
    status: int, kind: type[CustomerIoError], retryable: bool
) -> None:
    error = error_for_status(status, "reason", prefix="Customer.io identify")
    assert type(error) is kind
    assert error.retryable is retryable
    assert error.status == status
    assert str(error) == f"Customer.io identify answered HTTP {status}: reason"


def test_rate_limited_keeps_the_servers_hint() -> None:
    error = error_for_status(429, "", retry_after=2.5)
    assert isinstance(error, RateLimited)
    assert error.retry_after == 2.5
    assert str(error) == "Customer.io answered HTTP 429"


def test_scrub_removes_emails_phones_and_every_value_we_sent() -> None:
    text = (
        "attribute first_name value 'Ada Lovelace' invalid; email ada.l+promo@example.co.uk taken; "
        "phone +1 (212) 555-0199 and 2125550199 bad"
    )
    cleaned = scrub(text, ["Ada Lovelace", "ok"])
    assert "Ada" not in cleaned
    assert "example" not in cleaned
    assert "555" not in cleaned
    assert "first_name" in cleaned  # attribute names are not personal data and help diagnosis
    assert cleaned.count("[phone]") == 2
    assert "[email]" in cleaned


def test_scrub_replaces_longer_values_first_and_keeps_text_short() -> None:
    assert scrub("Ada Lovelace", ["Ada Lovelace", "Lovelace"]) == "[redacted]"
    assert len(scrub("x" * 5000)) == MAX_ERROR_TEXT


def test_string_values_walks_nested_json() -> None:
    value = {"a": "one", "b": [1, "two", {"c": "three"}], "d": None, "e": True}
    assert sorted(string_values(value)) == ["one", "three", "two"]


@pytest.mark.parametrize(
    ("location", "region"),
    [
        ("https://track-eu.customer.io/api/v2/batch", "eu"),
        ("https://api.customer.io/v1/send/email", "us"),
        ("https://example.org/elsewhere", None),
        (None, None),
    ],
)
@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_a_redirect_names_the_region_to_configure(
    status: int, location: str | None, region: str | None
) -> None:
    error = error_for_status(status, "", location=location, prefix="Customer.io batch")
    assert error.retryable
    assert isinstance(error, WrongRegion)
    assert isinstance(error, ConfigurationError)
    assert error.region == region
    if region is not None:
        assert f"region {region!r}" in error.message
