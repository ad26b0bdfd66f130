"""email: transactional email through the App API, addressed to the placeholder profile.

The member needs no Customer.io profile: the message goes `to` the member's current address with
`identifiers: {id: <placeholder>}`. The address is read at send time, so no personal data rides on the
queue. Each message is sent at most once per intent id (the `SendOnce` port: an idempotency store), and
a failure is parked or retried by the same rule as the track consumer's (pipeline/redelivery.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, NamedTuple, Protocol

from cio_sync.customerio.errors import CustomerIoError
from cio_sync.members.contract import MemberItem
from cio_sync.observability import logger
from cio_sync.pipeline.messages import InboundMessage
from cio_sync.pipeline.redelivery import DeadLetters, Redelivery
from cio_sync.sync.intents import MalformedIntent, SendEmail, parse_intent


class PermanentEmailFailure(Exception):
    """The email can never be sent (no such member, no address): dead-letter it with this reason."""


class EmailExpired(PermanentEmailFailure):
    """Its producer's deadline passed (a reset link no longer valid): parked as expired, never sent late."""


class EmailSender(Protocol):
    def send_email(
        self,
        to: str,
        transactional_message_id: str,
        identifier_id: str,
        message_data: Mapping[str, Any],
        deadline: float | None,
    ) -> str: ...


class MemberLookup(Protocol):
    def get(self, member_id: str, consistent: bool = True) -> MemberItem | None: ...


class SendOnce(Protocol):
    def __call__(self, intent: SendEmail, body: str, deadline: float | None) -> None:
        """Send the intent's email unless it was sent before (the idempotency store remembers it)."""
        ...


class EmailMessages(NamedTuple):
    """Which Customer.io transactional message each kind of email is, and the placeholder profile id."""

    identifier_id: str
    forgot_password: str
    password_updated: str

    def message_id_for(self, kind: str) -> str:
        if kind == "forgot_password":
            return self.forgot_password
        if kind == "password_updated":
            return self.password_updated
        raise PermanentEmailFailure(f"unknown email kind {kind!r}")


class EmailSent(NamedTuple):
    intent_id: str
    kind: str
    delivery_id: str


EmailOutcome = Literal["sent", "expired", "parked"]


def parse_email_intent(body: str) -> SendEmail:
    intent = parse_intent(body)
    if not isinstance(intent, SendEmail):
        raise MalformedIntent(f"email queue got a {type(intent).__name__} intent")
    return intent


def send_transactional(
    intent: SendEmail,
    members: MemberLookup,
    sender: EmailSender,
    messages: EmailMessages,
    *,
    deadline: float | None,
    now_s: float,
) -> EmailSent:
    """Send one transactional email; raises PermanentEmailFailure or a retryable CustomerIoError."""
    if intent.expired(now_s):
        raise EmailExpired("expired: its validity ended before it could be sent")
    transactional_message_id = messages.message_id_for(intent.kind)
    member = members.get(intent.member_id, consistent=True)
    if member is None:
        raise PermanentEmailFailure("member does not exist")
    address = member.get("email")
    if not isinstance(address, str) or not address:
        raise PermanentEmailFailure("member has no email address")
    delivery_id = sender.send_email(
        to=address,
        transactional_message_id=transactional_message_id,
        identifier_id=messages.identifier_id,
        message_data=dict(intent.data),
        deadline=deadline,
    )
    return EmailSent(intent.intent_id, intent.kind, delivery_id)


def consume_email(
    message: InboundMessage,
    send_once: SendOnce,
    dead_letters: DeadLetters,
    redelivery: Redelivery,
    *,
    deadline: float | None,
) -> EmailOutcome:
    """Send one queued email, or park it with its reason, or hand it back to come later (and raise).

    Whatever may pass (Customer.io down or misconfigured, an AWS hiccup, a missing secret) comes back
    later by the shared redelivery rule; only its last allowed receive parks it, with the reason.
    """
    try:
        send_once(parse_email_intent(message.body), message.body, deadline)
    except EmailExpired as error:
        _park(message, dead_letters, str(error))
        return "expired"
    except (MalformedIntent, PermanentEmailFailure) as error:
        _park(message, dead_letters, f"{type(error).__name__}: {error}")
        return "parked"
    except Exception as error:
        retryable = not isinstance(error, CustomerIoError) or error.retryable
        detail = f"Customer.io: {error}" if isinstance(error, CustomerIoError) else type(error).__name__
        parked = redelivery.park_reason(message.receive_count, detail, retryable=retryable)
        if parked is None:
            redelivery.come_back_later([(message.receipt_handle, message.receive_count)])
            raise
        _park(message, dead_letters, parked)
        return "parked"
    return "sent"


def _park(message: InboundMessage, dead_letters: DeadLetters, reason: str) -> None:
    logger.error("email dead-lettered", extra={"message_id": message.message_id, "reason": reason})
    dead_letters.dead_letter(message.body, reason)
