"""Fakes for the email consumer's ports: an in-memory claim table with the adapter's rules, a sender."""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cio_sync.pipeline.email_consumer import (
    AlreadySent,
    Claim,
    Claimed,
    EmailMessages,
    EmailPorts,
    Held,
)
from cio_sync.pipeline.redelivery import Redelivery
from cio_sync.sync.intents import SendEmail
from tests.unit.pipeline.fakes import FakeVisibility

MESSAGES = EmailMessages(identifier_id="placeholder", forgot_password="7", password_updated="8")


@dataclass
class ClaimRecord:
    holder: str
    lease_until_s: float
    delivery_id: str | None = None


@dataclass
class FakeClaims:
    """`DynamoSendClaims`' rules (tests/integration/adapters/test_email_claims.py holds the adapter to them);
    `failing_records` saves of a delivery id fail first (an AWS error)."""

    records: dict[str, ClaimRecord] = field(default_factory=dict)
    failing_records: int = 0
    tokens: itertools.count[int] = field(default_factory=itertools.count)

    def claim(self, intent: SendEmail, now_s: float, lease_until_s: float) -> Claim:
        key = f"{intent.member_id}#{intent.intent_id}"
        record = self.records.get(key)
        if record is not None and record.delivery_id is not None:
            return AlreadySent(record.delivery_id)
        if record is not None and record.lease_until_s >= now_s:
            return Held(record.lease_until_s)
        token = f"t{next(self.tokens)}"
        self.records[key] = ClaimRecord(token, lease_until_s)
        return Claimed(token)

    def record_sent(self, intent: SendEmail, delivery_id: str) -> None:
        if self.failing_records > 0:
            self.failing_records -= 1
            raise OSError("ProvisionedThroughputExceededException")
        key = f"{intent.member_id}#{intent.intent_id}"
        self.records[key] = ClaimRecord("", 0, delivery_id)

    def release(self, intent: SendEmail, token: str) -> None:
        key = f"{intent.member_id}#{intent.intent_id}"
        record = self.records.get(key)
        if record is not None and record.holder == token and record.delivery_id is None:
            del self.records[key]


class Members:
    def __init__(self, *items: dict[str, Any]) -> None:
        self.items = {item["id"]: item for item in items}

    def get(self, member_id: str, consistent: bool = True) -> dict[str, Any] | None:
        assert consistent
        return self.items.get(member_id)


@dataclass
class Sender:
    """The App API: records each email it accepted; `during_send` runs inside a send (a racing receive)."""

    sent: list[dict[str, Any]] = field(default_factory=list)
    fail: Exception | None = None
    during_send: Callable[[], object] | None = None

    def send_email(
        self,
        to: str,
        transactional_message_id: str,
        identifier_id: str,
        message_data: Mapping[str, Any],
        deadline: float | None,
    ) -> str:
        if self.during_send is not None:
            during, self.during_send = self.during_send, None
            during()
        if self.fail is not None:
            raise self.fail
        self.sent.append(
            {
                "to": to,
                "id": transactional_message_id,
                "identifier": identifier_id,
                "data": dict(message_data),
            }
        )
        return f"delivery-{len(self.sent)}"


@dataclass
class DeadLetters:
    parked: list[tuple[str, str]] = field(default_factory=list)

    def dead_letter(self, body: str, reason: str) -> None:
        self.parked.append((body, reason))


def email_ports(
    members: Members,
    sender: Sender | None = None,
    claims: FakeClaims | None = None,
    max_receives: int = 5,
) -> tuple[EmailPorts, FakeVisibility, DeadLetters]:
    visibility, dead = FakeVisibility(), DeadLetters()
    ports = EmailPorts(
        claims=claims or FakeClaims(),
        members=members,
        sender=sender or Sender(),
        messages=MESSAGES,
        dead_letters=dead,
        redelivery=Redelivery(visibility, max_receives=max_receives, rng=random.Random(1)),
    )
    return ports, visibility, dead


class Context:
    """A Lambda invocation with `remaining_ms` left (negative: it has ended)."""

    def __init__(self, remaining_ms: int = 60_000) -> None:
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


# The first invocation is over by the time its message comes back (its claim's lease has ended).
ENDED = Context(-2_000)


def email_event(intent: SendEmail, receives: int) -> dict[str, Any]:
    """The SQS event of one message carrying `intent`, at its `receives`-th receive."""
    record = {
        "messageId": "m-1",
        "receiptHandle": f"receipt-{receives}",
        "body": intent.to_json(),
        "attributes": {"ApproximateReceiveCount": str(receives)},
    }
    return {"Records": [record]}
