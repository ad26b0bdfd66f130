"""The App API's people reads (the profile sweep's): request shapes, paging, strings, failures."""

from __future__ import annotations

import random
from typing import Any
from urllib.parse import parse_qs

import pytest

from cio_sync.adapters.customerio.people_client import PeopleClient
from cio_sync.customerio.errors import InvalidRequest, RateLimited, Unauthorized
from cio_sync.customerio.people import (
    EVERYONE_WITH_AN_ID,
    StoredProfile,
    UnexpectedReply,
    as_stored,
    email_filter,
)
from tests.observability import LogLines
from tests.unit.customerio.conftest import CREDENTIALS, metric_total
from tests.unit.customerio.fakes import Answer, FakeClock, FakeCustomerIo, Script


def client_with(clock: FakeClock, *script: Script, **options: Any) -> tuple[PeopleClient, FakeCustomerIo]:
    fake = FakeCustomerIo(clock, *script)
    options.setdefault("rng", random.Random(3))
    client = PeopleClient(CREDENTIALS, pool=fake, clock=clock, sleep=clock.sleep, **options)
    return client, fake


PAGE = {
    "identifiers": [
        {"email": None, "id": "5f0c8e2a9b1d4c3e2f1a0b9c", "cio_id": "00000001"},
        {"email": None, "id": "cio-sync-transactional", "cio_id": "00000002"},
    ],
    "ids": ["5f0c8e2a9b1d4c3e2f1a0b9c", "cio-sync-transactional"],
    "next": "abc",
}


def test_search_posts_the_filter_with_limit_and_start_and_reads_the_cursor(clock: FakeClock) -> None:
    client, fake = client_with(clock, Answer(200, PAGE), Answer(200, {**PAGE, "next": ""}))
    first = client.search_people(EVERYONE_WITH_AN_ID)
    second = client.search_people(EVERYONE_WITH_AN_ID, start=first.next_start, limit=10)
    assert [person.id for person in first.people] == ["5f0c8e2a9b1d4c3e2f1a0b9c", "cio-sync-transactional"]
    assert [person.cio_id for person in first.people] == ["00000001", "00000002"]
    assert first.next_start == "abc"
    assert second.next_start is None  # an empty `next` ends the walk
    assert fake.seen[0].json == {"filter": {"attribute": {"field": "id", "operator": "exists"}}}
    assert parse_qs(fake.seen[0].query) == {"limit": ["1000"]}
    assert parse_qs(fake.seen[1].query) == {"limit": ["10"], "start": ["abc"]}
    assert fake.seen[0].headers["Authorization"] == "Bearer app-secret-key"


def test_an_email_in_identifiers_says_the_workspace_identifies_by_email(clock: FakeClock) -> None:
    page = {"identifiers": [{"email": "a@example.org", "id": "x", "cio_id": "1"}], "next": ""}
    client, _ = client_with(clock, Answer(200, page))
    (person,) = client.search_people(email_filter("a@example.org"), limit=10).people
    assert person.has_email_identifier


def test_an_answer_with_ids_only_still_pages(clock: FakeClock) -> None:
    client, _ = client_with(clock, Answer(200, {"ids": ["a", "b"], "next": "n"}))
    page = client.search_people(EVERYONE_WITH_AN_ID)
    assert [person.id for person in page.people] == ["a", "b"]
    assert page.people[0].cio_id is None


def test_attributes_come_back_as_strings_by_id(clock: FakeClock) -> None:
    answer = {
        "customers": [
            {
                "customer": {
                    "id": "p1",
                    "attributes": {"id": "p1", "sms_paused": "false", "birthdate": "631238400"},
                }
            }
        ]
    }
    client, fake = client_with(clock, Answer(200, answer))
    found = client.people_attributes(["p1", "p2"])
    assert found == {"p1": {"id": "p1", "sms_paused": "false", "birthdate": "631238400"}}
    assert fake.seen[0].json == {"ids": ["p1", "p2"]}
    assert parse_qs(fake.seen[0].query) == {"id_type": ["id"]}


def test_profiles_carry_each_attributes_timestamp_from_the_same_request(clock: FakeClock) -> None:
    """The consent read-back orders by them; a time that is not a whole number is left out, never guessed."""
    customer = {
        "id": "p1",
        "attributes": {"id": "p1", "unsubscribed": "true"},
        "timestamps": {"unsubscribed": 1_795_000_000, "cio_subscription_preferences": "recently"},
    }
    client, fake = client_with(clock, Answer(200, {"customers": [{"customer": customer}]}))
    found = client.people_profiles(["p1", "p2"])
    assert found == {
        "p1": StoredProfile({"id": "p1", "unsubscribed": "true"}, {"unsubscribed": 1_795_000_000})
    }
    assert len(fake.seen) == 1
    assert fake.seen[0].json == {"ids": ["p1", "p2"]}


@pytest.mark.parametrize("count", [0, 101])
def test_attributes_take_1_to_100_ids(clock: FakeClock, count: int) -> None:
    client, _ = client_with(clock)
    with pytest.raises(ValueError, match="1 to 100"):
        client.people_attributes([f"p{n}" for n in range(count)])
    with pytest.raises(ValueError, match="1 to 100"):
        client.people_profiles([f"p{n}" for n in range(count)])


def test_a_429_is_retried_paced_and_then_answered(clock: FakeClock) -> None:
    client, fake = client_with(
        clock, Answer(429, {"meta": {"error": "rate limit exceeded"}}), Answer(200, PAGE)
    )
    assert len(client.search_people(EVERYONE_WITH_AN_ID).people) == 2
    assert len(fake.seen) == 2
    assert metric_total("CustomerIoRetries") == 1


def test_reads_are_paced_at_the_clients_rate(clock: FakeClock) -> None:
    client, fake = client_with(clock, *[Answer(200, PAGE)] * 6, rate_per_s=5.0)
    for _ in range(6):
        client.search_people(EVERYONE_WITH_AN_ID)
    gaps = [later.at - earlier.at for earlier, later in zip(fake.seen, fake.seen[1:], strict=False)]
    assert min(gaps) >= 1 / 5.0


def test_retries_give_up_with_the_error(clock: FakeClock) -> None:
    busy = Answer(429, {"meta": {"error": "rate limit exceeded"}})
    client, fake = client_with(clock, busy, busy, busy, busy)
    with pytest.raises(RateLimited):
        client.search_people(EVERYONE_WITH_AN_ID)
    assert len(fake.seen) == 4


def test_a_wrong_key_is_a_configuration_error_not_retried(clock: FakeClock) -> None:
    client, fake = client_with(clock, Answer(401, {"meta": {"error": "Unauthorized request"}}))
    with pytest.raises(Unauthorized):
        client.people_attributes(["p1"])
    assert len(fake.seen) == 1


@pytest.mark.parametrize(
    "body", [[], {"identifiers": "x"}, {"identifiers": [{"id": ["a"]}]}, {"next": 3, "ids": []}]
)
def test_an_undocumented_answer_is_an_error_naming_no_value(clock: FakeClock, body: Any) -> None:
    client, _ = client_with(clock, Answer(200, body))
    with pytest.raises(UnexpectedReply) as raised:
        client.search_people(EVERYONE_WITH_AN_ID)
    assert not raised.value.retryable
    assert metric_total("CustomerIoErrors") == 1


def test_a_searched_email_never_reaches_an_error_or_a_log(clock: FakeClock, log_lines: LogLines) -> None:
    email = "grace.hopper@example.org"
    echo = Answer(400, {"meta": {"error": f"filter value {email} is invalid"}})
    client, _ = client_with(clock, echo)
    with pytest.raises(InvalidRequest) as raised:
        client.search_people(email_filter(email), limit=10)
    assert email not in str(raised.value)
    assert email not in log_lines.text


def test_a_dry_run_calls_nothing_and_finds_nobody(clock: FakeClock) -> None:
    client, fake = client_with(clock, enabled=False)
    assert client.search_people(EVERYONE_WITH_AN_ID).people == ()
    assert client.people_attributes(["p1"]) == {}
    assert client.people_profiles(["p1"]) == {}
    assert fake.seen == []


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        ("a", "a"),
        (True, "true"),
        (False, "false"),
        (3, "3"),
        (None, ""),
        (["a", "b"], '["a","b"]'),
        (1.5, "1.5"),
    ],
)
def test_values_as_customer_io_stores_them(value: Any, stored: str) -> None:
    assert as_stored(value) == stored
