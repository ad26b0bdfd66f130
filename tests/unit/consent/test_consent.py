"""The consent function, through its real handler with fakes: each event kind's write, the echo, the
placeholder, ids that are not members, the quarantine window, malformed messages and redelivery."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

import pytest

from cio_sync.customerio.reporting import ReportingEvent, centre_topic_names, parse_topic_map
from cio_sync.handlers.consent import handle
from cio_sync.handlers.consent_runtime import ConsentRuntime
from cio_sync.handlers.sqs_batch import EveryRecordFailed
from cio_sync.observability import metrics
from cio_sync.pipeline.consent import ConsentPolicy
from tests.unit.consent.signing import MEMBER, NOW

PLACEHOLDER = "cio-sync-placeholder"
UPDATED = "2026-11-01T00:00:00.000000Z"
# What a Customer.io opt-out at NOW writes beside the change: the person's own time, marked as Customer.io's.
OPTED_OUT = {
    "email_opt_out_at": datetime.fromtimestamp(NOW, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
    "email_cio_opt_out_at": datetime.fromtimestamp(NOW, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
}
TOPIC_MAP = centre_topic_names(parse_topic_map("news=1,lifestyle=2,community=3"))


class FakeMembers:
    def __init__(self, **items: dict[str, Any]) -> None:
        self.items = {member_id: dict(item) for member_id, item in items.items()}
        self.writes: list[tuple[str, dict[str, Any]]] = []
        self.conflicts = 0  # the next writes that find updated_at moved

    def read(self, member_id: str) -> Mapping[str, Any] | None:
        item = self.items.get(member_id)
        return dict(item) if item is not None else None

    def write(self, member_id: str, updated_at: str | None, changes: Mapping[str, Any]) -> bool:
        item = self.items.get(member_id)
        if item is None or item.get("updated_at") != updated_at:
            return False
        if self.conflicts:
            self.conflicts -= 1
            item["updated_at"] = f"moved-{self.conflicts}"
            return False
        item.update(changes, updated_at="2026-12-01T00:00:00.000000Z")
        self.writes.append((member_id, dict(changes)))
        return True


class FakeQueue:
    def __init__(self) -> None:
        self.parked: list[tuple[str, str]] = []

    def dead_letter(self, body: str, reason: str) -> None:
        self.parked.append((body, reason))


class Stack:
    def __init__(self, members: FakeMembers, policy: ConsentPolicy) -> None:
        self.members, self.dead, self.quarantine = members, FakeQueue(), FakeQueue()
        self.runtime = ConsentRuntime(members, self.dead, self.quarantine, policy)

    def run(self, *bodies: str) -> dict[str, Any]:
        records = [
            {"messageId": f"m{n}", "body": body, "attributes": {"MessageGroupId": "lane-001"}}
            for n, body in enumerate(bodies)
        ]
        return handle({"Records": records}, None, self.runtime)


def policy(**overrides: Any) -> ConsentPolicy:
    return ConsentPolicy(TOPIC_MAP, False, None, PLACEHOLDER)._replace(**overrides)


def member(**attributes: Any) -> dict[str, Any]:
    return {"id": MEMBER, "updated_at": UPDATED, "email_subscription_status": True, **attributes}


def event(object_type: str, metric: str, *, at: int = NOW, customer: str = MEMBER, **extra: Any) -> str:
    return ReportingEvent(
        f"ev-{object_type}-{metric}-{at}", object_type, metric, at, customer, received_at=NOW, **extra
    ).to_message()


@pytest.fixture(autouse=True)
def clean_metrics() -> Iterator[None]:
    metrics.clear_metrics()
    yield
    metrics.clear_metrics()


def stack(policy_: ConsentPolicy | None = None, **item: Any) -> Stack:
    return Stack(FakeMembers(**{MEMBER: member(**item)}), policy_ or policy())


def iso(at: int) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@pytest.mark.parametrize(("object_type", "metric"), [("customer", "unsubscribed"), ("email", "unsubscribed")])
def test_an_unsubscribe_ends_the_email_subscription(object_type: str, metric: str) -> None:
    s = stack(email_subscription_topics=["news"])
    assert s.run(event(object_type, metric)) == {"batchItemFailures": []}
    # The status and the person's opt-out time: the stream's rules clear the topics and mute a member
    # without SMS.
    assert s.members.writes == [(MEMBER, {"email_subscription_status": False, **OPTED_OUT})]
    assert metrics.metric_set["ConsentApplied"]["Value"] == [1]


def test_a_spam_complaint_is_recorded_and_unsubscribes() -> None:
    s = stack()
    s.run(event("email", "spammed"))
    assert s.members.writes == [
        (MEMBER, {"email_subscription_status": False, "email_spam_reported_at": iso(NOW), **OPTED_OUT})
    ]


@pytest.mark.parametrize(
    ("unsubscribes", "expected"), [(False, {}), (True, {"email_subscription_status": False, **OPTED_OUT})]
)
def test_a_bounce_is_recorded_and_unsubscribes_only_by_policy(
    unsubscribes: bool, expected: dict[str, Any]
) -> None:
    s = stack(policy(bounce_unsubscribes=unsubscribes))
    s.run(event("email", "bounced"))
    assert s.members.writes == [(MEMBER, {"email_bounced_at": iso(NOW), **expected})]


def test_preference_changes_set_the_topics_through_the_map() -> None:
    s = stack(email_subscription_topics=["community"])
    s.run(
        event(
            "customer",
            "cio_subscription_preferences_changed",
            topics={"topic_1": True, "topic_2": True, "topic_3": False, "topic_9": True},
        )
    )
    assert s.members.writes == [(MEMBER, {"email_subscription_topics": ["lifestyle", "news"], **OPTED_OUT})]


def test_a_preference_change_moves_only_the_mapped_topics() -> None:
    """Topics the subscription centre does not show ("clubs" here) are not Customer.io's to drop."""
    s = stack(email_subscription_topics=["community", "clubs"])
    s.run(
        event("customer", "cio_subscription_preferences_changed", topics={"topic_1": True, "topic_3": False})
    )
    assert s.members.writes == [(MEMBER, {"email_subscription_topics": ["clubs", "news"], **OPTED_OUT})]


def test_with_no_topic_map_a_preference_change_is_counted_and_changes_nothing() -> None:
    s = stack(policy(topic_map={}), email_subscription_topics=["community"])
    assert s.run(event("customer", "cio_subscription_preferences_changed", topics={"topic_1": True})) == {
        "batchItemFailures": []
    }
    assert s.members.writes == []
    assert metrics.metric_set["ConsentDroppedNoTopicMap"]["Value"] == [1]


def test_preferences_equal_to_the_table_write_nothing() -> None:
    s = stack(email_subscription_topics=["news", "lifestyle"])
    s.run(
        event("customer", "cio_subscription_preferences_changed", topics={"topic_2": True, "topic_1": True})
    )
    assert s.members.writes == []


def test_a_subscribe_is_applied_when_customer_io_recorded_it_after_our_opt_in() -> None:
    s = stack(email_subscription_status=False, email_opt_in_at=iso(NOW - 60))
    s.run(event("customer", "subscribed"))
    assert s.members.writes == [(MEMBER, {"email_subscription_status": True})]


@pytest.mark.parametrize(
    "item",
    [{"email_subscription_status": True}, {"email_subscription_status": False, "email_opt_in_at": iso(NOW)}],
    ids=["table-says-subscribed", "not-newer-than-our-opt-in"],
)
def test_the_echo_of_our_own_identify_is_dropped(item: dict[str, Any]) -> None:
    s = stack(**item)
    s.run(event("customer", "subscribed"))
    assert s.members.writes == []
    assert metrics.metric_set["ConsentDroppedEcho"]["Value"] == [1]


@pytest.mark.parametrize(
    ("customer", "reason"),
    [
        (PLACEHOLDER, "ConsentDroppedPlaceholder"),
        ("not-a-member-id", "ConsentDroppedNotAMember"),
        ("0" * 24, "ConsentDroppedNotAMember"),
    ],
)
def test_events_for_no_member_are_acknowledged_counted_and_dropped(customer: str, reason: str) -> None:
    s = stack()
    assert s.run(event("customer", "unsubscribed", customer=customer)) == {"batchItemFailures": []}
    assert s.members.writes == []
    assert s.dead.parked == []
    assert metrics.metric_set[reason]["Value"] == [1]


def test_a_member_who_asked_to_be_deleted_is_left_alone() -> None:
    s = stack(deletion_requested_at=iso(NOW - 5), promotions_muted_at=iso(NOW - 5))
    s.run(event("email", "spammed"))
    assert s.members.writes == []
    assert metrics.metric_set["ConsentDroppedDeleted"]["Value"] == [1]


def test_a_member_who_asked_to_be_deleted_then_subscribed_again_hears_their_opt_outs() -> None:
    """Review of issue 22, F2: the sign-up unmuted them, the stamp stayed, and every later unsubscribe or
    spam complaint was dropped as "deleted" (so the next sync re-subscribed them in Customer.io)."""
    s = stack(deletion_requested_at=iso(NOW - 10 * 86_400), email_opt_in_at=iso(NOW - 5 * 86_400))
    s.run(event("customer", "unsubscribed"), event("email", "spammed", at=NOW + 1))
    assert s.members.items[MEMBER]["email_subscription_status"] is False
    assert s.members.items[MEMBER]["email_spam_reported_at"] == iso(NOW + 1)


def test_events_received_in_the_quarantine_window_are_parked_untouched() -> None:
    s = stack(policy(quarantine=(NOW - 60, NOW + 60)))
    body = event("customer", "unsubscribed")
    s.run(
        body,
        ReportingEvent(
            "ev-later", "customer", "unsubscribed", NOW, MEMBER, received_at=NOW + 60
        ).to_message(),
    )
    assert s.quarantine.parked == [(body, "received in the quarantine window")]
    assert s.members.writes == [
        (MEMBER, {"email_subscription_status": False, **OPTED_OUT})
    ]  # the one after the window


def test_a_redelivered_event_writes_once() -> None:
    s = stack()
    body = event("email", "spammed")
    s.run(body)
    s.run(body)
    assert len(s.members.writes) == 1
    assert metrics.metric_set["ConsentDroppedUnchanged"]["Value"] == [0, 1]


def test_a_malformed_message_is_parked_at_once_and_holds_nothing_up() -> None:
    s = stack()
    wrong_type = json.loads(event("customer", "unsubscribed")) | {"received_at": "yesterday"}
    bodies = ("{not json", json.dumps({"a": 1}), json.dumps(wrong_type))
    assert s.run(*bodies, event("customer", "unsubscribed")) == {"batchItemFailures": []}
    assert [reason for _, reason in s.dead.parked] == ["not a queued reporting event"] * 3
    assert s.members.writes == [(MEMBER, {"email_subscription_status": False, **OPTED_OUT})]


def test_a_write_that_loses_a_race_is_decided_again_on_the_new_item() -> None:
    s = stack()
    s.members.conflicts = 1
    s.run(event("customer", "unsubscribed"))
    assert s.members.writes == [(MEMBER, {"email_subscription_status": False, **OPTED_OUT})]


def test_a_member_that_keeps_moving_returns_the_message_and_those_behind_it() -> None:
    s = stack()
    s.members.conflicts = 10
    with pytest.raises(EveryRecordFailed):
        s.run(event("customer", "unsubscribed"))
    s.members.conflicts = 10
    s.members.items[MEMBER]["updated_at"] = UPDATED
    response = s.run(
        event("email", "bounced", customer="not-a-member"),
        event("customer", "unsubscribed"),
        event("email", "spammed"),
    )
    assert response == {"batchItemFailures": [{"itemIdentifier": "m1"}, {"itemIdentifier": "m2"}]}


def test_a_member_whose_table_keeps_moving_holds_up_only_its_own_lane() -> None:
    """Review of issue 22, F7: one failure failed every later message of the batch, every member's."""
    other = "5f0c8e2a9b1d4c3e2f1a0b9c"
    members = FakeMembers(**{MEMBER: member(), other: {**member(), "id": other}})
    members.conflicts = 3  # the first event's three attempts all find `updated_at` moved
    s = Stack(members, policy())
    bodies = [event("customer", "unsubscribed"), event("customer", "unsubscribed", at=NOW + 1)]
    records = [
        {"messageId": "a0", "body": bodies[0], "attributes": {"MessageGroupId": "lane-a"}},
        {"messageId": "a1", "body": bodies[1], "attributes": {"MessageGroupId": "lane-a"}},
        {
            "messageId": "b0",
            "body": event("customer", "unsubscribed", customer=other),
            "attributes": {"MessageGroupId": "lane-b"},
        },
    ]
    answer = handle({"Records": records}, None, s.runtime)
    assert answer == {"batchItemFailures": [{"itemIdentifier": "a0"}, {"itemIdentifier": "a1"}]}
    assert members.items[other]["email_subscription_status"] is False
