"""`email_opt_in_at`: when the rules saw the member's current email opt-in (it stamps opt-in identifies)."""

from __future__ import annotations

from cio_sync.members.subscriptions import apply_subscription_rules, deletion_request, sms_signup, web_signup

T0, T1, T2 = "2026-11-26T10:00:00.000000Z", "2026-11-26T11:00:00.000000Z", "2026-11-26T12:00:00.000000Z"


def test_a_sign_up_subscribed_to_email_is_stamped_and_an_sms_one_is_not() -> None:
    assert web_signup({"email": "a@example.org"}, T0)["email_opt_in_at"] == T0
    assert "email_opt_in_at" not in sms_signup({"mobile": "+15555550123"}, T0)


def test_subscribing_or_adding_a_topic_stamps_and_other_writes_do_not() -> None:
    member = web_signup({"email": "a@example.org"}, T0)
    login = apply_subscription_rules(member, {**member, "last_authenticated_at": T1}, T1)
    assert login["email_opt_in_at"] == T0
    dropped = apply_subscription_rules(member, {**member, "email_subscription_topics": []}, T1)
    assert dropped["email_opt_in_at"] == T0
    added = apply_subscription_rules(
        member, {**member, "email_subscription_topics": ["community", "news"]}, T1
    )
    assert added["email_opt_in_at"] == T1
    unsubscribed = apply_subscription_rules(member, {**member, "email_subscription_status": False}, T1)
    assert unsubscribed["email_opt_in_at"] == T0
    back = apply_subscription_rules(unsubscribed, {**unsubscribed, "email_subscription_status": True}, T2)
    assert back["email_opt_in_at"] == T2
    assert deletion_request(back, T2)["email_opt_in_at"] == T2


def test_the_stamp_is_a_fixpoint_a_later_check_of_the_same_write_keeps_it() -> None:
    member = {**web_signup({"email": "a@example.org"}, T0), "email_subscription_status": False}
    decided = apply_subscription_rules(member, {**member, "email_subscription_topics": ["news"]}, T1)
    assert decided["email_opt_in_at"] == T1
    assert apply_subscription_rules(member, decided, T2) == decided


def test_ending_email_or_dropping_a_topic_stamps_the_opt_out_and_other_writes_do_not() -> None:
    """`email_opt_out_at` orders Customer.io's late opt-ins against the table's opt-outs."""
    member = {
        **web_signup({"email": "a@example.org"}, T0),
        "email_subscription_topics": ["community", "news"],
    }
    assert "email_opt_out_at" not in member
    login = apply_subscription_rules(member, {**member, "last_authenticated_at": T1}, T1)
    assert "email_opt_out_at" not in login
    added = apply_subscription_rules(
        member, {**member, "email_subscription_topics": [*member["email_subscription_topics"], "clubs"]}, T1
    )
    assert "email_opt_out_at" not in added
    dropped = apply_subscription_rules(member, {**member, "email_subscription_topics": ["news"]}, T1)
    assert dropped["email_opt_out_at"] == T1
    unsubscribed = apply_subscription_rules(dropped, {**dropped, "email_subscription_status": False}, T2)
    assert unsubscribed["email_opt_out_at"] == T2
    assert apply_subscription_rules(dropped, unsubscribed, "2026-11-26T13:00:00.000000Z") == unsubscribed
    assert deletion_request(member, T2)["email_opt_out_at"] == T2
