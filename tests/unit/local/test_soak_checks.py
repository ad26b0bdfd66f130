"""The soak's books, checked without a stack: a balanced run misses nothing; each imbalance is named."""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from typing import Any

from cio_sync_local.soak_checks import (
    PASSWORD_UPDATED,
    RESUBSCRIBE_EVENT,
    Ledger,
    Observed,
    classify_dead_letters,
    mismatches,
    summarise,
)

WITH_EMAIL = "5f0c8e2a9b1d4c3e2f1a0b9c"
WITHOUT_EMAIL = "5f0c8e2a9b1d4c3e2f1a0b9d"
COHORT = "5f0c8e2a9b1d4c3e2f1a0b9e"
POISON = "5f0c8e2a9b1d4c3e2f1a0b9f"


def dead(body: Any, reason: str | None = "parked on purpose") -> dict[str, Any]:
    attributes = {} if reason is None else {"failure_reason": {"StringValue": reason, "DataType": "String"}}
    return {"Body": json.dumps(body), "MessageAttributes": attributes}


def event_request(event_id: str, status: int = 200) -> dict[str, Any]:
    item = {"action": "event", "name": RESUBSCRIBE_EVENT, "id": event_id, "identifiers": {"id": COHORT}}
    return {"path": "/api/v2/batch", "status": status, "body": {"batch": [item]}}


def balanced() -> Observed:
    """One of everything the soak checks, each as it should be; the resubscribe event is retried once
    (same id) and the poison record parked twice (a redelivered batch), both of which count once."""
    ledger = Ledger(
        writes=Counter({"signup": 2}),
        has_email={WITH_EMAIL: True, WITHOUT_EMAIL: False},
        resets={"https://reset/1": WITH_EMAIL, "https://reset/2": WITHOUT_EMAIL},
        reset_intents_without_email={"intent-2"},
        password_updates=Counter({WITH_EMAIL: 1}),
    )
    poison = dead({"member_id": POISON, "sequenceNumber": "7"})
    return Observed(
        seed=0,
        seconds=60.0,
        ledger=ledger,
        emulator_stats={
            "requests_by_status": {"200": 3, "503": 1},
            "rate_limited": 0,
            "faults_failed": 1,
            "faults_dropped": 0,
            "requests_total": 4,
            "duplicate_events_ignored": 1,
            "request_log": {"dropped": 0, "bodies_dropped": 0},
        },
        emails=[
            {"message_data": {"url": "https://reset/1"}, "to": "a@example.org"},
            {"transactional_message_id": PASSWORD_UPDATED, "to": "a@example.org"},
        ],
        events=[{"name": RESUBSCRIBE_EVENT, "person_id": COHORT}],
        requests=[event_request("ev-1", 503), event_request("ev-1")],
        addresses={"a@example.org": WITH_EMAIL},
        dead_letters={
            "EmailDeadLetterQueue": [dead({"intent_id": "intent-2"})],
            "StreamFailureQueue": [poison, poison],
            "TrackDeadLetterQueue": [dead({"intents": [{"member_id": POISON, "intent_id": "x"}]})],
        },
        cohort_unmutes={COHORT: 1},
        violations=[],
        bursts=2,
        burst_writes=8,
        burst_mismatches=[],
        poison_ids=frozenset({POISON}),
        poison_written=1,
        failed_invocations=3,
        crashes=2,
        duplicates=1,
        max_receive_count=9,
    )


def checked(seen: Observed) -> tuple[dict[str, Any], list[str]]:
    books = classify_dead_letters(seen.dead_letters, seen.ledger.reset_intents_without_email, seen.poison_ids)
    return summarise(seen, books), mismatches(seen, books)


def test_balanced_books_have_no_mismatch_and_count_each_thing_once() -> None:
    summary, found = checked(balanced())
    assert found == []
    assert summary["dead_lettered"] == {
        "transient": {"EmailDeadLetterQueue": 0, "StreamFailureQueue": 0, "TrackDeadLetterQueue": 0},
        "emails_without_address": 1,
        "permanent_unexpected": 0,
        "poison_parked": 1,
        "poison_members_parked_by_track": 1,
    }
    assert summary["events"]["resubscribe_ids_sent_to_cohort"] == 1
    assert summary["events"]["resubscribe_sends"] == 2
    assert summary["emails"]["resets_sent"] == 1
    assert summary["failed_requests"] == 1


def test_a_message_that_ran_out_of_receives_is_a_transient_dead_letter() -> None:
    seen = balanced()
    queues = {**seen.dead_letters, "TrackDeadLetterQueue": [dead({"intents": []}, reason=None)]}
    _, found = checked(dataclasses.replace(seen, dead_letters=queues))
    assert found == ["transient faults dead-lettered messages: {'TrackDeadLetterQueue': 1}"]


def test_a_reset_sent_twice_and_a_second_event_id_are_named() -> None:
    seen = balanced()
    emails = [*seen.emails, {"message_data": {"url": "https://reset/1"}}]
    requests = [*seen.requests, event_request("ev-2")]
    _, found = checked(dataclasses.replace(seen, emails=emails, requests=requests))
    assert found == [
        "1 reset URLs were not sent exactly once",
        "the pipeline sent resubscribe event ids other than one per unmute transition",
    ]


def test_an_overflowing_request_log_is_named_instead_of_judged() -> None:
    seen = balanced()
    stats = {**seen.emulator_stats, "request_log": {"dropped": 5, "bodies_dropped": 0}}
    _, found = checked(dataclasses.replace(seen, emulator_stats=stats, requests=[]))
    assert found == ["the emulator's request log overflowed: the events sent cannot be judged"]


def test_an_unparked_poison_write_and_a_broken_invariant_are_named() -> None:
    seen = dataclasses.replace(balanced(), poison_written=2, violations=["member x has no profile"])
    _, found = checked(seen)
    assert found == [
        "1 members break the invariant: ['member x has no profile']",
        "2 poison writes made, 1 parked with their reason",
    ]
