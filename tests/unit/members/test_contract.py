from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from cio_sync.members.contract import (
    InvalidMember,
    birthdate_to_unix_seconds,
    is_iso_timestamp,
    is_member_id,
    iso_to_unix_seconds,
    new_member_id,
    parse_iso,
    to_iso,
    utc_now_iso,
    validate_member,
    without_absent,
)
from cio_sync_local.member_factory import MEMBER_ID, member


def test_a_full_member_is_valid() -> None:
    validate_member(member())


def test_only_the_id_is_required() -> None:
    validate_member({"id": MEMBER_ID})


def test_none_means_absent_for_every_optional_field() -> None:
    item = {name: None for name in member() if name != "id"}
    validate_member({"id": MEMBER_ID, **item})


@pytest.mark.parametrize(
    ("field", "value", "rule"),
    [
        ("id", None, "24 lowercase hexadecimal"),
        ("id", "5F0C8E2A9B1D4C3E2F1A0B9C", "24 lowercase hexadecimal"),
        ("id", "5f0c8e2a9b1d4c3e2f1a0b9", "24 lowercase hexadecimal"),
        ("email", "Member@Example.org", "lowercased"),
        ("email", "not-an-address", "email address"),
        ("email", "a@" + "b" * 260, "at most 254"),
        ("mobile", "555-0123", "E.164"),
        ("mobile", "+05555550123", "E.164"),
        ("birthdate", "01/02/1990", "YYYY-MM-DD"),
        ("birthdate", "1990-02-30", "real calendar date"),
        ("sms_status", "subscribed", "one of active"),
        ("first_name", 42, "must be a string"),
        ("school_id", Decimal(12500012), "must be a string"),
        ("email_subscription_status", "true", "boolean"),
        ("sms_paused", 1, "boolean"),
        ("email_subscription_topics", {"news"}, "must be a list"),
        ("email_subscription_topics", ["news", "gossip"], "may only contain"),
        ("email_subscription_topics", ["news", "news"], "must not repeat"),
        ("sms_subscription_topics", ["news"], "may only contain"),
        ("promotions_muted_at", "2026-11-26 16:37:55", "ISO-8601 UTC"),
        ("created_at", "2026-11-26T16:37:55+02:00", "ISO-8601 UTC"),
        ("updated_at", "2026-13-26T16:37:55Z", "ISO-8601 UTC"),
        ("password_updated_at", 1764175075, "ISO-8601 UTC"),
    ],
)
def test_invalid_fields_are_named_without_their_value(field: str, value: Any, rule: str) -> None:
    item = member(**{field: value}) if value is not None else {**member(), field: None}
    with pytest.raises(InvalidMember) as error:
        validate_member(item)
    assert error.value.field == field
    assert rule in str(error.value)
    if isinstance(value, str) and len(value) > 3:
        assert value not in str(error.value)


def test_unknown_attributes_are_refused_unless_allowed() -> None:
    item = {**member(), "password": "hash"}
    with pytest.raises(InvalidMember, match="not an attribute of the member contract") as error:
        validate_member(item)
    assert error.value.field == "password"
    validate_member(item, allow_unknown=True)


def test_a_non_mapping_is_refused() -> None:
    with pytest.raises(InvalidMember):
        validate_member([("id", MEMBER_ID)])  # type: ignore[arg-type]


def test_new_member_ids_look_like_object_ids_with_the_creation_time() -> None:
    before = int(time.time())
    ids = {new_member_id() for _ in range(200)}
    after = int(time.time())
    assert len(ids) == 200
    for member_id in ids:
        assert is_member_id(member_id)
        assert before <= int(member_id[:8], 16) <= after


@pytest.mark.parametrize("text", [None, 42, "", "x" * 24, "5f0c8e2a9b1d4c3e2f1a0b9c0"])
def test_is_member_id_rejects_other_shapes(text: object) -> None:
    assert not is_member_id(text)


def test_timestamps_round_trip_with_microseconds_and_z() -> None:
    moment = datetime(2026, 11, 26, 16, 37, 55, 123456, tzinfo=UTC)
    assert to_iso(moment) == "2026-11-26T16:37:55.123456Z"
    assert parse_iso("2026-11-26T16:37:55.123456Z") == moment
    assert parse_iso("2026-11-26T16:37:55.123456+00:00") == moment


def test_to_iso_converts_other_zones_and_refuses_naive_datetimes() -> None:
    eastern = datetime(2026, 11, 26, 11, 37, 55, tzinfo=timezone(timedelta(hours=-5)))
    assert to_iso(eastern) == "2026-11-26T16:37:55.000000Z"
    with pytest.raises(ValueError, match="timezone-aware"):
        to_iso(datetime(2026, 11, 26))


def test_utc_now_iso_is_a_contract_timestamp() -> None:
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", utc_now_iso())
    assert is_iso_timestamp(utc_now_iso())


def test_unix_second_helpers() -> None:
    assert iso_to_unix_seconds("1970-01-01T00:01:01.900000Z") == 61
    assert birthdate_to_unix_seconds("1990-01-01") == 631152000
    with pytest.raises(InvalidMember) as error:
        iso_to_unix_seconds("yesterday", "last_messaged_at")
    assert error.value.field == "last_messaged_at"


def test_without_absent_keeps_only_the_meaningful_null() -> None:
    assert without_absent({"id": MEMBER_ID, "last_name": None, "promotions_muted_at": None}) == {
        "id": MEMBER_ID,
        "promotions_muted_at": None,
    }
