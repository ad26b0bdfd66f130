"""`members explain`, the pure part: the expected profile, the difference, the verdict and the masking."""

from __future__ import annotations

import json

from cio_sync.customerio.people import parse_timestamps
from cio_sync.members.contract import MemberItem
from cio_sync.members.subscriptions import admin_mute, web_signup
from cio_sync_cli.dlq import QueueListing
from cio_sync_cli.dlq_summary import DeadLetter
from cio_sync_cli.explain import (
    DIFFERS,
    EXTRA,
    MISSING,
    OPT_OUT_KEPT,
    SAME,
    as_text,
    batch_operations,
    diff_profile,
    expected_profile,
    explanation,
    masked_path,
    mentions,
)
from cio_sync_cli.explain_cli import claims_table, peeked_letters
from cio_sync_cli.target import OpsTarget

ADA = "5f0c8e2a9b1d4c3e2f1a0b9c"
EMAIL = "ada@example.org"
SIGNED_UP = "2026-11-26T16:37:55Z"
SIGNED_UP_S = 1795711075


def member() -> MemberItem:
    return web_signup({"id": ADA, "email": EMAIL, "first_name": "Ada"}, SIGNED_UP)


def test_a_muted_member_should_have_no_profile() -> None:
    expected = expected_profile(admin_mute(member(), "2026-11-27T00:00:00Z"), {})
    assert (expected.eligible, expected.payload, expected.identifies) == (False, None, [])
    assert "not eligible" in expected.reason
    assert expected_profile(None, {}).reason.startswith("no member item")


def test_opt_ins_ride_apart_stamped_with_the_opt_in_time() -> None:
    expected = expected_profile(member(), {"community": 3})
    assert expected.payload is not None
    assert expected.payload["email"] == EMAIL
    opt_ins, main = expected.identifies
    assert opt_ins["attributes"] == [
        "cio_subscription_preferences.topics.topic_3",
        "community_email_subscription_status",
        "email_subscription_status",
        "unsubscribed",
    ]
    assert SIGNED_UP in opt_ins["stamp"]
    assert "email" in main["attributes"]
    assert "unsubscribed" not in main["attributes"]
    assert main["stamp"].startswith("the send time")


def test_each_attribute_gets_its_status() -> None:
    payload = {"id": ADA, "first_name": "Ada", "last_name": None, "created_at": 5, "unsubscribed": False}
    stored = {"id": ADA, "first_name": "Eve", "unsubscribed": "true", "vip": "yes"}
    rows = {row.attribute: row for row in diff_profile(payload, stored, {"first_name": 0})}
    statuses = {name: row.status for name, row in rows.items()}
    assert statuses == {
        "first_name": DIFFERS,
        "last_name": SAME,  # null: absent on both sides
        "created_at": MISSING,
        "unsubscribed": OPT_OUT_KEPT,  # an opt-out Customer.io holds is never undone
        "vip": EXTRA,
    }
    assert rows["first_name"].stored_at == "1970-01-01T00:00:00Z"


def test_the_verdict_names_what_differs() -> None:
    expected = expected_profile(member(), {})
    assert expected.payload is not None
    stored = {name: str(value).lower() for name, value in expected.payload.items() if value is not None}
    stored["created_at"] = str(SIGNED_UP_S)
    report = explanation(
        ADA, member(), expected, stored=stored, timestamps={}, operations={}, show_personal=True
    )
    assert report["verdict"] == "out of step: 1 attribute(s) differ: first_name"  # "ada" is not "Ada"
    gone = explanation(
        ADA, member(), expected, stored=None, timestamps=None, operations={}, show_personal=True
    )
    assert gone["verdict"] == "out of step: the rules say a profile, Customer.io holds none"
    muted = admin_mute(member(), "2026-11-27T00:00:00Z")
    leftover = explanation(
        ADA, muted, expected_profile(muted, {}), stored={}, timestamps={}, operations={}, show_personal=True
    )
    assert leftover["verdict"].startswith("out of step: Customer.io holds a profile")


def test_personal_values_are_masked_in_both_outputs_unless_asked() -> None:
    expected = expected_profile(member(), {})
    stored = {"email": "old@example.org", "first_name": "Ada"}
    operations = {
        "dead_letters": [{"queue": "track", "summary": f"member {ADA}"}],
        "email_claims": "not read",
    }
    report = explanation(
        ADA, member(), expected, stored=stored, timestamps={}, operations=operations, show_personal=False
    )
    for text in (json.dumps(report), as_text(report)):
        assert EMAIL not in text
        assert "old@example.org" not in text
        assert "Ada" not in text
        assert f"<masked, {len(EMAIL)} chars>" in text
    text = as_text(report)
    assert "email: differs" in text
    assert "dead_letters: 1 found" in text
    assert "email_claims: not read" in text
    shown = explanation(
        ADA, member(), expected, stored=stored, timestamps={}, operations={}, show_personal=True
    )
    assert shown["customerio"]["email"] == "old@example.org"


def test_a_request_mentions_the_member_by_path_or_body() -> None:
    assert mentions(ADA, {"path": f"/api/v1/customers/{ADA}", "body": None})
    assert mentions(ADA, {"path": "/api/v2/batch", "body": {"batch": [{"identifiers": {"id": ADA}}]}})
    assert not mentions(ADA, {"path": "/api/v2/batch", "body": {"batch": [{"identifiers": {"id": "x"}}]}})
    assert not mentions(ADA, "not a record")


def test_reads_are_not_the_members_history() -> None:
    """explain's own App API read named the member, so each run added a line to its history."""
    assert not mentions(ADA, {"method": "POST", "path": "/v1/customers/attributes", "body": {"ids": [ADA]}})
    assert not mentions(ADA, {"method": "GET", "path": f"/v1/customers/{ADA}/attributes", "body": None})
    assert mentions(ADA, {"method": "PUT", "path": f"/api/v1/customers/{ADA}", "body": None})


def test_the_members_operations_in_a_batch_are_named_by_index() -> None:
    body = {
        "batch": [
            {"type": "person", "action": "identify", "identifiers": {"id": "other"}},
            {"type": "person", "action": "identify", "identifiers": {"id": ADA}},
            {"type": "person", "action": "event", "identifiers": {"id": ADA}, "name": "x"},
        ]
    }
    assert batch_operations(ADA, body) == ["1:person/identify", "2:person/event"]
    assert batch_operations(ADA, {"id": ADA}) == []
    assert masked_path(f"/api/v1/customers/{EMAIL}/events") == "/api/v1/customers/<masked address>/events"
    assert masked_path(f"/api/v1/customers/{ADA}") == f"/api/v1/customers/{ADA}"


def test_timestamps_are_read_beside_attributes() -> None:
    reply = {
        "customers": [
            {"customer": {"id": ADA, "attributes": {"email": EMAIL}, "timestamps": {"email": 7, "bad": "x"}}},
            {"customer": {"attributes": {"id": "other"}}},
        ]
    }
    assert parse_timestamps(reply) == {ADA: {"email": 7}}
    assert parse_timestamps({"nothing": []}) == {}


def test_the_claims_table_is_found_beside_the_member_table() -> None:
    deployed = OpsTarget("cloudformation", "stack prod", member_table="prod-members")
    assert claims_table(deployed) == "prod-idempotency"
    local = OpsTarget("local", "local", member_table="x", variables={"IDEMPOTENCY_TABLE_NAME": "local-idem"})
    assert claims_table(local) == "local-idem"
    assert claims_table(OpsTarget("environment", "environment", member_table="custom")) is None


def test_every_value_not_known_to_be_impersonal_is_masked() -> None:
    """Masking went by a list of personal names, so a stored name, phone number or address printed."""
    stored = {
        "name": "Ada Lovelace",
        "phone_number": "+15555550123",
        "address": "12 St James's Square",
        "email_subscription_status": "true",
        "news_email_subscription_status": "false",
        "cio_subscription_preferences.topics.topic_3": "true",
        "unsubscribed": "false",
        "created_at": "1795711075",
    }
    report = explanation(
        ADA,
        None,
        expected_profile(None, {}),
        stored=stored,
        timestamps={},
        operations={},
        show_personal=False,
    )
    text = json.dumps(report) + as_text(report)
    for personal in ("Lovelace", "5550123", "James"):
        assert personal not in text
    assert report["customerio"]["phone_number"] == "<masked, 12 chars>"
    kept = {name: value for name, value in stored.items() if name not in ("name", "phone_number", "address")}
    assert {name: report["customerio"][name] for name in kept} == kept
    shown = explanation(
        ADA, None, expected_profile(None, {}), stored=stored, timestamps={}, operations={}, show_personal=True
    )
    assert shown["customerio"] == stored


def test_an_unknown_id_says_there_is_no_member_item() -> None:
    expected = expected_profile(None, {})
    alone = explanation(ADA, None, expected, stored=None, timestamps={}, operations={}, show_personal=False)
    assert alone["verdict"] == "no member item: in step: no profile, as the rules say"
    left = explanation(
        ADA, None, expected, stored={"id": ADA}, timestamps={}, operations={}, show_personal=False
    )
    assert left["verdict"].startswith("no member item: out of step: Customer.io holds a profile")
    known = explanation(
        ADA,
        member(),
        expected_profile(member(), {}),
        stored=None,
        timestamps={},
        operations={},
        show_personal=False,
    )
    assert not known["verdict"].startswith("no member item")


class Peeks:
    """A dead-letter queue of `visible` letters of which a peek saw `seen`, one naming ADA."""

    def __init__(self, visible: int, seen: int) -> None:
        self.visible = visible
        self.seen = seen

    def peek(self, queue: str, limit: int) -> QueueListing:
        letters = [
            DeadLetter(queue, f"m{index}", 5, None, "", f"member {ADA if index == 0 else 'x'}")
            for index in range(min(self.seen, limit))
        ]
        return QueueListing(queue, "url", self.visible, 0, letters)


def test_a_peek_that_missed_part_of_a_queue_says_how_much_it_saw() -> None:
    """The peek's partial flag was ignored: "0 found" read as "none", though letters went unseen."""
    found, partial = peeked_letters(Peeks(visible=250, seen=100), ["track"], ADA)
    assert [letter["message_id"] for letter in found] == ["m0"]
    assert partial == ["track: looked at 100 of 250 (partial)"]
    found, partial = peeked_letters(Peeks(visible=3, seen=3), ["email"], ADA, shown_as="consent-quarantine")
    assert ([letter["queue"] for letter in found], partial) == (["consent-quarantine"], [])
