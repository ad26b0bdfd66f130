"""Customer.io's consent events are ordered by time against the table's own stamps, not applied on their
type (docs/member-contract.md, "Consent in Customer.io").

Through the real consent handler writing the simulated member table, and the real stream and track
handlers reacting to it (the harness of test_consent.py). Each history re-subscribed, or unsubscribed, a
member against their later word before `email_opt_out_at` and the time rule existed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cio_sync.customerio.reporting import ReportingEvent, centre_topic_names
from cio_sync.handlers import consent
from cio_sync.handlers.consent_runtime import ConsentRuntime
from cio_sync.members.contract import parse_iso
from cio_sync.observability import metrics
from cio_sync.pipeline.consent import READ_ATTRIBUTES, ConsentPolicy

from .fakes import FakeDeadLetters
from .test_consent import Pipeline, both_channels, fresh_metrics  # noqa: F401 (an autouse fixture)

PREFERENCES = "cio_subscription_preferences_changed"
AN_HOUR_S = 3600  # well past the echo window


class TableConsent:
    """The consent function's port on the simulated table: reads its attributes, writes conditionally."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.table = pipeline.table

    def read(self, member_id: str) -> Mapping[str, Any] | None:
        item = self.table.items.get(member_id)
        return None if item is None else {name: item[name] for name in READ_ATTRIBUTES if name in item}

    def write(self, member_id: str, updated_at: str | None, changes: Mapping[str, Any]) -> bool:
        item = self.table.items.get(member_id)
        if item is None or item.get("updated_at") != updated_at:
            return False
        self.table.raw_write(member_id, changes)
        return True


def webhook(pipeline: Pipeline, member_id: str, metric: str, at: int, **topics: bool) -> None:
    """Customer.io's event stamped `at`, delivered (late) to the consent handler, then synced."""
    event = ReportingEvent(
        f"ev-{metric}-{at}",
        "customer",
        metric,
        at,
        member_id,
        topics=dict(topics) if metric == PREFERENCES else None,
        received_at=pipeline.table.clock_s,
    )
    policy = ConsentPolicy(centre_topic_names(pipeline.topic_map), False, None, "cio-sync-transactional")
    runtime = ConsentRuntime(TableConsent(pipeline), FakeDeadLetters(), FakeDeadLetters(), policy)
    record = {"messageId": "m0", "body": event.to_message(), "attributes": {"MessageGroupId": "lane-001"}}
    assert consent.handle({"Records": [record]}, None, runtime) == {"batchItemFailures": []}
    pipeline.sync()


def site_unsubscribe(pipeline: Pipeline, member_id: str) -> None:
    pipeline.table.raw_write(member_id, {"email_subscription_status": False})
    pipeline.sync()


def dropped(reason: str) -> list[int]:
    return list(metrics.metric_set[f"ConsentDropped{reason}"]["Value"])


def test_the_echo_of_our_own_opt_in_after_a_site_unsubscribe_does_not_resubscribe() -> None:
    """(A) cio-sync's opt-in identify comes back as `subscribed`, stamped when Customer.io applied it,
    after the member has unsubscribed on the site."""
    pipeline = Pipeline()
    member_id = pipeline.sign_up(both_channels())
    echo_at = pipeline.cio.clock_s  # Customer.io applied the sign-up's identify then
    site_unsubscribe(pipeline, member_id)

    webhook(pipeline, member_id, "subscribed", echo_at)
    assert pipeline.table.items[member_id]["email_subscription_status"] is False
    assert pipeline.profile(member_id)["unsubscribed"] is True  # type: ignore[index]
    assert dropped("Stale") == [1]


def test_an_opt_in_just_after_a_site_unsubscribe_may_be_an_echo_and_the_opt_out_wins() -> None:
    """An identify the track built before the opt-out can reach Customer.io just after it."""
    pipeline = Pipeline()
    member_id = pipeline.sign_up(both_channels())
    site_unsubscribe(pipeline, member_id)

    webhook(pipeline, member_id, "subscribed", pipeline.table.clock_s + 2)
    assert pipeline.table.items[member_id]["email_subscription_status"] is False
    assert dropped("Echo") == [1]
    # A subscribe clearly after the opt-out is the person's newer word: it is applied.
    webhook(pipeline, member_id, "subscribed", pipeline.table.clock_s + AN_HOUR_S)
    assert pipeline.table.items[member_id]["email_subscription_status"] is True
    assert pipeline.profile(member_id)["unsubscribed"] is False  # type: ignore[index]


def test_a_late_preference_change_does_not_undo_a_later_site_unsubscribe() -> None:
    """(B) a backlogged or redriven preferences event: its topics would force the status back to true."""
    pipeline = Pipeline(topic_map={"news": 1, "community": 2})
    member_id = pipeline.sign_up(both_channels())
    chosen_at = pipeline.now()  # the member ticks "news" on Customer.io's page; the webhook is delayed
    site_unsubscribe(pipeline, member_id)

    webhook(pipeline, member_id, PREFERENCES, chosen_at, topic_1=True, topic_2=True)
    item = pipeline.table.items[member_id]
    assert (item["email_subscription_status"], item["email_subscription_topics"]) == (False, [])
    assert pipeline.profile(member_id)["unsubscribed"] is True  # type: ignore[index]
    assert dropped("Stale") == [1]


def test_a_late_unsubscribe_from_before_a_site_opt_in_is_not_applied() -> None:
    """(C) Customer.io's opt-out predates the member's later opt-in in the table: the table is newer."""
    pipeline = Pipeline()
    member_id = pipeline.sign_up(both_channels())
    unsubscribed_at = pipeline.now()
    site_unsubscribe(pipeline, member_id)
    pipeline.now()
    pipeline.table.raw_write(member_id, {"email_subscription_topics": ["news"]})  # opts in again
    pipeline.sync()

    webhook(pipeline, member_id, "unsubscribed", unsubscribed_at)
    assert pipeline.table.items[member_id]["email_subscription_status"] is True
    assert pipeline.profile(member_id)["unsubscribed"] is False  # type: ignore[index]
    assert dropped("Stale") == [1]
    # An unsubscribe stamped in the very second of the opt-in may be the later one: the opt-out wins.
    opted_in_s = int(parse_iso(pipeline.table.items[member_id]["email_opt_in_at"]).timestamp())
    webhook(pipeline, member_id, "unsubscribed", opted_in_s)
    assert pipeline.table.items[member_id]["email_subscription_status"] is False
