"""The Customer.io payload, Northstar's payload tests, and Customer.io's limits."""

from __future__ import annotations

import pytest

from cio_sync.members.profile import (
    MAX_VALUE_BYTES,
    Degraded,
    ProfileLimitError,
    build_profile,
    check_limits,
    profile_attributes,
    strip_html,
    truncate_utf8,
)
from cio_sync_local.member_factory import MEMBER_ID, member


def test_full_payload() -> None:
    assert profile_attributes(member(last_authenticated_at="2026-03-04T05:06:07.000000Z")) == {
        "id": MEMBER_ID,
        "email": "member@example.org",
        "phone": "+15555550123",
        "sms_status": "active",
        "sms_paused": False,
        "first_name": "Ada",
        "last_name": "Lovelace",
        "birthdate": 631238400,
        "cio_sync_managed": True,
        "addr_city": "Springfield",
        "addr_state": "IL",
        "addr_zip": "62701",
        "country": "US",
        "language": "en",
        "source": "phoenix-next",
        "source_detail": "utm_medium=referral",
        "referrer_user_id": None,
        "school_id": None,
        "club_id": None,
        "created_at": 1767323045,
        "updated_at": 1767323045,
        "last_authenticated_at": 1772600767,
        "last_messaged_at": None,
        "deletion_requested_at": None,
        "email_opt_in_at": None,
        "email_subscription_status": True,
        "unsubscribed": False,
        "news_email_subscription_status": False,
        "lifestyle_email_subscription_status": False,
        "community_email_subscription_status": True,
        "scholarship_email_subscription_status": False,
        "clubs_email_subscription_status": False,
        "general_sms_subscription_status": True,
        "voting_sms_subscription_status": True,
    }


def test_a_bare_member_gets_explicit_nulls_so_customer_io_clears_stale_attributes() -> None:
    payload = profile_attributes({"id": MEMBER_ID})
    assert payload["id"] == MEMBER_ID
    for name in ("email", "phone", "first_name", "birthdate", "created_at", "school_id", "sms_status"):
        assert name in payload
        assert payload[name] is None
    assert payload["sms_paused"] is False
    assert payload["scholarship_email_subscription_status"] is False


def test_every_topic_maps_to_its_northstar_attribute() -> None:
    payload = profile_attributes(
        member(
            email_subscription_topics=["news", "lifestyle", "community", "scholarships", "clubs"],
            sms_subscription_topics=["voting"],
        )
    )
    for topic in ("news", "lifestyle", "community", "scholarship", "clubs"):
        assert payload[f"{topic}_email_subscription_status"] is True
    assert payload["general_sms_subscription_status"] is False
    assert payload["voting_sms_subscription_status"] is True


@pytest.mark.parametrize("status", ["stop", "undeliverable", "unknown", None])
def test_phone_is_null_unless_sms_subscribed(status: str | None) -> None:
    assert profile_attributes(member(sms_status=status))["phone"] is None


def test_phone_is_sent_for_pending_sms_status() -> None:
    assert profile_attributes(member(sms_status="pending"))["phone"] == "+15555550123"


def test_unsubscribed_is_true_when_the_status_is_false() -> None:
    payload = profile_attributes(member(email_subscription_status=False))
    assert payload["email_subscription_status"] is False
    assert payload["unsubscribed"] is True


def test_an_unset_status_sends_both_consent_attributes_as_null() -> None:
    """Null removes them in Customer.io: a removed status or a re-created id leaves no stale consent."""
    payload = profile_attributes(member(email_subscription_status=None))
    assert {name: payload.get(name, "absent") for name in ("email_subscription_status", "unsubscribed")} == {
        "email_subscription_status": None,
        "unsubscribed": None,
    }


def test_html_is_stripped_from_names_and_address() -> None:
    payload = profile_attributes(
        member(
            first_name='<a href="evil.com">click here</a>',
            last_name="<b>Love</b>lace",
            addr_city="Spring<br/>field",
        )
    )
    assert payload["first_name"] == "click here"
    assert payload["last_name"] == "Lovelace"
    assert payload["addr_city"] == "Springfield"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Tom &amp; Jerry", "Tom &amp; Jerry"),  # entities stay encoded: decoding could rebuild markup
        ("&lt;script&gt;", "&lt;script&gt;"),
        ("a < b", "a < b"),
        ("<!-- note -->Ann", "Ann"),
        ("Bob <script", "Bob "),
        ("Zoë &#233;", "Zoë &#233;"),
    ],
)
def test_strip_html(text: str, expected: str) -> None:
    assert strip_html(text) == expected


def test_truncate_utf8_never_splits_a_character() -> None:
    assert truncate_utf8("short", 10) == "short"
    assert truncate_utf8("aé", 2) == "a"
    assert truncate_utf8("€€€", 7) == "€€"


def test_over_long_free_text_is_truncated_to_the_value_limit() -> None:
    payload = profile_attributes(member(first_name="é" * 600, addr_city="x" * 1500))
    assert payload["first_name"] == "é" * 500
    assert payload["addr_city"] == "x" * MAX_VALUE_BYTES


def test_an_over_long_description_is_truncated_and_an_over_long_code_is_nulled_both_reported() -> None:
    # Issue 21: a 1,013-byte source_detail raised and parked every sync of the member.
    profile = build_profile(member(source_detail="x" * 1013, school_id="s" * 1001))
    assert profile.attributes["source_detail"] == "x" * MAX_VALUE_BYTES
    assert profile.attributes["school_id"] is None
    assert profile.degraded == (
        Degraded("source_detail", "over 1000 bytes; truncated"),
        Degraded("school_id", "over 1000 bytes; sent as null"),
    )
    assert "x" * 20 not in repr(profile.degraded)


@pytest.mark.parametrize(
    ("payload", "attribute"),
    [
        ({"id": "x" * 151}, "id"),
        ({"id": ""}, "id"),
        ({"id": "m", "n" * 151: True}, "n" * 40),
        ({"id": "m", **{f"a{i}": i for i in range(300)}}, "*"),
        ({"id": "m", "email": "y" * 1001}, "email"),
    ],
)
def test_check_limits(payload: dict[str, str | int | bool], attribute: str) -> None:
    with pytest.raises(ProfileLimitError) as error:
        check_limits(payload)
    assert error.value.attribute == attribute


def test_limits_are_measured_in_utf8_bytes() -> None:
    check_limits({"id": "m", "city": "é" * 500})
    with pytest.raises(ProfileLimitError):
        check_limits({"id": "m", "city": "é" * 501})


@pytest.mark.parametrize(
    ("fields", "attribute", "rule"),
    [
        ({"created_at": "2019-05-01 10:00:00"}, "created_at", "must be an ISO-8601 UTC timestamp"),
        ({"last_messaged_at": 1_700_000_000}, "last_messaged_at", "must be a string"),
        ({"birthdate": "1990-02-30"}, "birthdate", "must be a real calendar date"),
        ({"first_name": 42}, "first_name", "must be a string"),
        ({"email_subscription_topics": "news"}, "email_subscription_topics", "must be a list"),
        ({"sms_subscription_topics": ["general", "retired"]}, "sms_subscription_topics", "outside the"),
        ({"mobile": "+1" * 600}, "phone", "over 1000 bytes"),
    ],
)
def test_an_attribute_that_breaks_the_contract_is_degraded_and_named_never_raised(
    fields: dict[str, object], attribute: str, rule: str
) -> None:
    """Consent always goes: the subscription attributes are exactly what the valid member sends."""
    profile = build_profile(member(**{"email_subscription_status": False, **fields}))
    assert [d.attribute for d in profile.degraded] == [attribute]
    assert rule in profile.degraded[0].rule
    for name in ("unsubscribed", "email_subscription_status", "sms_status"):
        assert profile.attributes[name] == profile_attributes(member(email_subscription_status=False))[name]
    assert profile.attributes["unsubscribed"] is True


def test_a_status_that_is_not_a_boolean_is_sent_as_unsubscribed() -> None:
    profile = build_profile(member(email_subscription_status="false"))
    assert (profile.attributes["email_subscription_status"], profile.attributes["unsubscribed"]) == (
        False,
        True,
    )
    assert profile.degraded == (
        Degraded("email_subscription_status", "must be a boolean; sent as unsubscribed"),
    )


def test_an_unusable_id_still_raises() -> None:
    with pytest.raises(ProfileLimitError) as error:
        build_profile(member(id="x" * 151))
    assert error.value.attribute == "id"
