"""Model writes racing raw writes, through the real member-stream handler on in-process moto DynamoDB.

The stream is recorded as DynamoDB would deliver it: each write's old and new image, in write order,
including the stream function's own rule-decision writes. Every history is checked against the rules
applied write by write (docs/pipeline.md, "Racing raw writes").
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from itertools import count
from typing import Any, TypeVar

import boto3
import pytest
from boto3.dynamodb.types import TypeDeserializer

from cio_sync.handlers.member_stream import handle
from cio_sync.handlers.member_stream_runtime import MemberStreamRuntime
from cio_sync.members.subscriptions import is_profile_eligible
from cio_sync_cli.member_writes import MemberAdmin
from tests.unit.pipeline.fakes import FakePending, FakePublisher

TABLE = "members-races"
MEMBER_ID = "5f0c8e2a9b1d4c3e2f1a0b9c"
T = TypeVar("T")
_deserializer = TypeDeserializer()


class Clock:
    """Contract timestamps that move on with every call, shared by the model and the raw writer."""

    def __init__(self) -> None:
        self._ticks = count(1)

    def __call__(self) -> str:
        return f"2026-11-26T16:{next(self._ticks):02d}:00.000000Z"


class RecordedTable:
    """The member table's stream: a record for every write made through `write`, in write order."""

    def __init__(self, clock: Clock) -> None:
        self.client = boto3.client("dynamodb", region_name="us-east-1")
        self.clock = clock
        self.records: list[dict[str, Any]] = []
        self.cursor = 0
        self._sequence = count(1000)

    def image(self) -> dict[str, Any] | None:
        found = self.client.get_item(TableName=TABLE, Key={"id": {"S": MEMBER_ID}}, ConsistentRead=True)
        image: dict[str, Any] | None = found.get("Item")
        return image

    def item(self) -> dict[str, Any]:
        return {name: _deserializer.deserialize(value) for name, value in (self.image() or {}).items()}

    def write(self, action: Callable[[], T]) -> T:
        old = self.image()
        result = action()
        new = self.image()
        if new != old:
            sequence = f"{next(self._sequence):021d}"
            stream: dict[str, Any] = {
                "ApproximateCreationDateTime": 1_790_000_000 + len(self.records),
                "Keys": {"id": {"S": MEMBER_ID}},
                "SequenceNumber": sequence,
                "StreamViewType": "NEW_AND_OLD_IMAGES",
                **({"OldImage": old} if old else {}),
                **({"NewImage": new} if new else {}),
            }
            name = "INSERT" if old is None else "REMOVE" if new is None else "MODIFY"
            self.records.append({"eventID": f"evt-{sequence}", "eventName": name, "dynamodb": stream})
        return result

    def raw_write(self, changes: Mapping[str, Any]) -> None:
        """Another service's UpdateItem: SETs `changes` and a new `updated_at`, no rules."""
        values = {**changes, "updated_at": self.clock()}
        names = {f"#a{index}": name for index, name in enumerate(values)}
        serialised = {f":v{index}": _serialise(value) for index, value in enumerate(values.values())}
        expression = ", ".join(f"#a{index} = :v{index}" for index in range(len(values)))
        self.write(
            lambda: self.client.update_item(
                TableName=TABLE,
                Key={"id": {"S": MEMBER_ID}},
                UpdateExpression=f"SET {expression}",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=serialised,
            )
        )


def _serialise(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, list):
        return {"L": [{"S": str(entry)} for entry in value]}
    return {"S": str(value)}


class RecordedWriter:
    """The stream function's writer port on the real adapter, its writes recorded on the stream."""

    def __init__(self, repo: MemberAdmin, table: RecordedTable) -> None:
        self.repo = repo
        self.table = table

    def write_rule_decisions(
        self, member_id: str, expected: Mapping[str, Any], decided: Mapping[str, Any]
    ) -> bool:
        return self.table.write(lambda: self.repo.write_rule_decisions(member_id, expected, decided))


class Harness:
    def __init__(self, repo: MemberAdmin, table: RecordedTable) -> None:
        self.repo = repo
        self.table = table
        self.publisher = FakePublisher()
        self.deps = MemberStreamRuntime(
            writer=RecordedWriter(repo, table),
            pending=FakePending(),
            publisher=self.publisher,
            volatile_window_s=0,
            lanes=4,
        )

    def drain(self) -> None:
        """Hand the stream function every record not yet handled, until its own writes stop."""
        for _ in range(10):
            batch = self.table.records[self.table.cursor :]
            if not batch:
                return
            self.table.cursor = len(self.table.records)
            response = handle({"Records": batch}, None, self.deps)
            assert response == {"batchItemFailures": []}
            assert self.publisher.parked == []
        raise AssertionError("the stream function kept writing")


@pytest.fixture
def harness(aws: None) -> Harness:
    clock = Clock()
    repo = MemberAdmin(TABLE, clock=clock)
    repo.create_table()
    return Harness(repo, RecordedTable(clock))


def _sms_subscriber(harness: Harness) -> None:
    """Email unsubscribed (no topics), SMS subscribed: settled, the stream has handled everything."""
    fields = {"id": MEMBER_ID, "email": "member@example.org", "mobile": "+15555550123"}
    harness.table.write(lambda: harness.repo.create_sms_signup(fields))
    harness.table.raw_write({"email_subscription_status": False, "email_subscription_topics": []})
    harness.drain()
    assert harness.table.item()["promotions_muted_at"] is None


def test_a_model_write_racing_a_raw_topic_pick_does_not_mute_the_new_opt_in(harness: Harness) -> None:
    """Issue 21: raw W1 picks email topic `news` (the rules will subscribe email); before the stream runs,
    model W2 sets `sms_status=stop` on the item it read. Write by write: email-subscribed, with a profile."""
    _sms_subscriber(harness)
    harness.table.raw_write({"email_subscription_topics": ["news"]})
    harness.table.write(lambda: harness.repo.update(MEMBER_ID, {"sms_status": "stop"}))
    harness.drain()
    item = harness.table.item()
    assert item["email_subscription_status"] is True
    assert item["email_subscription_topics"] == ["news"]
    assert item["sms_subscription_topics"] == []
    assert item["promotions_muted_at"] is None
    assert is_profile_eligible(item)


def test_a_model_unsubscribe_racing_a_raw_topic_pick_still_unsubscribes(harness: Harness) -> None:
    """The model states the email status it set, even when the item it read already showed it."""
    _sms_subscriber(harness)
    harness.table.raw_write({"email_subscription_topics": ["news"]})
    harness.table.write(
        lambda: harness.repo.update(MEMBER_ID, {"email_subscription_status": False, "sms_status": "stop"})
    )
    harness.drain()
    item = harness.table.item()
    assert item["email_subscription_status"] is False
    assert item["email_subscription_topics"] == []
    assert item["promotions_muted_at"] is not None
    assert not is_profile_eligible(item)


def test_a_model_mute_on_a_settled_item_needs_no_second_write(harness: Harness) -> None:
    """The stream decides the model write the same way and keeps the model's mute time: no rewrite."""
    _sms_subscriber(harness)
    muted = harness.table.write(lambda: harness.repo.update(MEMBER_ID, {"sms_status": "stop"}))
    records = len(harness.table.records)
    harness.drain()
    assert len(harness.table.records) == records
    assert harness.table.item()["promotions_muted_at"] == muted["promotions_muted_at"] is not None


def test_a_raw_write_after_a_model_write_is_not_taken_for_one(harness: Harness) -> None:
    """The model's marker names its own `updated_at`: a later raw touch while a topic pick is pending is
    still read as a possible unseen opt-out (opt-out wins, as for any raw write)."""
    _sms_subscriber(harness)
    harness.table.write(lambda: harness.repo.update(MEMBER_ID, {"first_name": "Grace"}))
    harness.drain()
    harness.table.raw_write({"email_subscription_topics": ["news"], "sms_status": "stop"})
    harness.table.raw_write({"last_authenticated_at": "2026-11-26T17:00:00.000000Z"})
    harness.drain()
    item = harness.table.item()
    assert item["email_subscription_status"] is False
    assert not is_profile_eligible(item)
