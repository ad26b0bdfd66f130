"""email: transactional email through the App API, addressed to the placeholder profile.

The member needs no Customer.io profile: the message goes `to` the member's current address with
`identifiers: {id: CUSTOMER_IO_APP_IDENTIFIER_ID}`. The address is read at send time, so no personal data
rides on the queue. Exactly-once as far as we control it is the handler's job (idempotency keyed by the
intent id); this module decides what to send.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from cio_sync.members.contract import MemberItem
from cio_sync.settings import CustomerIoSettings
from cio_sync.sync.intents import SendEmail


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


@dataclass(frozen=True)
class EmailSent:
    intent_id: str
    kind: str
    delivery_id: str


def message_id_for(kind: str, config: CustomerIoSettings) -> str:
    if kind == "forgot_password":
        return config.forgot_password_message_id
    if kind == "password_updated":
        return config.password_updated_message_id
    raise PermanentEmailFailure(f"unknown email kind {kind!r}")


def send_transactional(
    intent: SendEmail,
    members: MemberLookup,
    sender: EmailSender,
    config: CustomerIoSettings,
    *,
    deadline: float | None,
    now_s: float,
) -> EmailSent:
    """Send one transactional email; raises PermanentEmailFailure or a retryable CustomerIoError."""
    if intent.expired(now_s):
        raise EmailExpired("expired: its validity ended before it could be sent")
    transactional_message_id = message_id_for(intent.kind, config)
    member = members.get(intent.member_id, consistent=True)
    if member is None:
        raise PermanentEmailFailure("member does not exist")
    address = member.get("email")
    if not isinstance(address, str) or not address:
        raise PermanentEmailFailure("member has no email address")
    delivery_id = sender.send_email(
        to=address,
        transactional_message_id=transactional_message_id,
        identifier_id=config.app_identifier_id,
        message_data=dict(intent.data),
        deadline=deadline,
    )
    return EmailSent(intent.intent_id, intent.kind, delivery_id)
