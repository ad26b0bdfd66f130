from collections.abc import Mapping
from typing import Any

import pytest

from cio_sync.members.subscriptions import web_signup
from cio_sync.pipeline.email_consumer import (
    EmailExpired,
    EmailMessages,
    PermanentEmailFailure,
    send_transactional,
)
from cio_sync.sync.intents import SendEmail

NOW_S = 1_790_000_000.0
CONFIG = EmailMessages(identifier_id="placeholder", forgot_password="7", password_updated="8")


class Members:
    def __init__(self, *items: dict[str, Any]) -> None:
        self.items = {item["id"]: item for item in items}

    def get(self, member_id: str, consistent: bool = True) -> dict[str, Any] | None:
        assert consistent
        return self.items.get(member_id)


class Sender:
    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def send_email(
        self,
        to: str,
        transactional_message_id: str,
        identifier_id: str,
        message_data: Mapping[str, Any],
        deadline: float | None,
    ) -> str:
        self.calls.append(
            {"to": to, "id": transactional_message_id, "identifier": identifier_id, "data": message_data}
        )
        return f"delivery-{len(self.calls)}"


def test_forgot_password_goes_to_the_placeholder_profile_with_the_url() -> None:
    member = web_signup({"email": "Someone@Example.org"}, "2026-11-26T10:00:00Z")
    sender = Sender()
    intent = SendEmail("i-1", member["id"], "forgot_password", {"url": "https://example.org/r"})
    sent = send_transactional(intent, Members(member), sender, CONFIG, deadline=None, now_s=NOW_S)
    assert sent.delivery_id == "delivery-1"
    assert sender.calls == [
        {
            "to": "someone@example.org",
            "id": "7",
            "identifier": "placeholder",
            "data": {"url": "https://example.org/r"},
        }
    ]


def test_password_updated_uses_its_own_message_and_no_data() -> None:
    member = web_signup({"email": "a@example.org"}, "2026-11-26T10:00:00Z")
    sender = Sender()
    send_transactional(
        SendEmail("i-2", member["id"], "password_updated", {}),
        Members(member),
        sender,
        CONFIG,
        deadline=None,
        now_s=NOW_S,
    )
    assert (sender.calls[0]["id"], sender.calls[0]["data"]) == ("8", {})


@pytest.mark.parametrize("members", [Members(), Members({"id": "b" * 24})])
def test_no_member_or_no_address_is_permanent(members: Members) -> None:
    with pytest.raises(PermanentEmailFailure):
        send_transactional(
            SendEmail("i-3", "b" * 24, "password_updated", {}),
            members,
            Sender(),
            CONFIG,
            deadline=None,
            now_s=NOW_S,
        )


def test_an_expired_reset_is_parked_as_expired_and_never_sent() -> None:
    member = web_signup({"email": "a@example.org"}, "2026-11-26T10:00:00Z")
    sender = Sender()
    intent = SendEmail("i-4", member["id"], "forgot_password", {"url": "https://x.org/r"}, expires_at=1000)
    with pytest.raises(EmailExpired, match="expired"):
        send_transactional(intent, Members(member), sender, CONFIG, deadline=None, now_s=1000)
    assert sender.calls == []
    send_transactional(intent, Members(member), sender, CONFIG, deadline=None, now_s=999.5)
    assert len(sender.calls) == 1
