"""email: transactional email through the App API, addressed to the placeholder profile.

The member needs no Customer.io profile: the message goes `to` the member's current address with
`identifiers: {id: <placeholder>}`. The address is read at send time, so no personal data rides on the
queue. Each intent is sent at most once while its claim lasts (the `SendClaims` port: claim, send, record
the delivery id), and a failure is parked or retried by the same rule as the track consumer's
(pipeline/redelivery.py).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from typing import Any, Final, Literal, NamedTuple, Protocol

from cio_sync.customerio.errors import CustomerIoError
from cio_sync.members.contract import MemberItem
from cio_sync.observability import logger
from cio_sync.pipeline.messages import InboundMessage
from cio_sync.pipeline.redelivery import DeadLetters, Redelivery
from cio_sync.sync.intents import MalformedIntent, SendEmail, parse_intent

# Saving the delivery id is tried this many times, waiting RECORD_BACKOFF_S * 2**n between tries.
RECORD_ATTEMPTS: Final = 4
RECORD_BACKOFF_S: Final = 0.2


class PermanentEmailFailure(Exception):
    """The email can never be sent (no such member, no address): dead-letter it with this reason."""


class EmailExpired(PermanentEmailFailure):
    """Its producer's deadline passed (a reset link no longer valid): parked as expired, never sent late."""


class SendInProgress(Exception):
    """Another receive of the intent holds a live claim: this one comes back when that claim ends."""


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


class Claimed(NamedTuple):
    """This receive holds the intent's claim until its lease ends; `token` names the holder."""

    token: str


class AlreadySent(NamedTuple):
    delivery_id: str


class Held(NamedTuple):
    """Another receive holds a live claim (unix seconds when its lease ends)."""

    until_s: float


Claim = Claimed | AlreadySent | Held


class SendClaims(Protocol):
    """One claim record per intent: the lease of the receive sending it, then the delivery id."""

    def claim(self, intent: SendEmail, now_s: float, lease_until_s: float) -> Claim:
        """Take the intent's claim if it has none, or only an expired lease and no delivery id."""
        ...

    def record_sent(self, intent: SendEmail, delivery_id: str) -> None:
        """Store the delivery id: no later receive of the intent sends again."""
        ...

    def release(self, intent: SendEmail, token: str) -> None:
        """Give up this holder's claim (nothing was sent): the intent's next receive may send."""
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


class EmailPorts(NamedTuple):
    claims: SendClaims
    members: MemberLookup
    sender: EmailSender
    messages: EmailMessages
    dead_letters: DeadLetters
    redelivery: Redelivery


class QueuedEmail(NamedTuple):
    """A received message, parsed once: its intent, or why it is not one."""

    message: InboundMessage
    intent: SendEmail | None
    malformed: str = ""


class EmailSent(NamedTuple):
    intent_id: str
    kind: str
    delivery_id: str


# sent_unrecorded: sent, but the delivery id could not be saved (a redelivery could send it again).
EmailOutcome = Literal["sent", "sent_unrecorded", "already_sent", "expired", "parked"]


def parse_email_intent(body: str) -> SendEmail:
    intent = parse_intent(body)
    if not isinstance(intent, SendEmail):
        raise MalformedIntent(f"email queue got a {type(intent).__name__} intent")
    return intent


def queued_email(message: InboundMessage) -> QueuedEmail:
    try:
        return QueuedEmail(message, parse_email_intent(message.body))
    except MalformedIntent as error:
        return QueuedEmail(message, None, f"MalformedIntent: {error}")


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
    queued: QueuedEmail,
    ports: EmailPorts,
    *,
    now_s: float,
    lease_until_s: float,
    deadline: float | None,
    sleep: Callable[[float], None] = time.sleep,
) -> EmailOutcome:
    """Send one queued email, or park it with its reason, or hand it back to come later (and raise).

    Whatever may pass (Customer.io down or misconfigured, an AWS hiccup, a missing secret) comes back
    later by the shared redelivery rule; only its last allowed receive parks it, with the reason. A claim
    held by another receive is not a failure: the message comes back when that claim's lease ends.
    """
    message, intent = queued.message, queued.intent
    if intent is None:
        return _park(message, ports.dead_letters, queued.malformed, "parked")
    try:
        claim = ports.claims.claim(intent, now_s, lease_until_s)
        if isinstance(claim, AlreadySent):
            return "already_sent"
        if isinstance(claim, Held):
            wait_s = max(1, math.ceil(claim.until_s - now_s))
            ports.redelivery.postpone([(message.receipt_handle, wait_s)])
            raise SendInProgress(f"another receive holds the claim for {wait_s} s")
        sent = _send_or_release(intent, claim, ports, deadline=deadline, now_s=now_s)
    except SendInProgress:
        raise
    except EmailExpired as error:
        return _park(message, ports.dead_letters, str(error), "expired")
    except PermanentEmailFailure as error:
        return _park(message, ports.dead_letters, f"{type(error).__name__}: {error}", "parked")
    except Exception as error:
        retryable = not isinstance(error, CustomerIoError) or error.retryable
        detail = f"Customer.io: {error}" if isinstance(error, CustomerIoError) else type(error).__name__
        parked = ports.redelivery.park_reason(message.receive_count, detail, retryable=retryable)
        if parked is None:
            ports.redelivery.come_back_later([(message.receipt_handle, message.receive_count)])
            raise
        return _park(message, ports.dead_letters, parked, "parked")
    return "sent" if _record(ports.claims, intent, sent.delivery_id, sleep) else "sent_unrecorded"


def _send_or_release(
    intent: SendEmail, claim: Claimed, ports: EmailPorts, *, deadline: float | None, now_s: float
) -> EmailSent:
    """Send under the claim; if nothing came back from the App API, the claim goes (the send may be
    retried at once on the next receive, as a failure the App API never acknowledged may be)."""
    try:
        return send_transactional(
            intent, ports.members, ports.sender, ports.messages, deadline=deadline, now_s=now_s
        )
    except Exception:
        try:
            ports.claims.release(intent, claim.token)
        except Exception as error:  # the lease expires by itself; the send's own error matters more
            logger.warning("email claim not released", extra={"error_type": type(error).__name__})
        raise


def _record(claims: SendClaims, intent: SendEmail, delivery_id: str, sleep: Callable[[float], None]) -> bool:
    """Save the delivery id, a few tries; False when it could not be saved (the email was sent anyway, so
    the message is acknowledged, never failed: failing it would send the email again)."""
    for attempt in range(RECORD_ATTEMPTS):
        try:
            claims.record_sent(intent, delivery_id)
            return True
        except Exception as error:
            logger.warning(
                "email sent, delivery id not saved",
                extra={
                    "intent_id": intent.intent_id,
                    "attempt": attempt + 1,
                    "error_type": type(error).__name__,
                },
            )
            if attempt + 1 < RECORD_ATTEMPTS:
                sleep(RECORD_BACKOFF_S * 2**attempt)
    return False


def _park(
    message: InboundMessage, dead_letters: DeadLetters, reason: str, outcome: EmailOutcome
) -> EmailOutcome:
    logger.error("email dead-lettered", extra={"message_id": message.message_id, "reason": reason})
    dead_letters.dead_letter(message.body, reason)
    return outcome
