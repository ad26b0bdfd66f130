"""The split of a member's identify by consent (pipeline/consent_identify.py) and the topic map setting."""

from __future__ import annotations

import pytest

from cio_sync.customerio.reporting import parse_topic_map
from cio_sync.environment import SettingsError
from cio_sync.handlers.track_runtime import TrackSettings
from cio_sync.members.profile import ProfileAttributes, profile_attributes
from cio_sync.members.subscriptions import web_signup
from cio_sync.pipeline.consent_identify import member_identifies

SIGNED_UP = "2026-11-26T10:00:00.000000Z"  # 1_795_687_200
OPTED_IN_S = 1_795_687_200
SENT_S = 1_795_690_000


def payload(**fields: object) -> ProfileAttributes:
    return dict(profile_attributes(web_signup({"email": "someone@example.org", **fields}, SIGNED_UP)))


def test_opt_ins_carry_the_opt_in_stamp_and_opt_outs_the_send_time_opt_ins_first() -> None:
    attributes = payload(email_subscription_topics=["news"])
    opt_in, main, opt_out = member_identifies("m", attributes, 1_795_689_000, SENT_S, {"news": 1, "clubs": 5})
    assert opt_in.timestamp == OPTED_IN_S
    assert opt_in.attributes == {
        "unsubscribed": False,
        "email_subscription_status": True,
        "news_email_subscription_status": True,
        "community_email_subscription_status": True,
        "cio_subscription_preferences.topics.topic_1": True,
    }
    assert main.timestamp == 1_795_689_000
    assert main.attributes["email"] == "someone@example.org"
    assert "unsubscribed" not in main.attributes
    assert opt_out.timestamp == SENT_S
    assert opt_out.attributes["cio_subscription_preferences.topics.topic_5"] is False
    assert opt_out.attributes["clubs_email_subscription_status"] is False
    assert set(opt_in.attributes) | set(main.attributes) | set(opt_out.attributes) == set(attributes) | {
        "cio_subscription_preferences.topics.topic_1",
        "cio_subscription_preferences.topics.topic_5",
    }


def test_opt_outs_ride_in_the_main_identify_when_it_is_stamped_with_the_send_time() -> None:
    operations = member_identifies("m", payload(), SENT_S, SENT_S, {})
    assert [op.timestamp for op in operations] == [OPTED_IN_S, SENT_S]
    assert operations[1].attributes["news_email_subscription_status"] is False


def test_an_unset_status_is_removed_with_the_opt_ins_stamp_never_the_send_time() -> None:
    """A null removal is an opt-in-like change: an opt-out Customer.io recorded later stays."""
    attributes = dict(
        profile_attributes(
            {**web_signup({"email": "s@example.org"}, SIGNED_UP), "email_subscription_status": None}
        )
    )
    operations = member_identifies("m", attributes, SENT_S, SENT_S, {})
    removal = [op for op in operations if "unsubscribed" in op.attributes]
    assert [(op.timestamp, op.attributes["unsubscribed"]) for op in removal] == [(OPTED_IN_S, None)]
    assert removal[0].attributes["email_subscription_status"] is None


def test_an_item_from_before_email_opt_in_at_is_stamped_with_its_creation() -> None:
    attributes: ProfileAttributes = {**payload(), "email_opt_in_at": None, "created_at": OPTED_IN_S - 100}
    opt_in = member_identifies("m", attributes, SENT_S, SENT_S, {})[0]
    assert opt_in.timestamp == OPTED_IN_S - 100
    no_creation: ProfileAttributes = {**attributes, "created_at": None}
    assert member_identifies("m", no_creation, SENT_S, SENT_S, {})[0].timestamp == 1


def test_an_opt_in_stamped_after_the_send_is_not_trusted_so_it_cannot_undo_a_later_opt_out() -> None:
    """Review of issue 22, F8: a clock running ahead stamped the opt-in an hour late; the person unsubscribed
    in Customer.io 30 minutes in. An identify stamped with the send time would re-subscribe them."""
    attributes: ProfileAttributes = {
        **payload(),
        "email_opt_in_at": SENT_S + 3600,
        "created_at": SENT_S - 900,
    }
    opt_in = next(
        op
        for op in member_identifies("m", attributes, SENT_S, SENT_S, {})
        if op.attributes.get("unsubscribed") is False
    )
    assert opt_in.timestamp == SENT_S - 900


def test_the_topic_map_parses_and_refuses_what_it_cannot_mean() -> None:
    assert parse_topic_map("") == {}
    assert parse_topic_map(" news=1, lifestyle=2 ") == {"news": 1, "lifestyle": 2}
    for bad in ("sports=1", "news=0", "news=x", "news=1,news=2", "news=1,clubs=1"):
        with pytest.raises(ValueError, match="email topic map"):
            parse_topic_map(bad)


def test_the_track_function_reads_the_topic_map_and_names_a_bad_one() -> None:
    environ = {
        "AWS_REGION": "us-east-1",
        "MEMBER_TABLE_NAME": "members",
        "TRACK_QUEUE_URL": "q",
        "TRACK_DEAD_LETTER_QUEUE_URL": "dlq",
        "MAX_RECEIVE_COUNT": "300",
        "CUSTOMER_IO_REGION": "us",
        "CUSTOMER_IO_ENABLED": "false",
        "CUSTOMER_IO_TRACK_SECRET_NAME": "s",
        "CUSTOMER_IO_TRACK_RATE_PER_S": "10",
        "CUSTOMER_IO_TRACK_CONCURRENCY": "4",
    }
    assert TrackSettings.from_env(environ).email_topic_map == {}
    assert TrackSettings.from_env({**environ, "EMAIL_TOPIC_MAP": "news=3"}).email_topic_map == {"news": 3}
    with pytest.raises(SettingsError, match="EMAIL_TOPIC_MAP"):
        TrackSettings.from_env({**environ, "EMAIL_TOPIC_MAP": "sports=1"})
