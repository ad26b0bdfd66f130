import pytest

from cio_sync.members.subscriptions import web_signup
from cio_sync.pipeline.email_consumer import (
    EmailExpired,
    PermanentEmailFailure,
    send_transactional,
)
from cio_sync.sync.intents import SendEmail
from tests.unit.pipeline.email_fakes import MESSAGES, Members, Sender

NOW_S = 1_790_000_000.0


def test_forgot_password_goes_to_the_placeholder_profile_with_the_url() -> None:
    member = web_signup({"email": "Someone@Example.org"}, "2026-11-26T10:00:00Z")
    sender = Sender()
    intent = SendEmail("i-1", member["id"], "forgot_password", {"url": "https://example.org/r"})
    sent = send_transactional(intent, Members(member), sender, MESSAGES, deadline=None, now_s=NOW_S)
    assert sent.delivery_id == "delivery-1"
    assert sender.sent == [
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
        MESSAGES,
        deadline=None,
        now_s=NOW_S,
    )
    assert (sender.sent[0]["id"], sender.sent[0]["data"]) == ("8", {})


@pytest.mark.parametrize("members", [Members(), Members({"id": "b" * 24})])
def test_no_member_or_no_address_is_permanent(members: Members) -> None:
    with pytest.raises(PermanentEmailFailure):
        send_transactional(
            SendEmail("i-3", "b" * 24, "password_updated", {}),
            members,
            Sender(),
            MESSAGES,
            deadline=None,
            now_s=NOW_S,
        )


def test_an_expired_reset_is_parked_as_expired_and_never_sent() -> None:
    member = web_signup({"email": "a@example.org"}, "2026-11-26T10:00:00Z")
    sender = Sender()
    intent = SendEmail("i-4", member["id"], "forgot_password", {"url": "https://x.org/r"}, expires_at=1000)
    with pytest.raises(EmailExpired, match="expired"):
        send_transactional(intent, Members(member), sender, MESSAGES, deadline=None, now_s=1000)
    assert sender.sent == []
    send_transactional(intent, Members(member), sender, MESSAGES, deadline=None, now_s=999.5)
    assert len(sender.sent) == 1
