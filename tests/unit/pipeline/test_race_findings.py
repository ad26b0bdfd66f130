"""The state machine's findings (tests/unit/stateful, issue 21), each a named history through the stream
function on the in-memory table; each fails on the code before its fix.

Self-contained on purpose (SimTable and the stream's fakes only), beside test_racing_writes.py and
test_model_write_races.py, whose harnesses write with a clock that always moves forward: these histories
need a writer whose clock repeats an earlier `updated_at`, and a model write inside a record's second.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

from cio_sync.members.contract import MemberItem
from cio_sync.members.raw_writes import MODEL_WRITE, model_write_marker
from cio_sync.members.subscriptions import MUTED_AT, apply_subscription_rules, is_profile_eligible, web_signup

from .fakes import FakePending, FakePublisher, process_raw
from .table_sim import SimTable, iso

MEMBER = "5f0c8e2a9b1d4c3e2f1a0b9c"
LANES = 4


class Table(SimTable):
    def model_write(self, changes: dict[str, Any], into_second_s: float = 0.0) -> str:
        """The repository's update (rules on the item as read, the marker stamped), its clock
        `into_second_s` past the record's whole second; returns that `now`."""
        old = copy.deepcopy(self.items[MEMBER])
        updated_at = self.tick()
        now = iso(datetime.fromtimestamp(self.clock_s + into_second_s, UTC))
        decided = apply_subscription_rules(old, {**old, **copy.deepcopy(changes)}, now)
        new = {name: value for name, value in decided.items() if value is not None or name == MUTED_AT}
        new.update({"updated_at": updated_at, MODEL_WRITE: model_write_marker(updated_at, changes)})
        self.items[MEMBER] = new
        self._record(old, new)
        return now

    def recreate(self, new: MemberItem) -> str:
        """A sign-up under an id whose item was deleted, `updated_at` as given; returns the rules' `now`."""
        self.clock_s += 1
        self.items[MEMBER] = copy.deepcopy(new)
        self._record(None, new)
        return iso(datetime.fromtimestamp(self.clock_s, UTC))

    def land(self, new: MemberItem) -> None:
        """A raw write of the whole item as given, `updated_at` included (a clock that repeats a value)."""
        old = copy.deepcopy(self.items[MEMBER])
        self.items[MEMBER] = copy.deepcopy(new)
        self._record(old, new)


class Stream:
    def __init__(self, table: Table) -> None:
        self.table, self.pending, self.publisher, self.cursor = table, FakePending(), FakePublisher(), 0

    def process(self, count: int | None = None) -> int:
        """Hand the next records to the stream function; returns how many it parked."""
        end = len(self.table.records) if count is None else self.cursor + count
        batch = self.table.records[self.cursor : end]
        result = process_raw(batch, self.table, self.pending, self.publisher, LANES)
        assert result.failed_sequence_numbers == []
        self.cursor += len(batch)
        return result.contract_violations

    def drain(self) -> int:
        parked = 0
        while self.cursor < len(self.table.records):
            parked += self.process()
        return parked


def _settled(item: MemberItem) -> tuple[Table, Stream]:
    table = Table()
    table.put(item)
    stream = Stream(table)
    stream.drain()
    return table, stream


def _subscribed() -> MemberItem:
    return web_signup({"id": MEMBER, "email": "someone@example.org"}, "2026-11-26T09:00:00.000000Z")


def _muted_unsubscribed() -> MemberItem:
    item = _subscribed()
    item.update({"email_subscription_status": False, "email_subscription_topics": []})
    item[MUTED_AT] = "2026-11-26T09:00:00.000000Z"
    return item


def test_the_stream_keeps_the_stamps_of_a_model_unsubscribe() -> None:
    """The model stamps its unsubscribe's opt-out and mute with its own clock; the stream, re-deciding the
    write at the record's second, re-stamped `email_opt_out_at` (it kept the mute)."""
    table, stream = _settled(_subscribed())
    now = table.model_write({"email_subscription_status": False}, into_second_s=0.25)
    stream.drain()
    assert (table.items[MEMBER][MUTED_AT], table.items[MEMBER]["email_opt_out_at"]) == (now, now)


def test_a_model_topic_pick_racing_a_raw_one_keeps_its_opt_in_time() -> None:
    """model-write-moves-opt-in: while a raw topic pick waited for the stream, a model write picked another
    topic; its opt-in, stamped with its own clock, was moved to the record's second."""
    table, stream = _settled(_muted_unsubscribed())
    table.raw_write(MEMBER, {"email_subscription_topics": ["news"]})
    now = table.model_write({"email_subscription_topics": ["news", "clubs"]}, into_second_s=0.25)
    stream.drain()
    item = table.items[MEMBER]
    assert (item["email_subscription_status"], item[MUTED_AT], item["email_opt_in_at"]) == (True, None, now)


def test_a_raw_mute_stamped_with_a_model_writes_updated_at_stands() -> None:
    """import-mute-over-pending-model-write: an import's mute stamps its own clock; in the same microsecond
    as a model write, it was read as that model write (which set no rule input) and undone."""
    table, stream = _settled(_subscribed())
    table.model_write({"password_updated_at": "2026-11-26T10:00:00.000000Z"})
    table.land({**table.items[MEMBER], MUTED_AT: "2026-11-26T10:00:30.000000Z"})
    stream.drain()
    assert table.items[MEMBER][MUTED_AT] == "2026-11-26T10:00:30.000000Z"
    assert not is_profile_eligible(table.items[MEMBER])


def test_a_status_removal_stamped_with_a_model_writes_updated_at_stands() -> None:
    """status-removal-undone, first cause: a removal of `email_subscription_status` with the model write's
    `updated_at` was read as that model write, and the member ended subscribed, with a profile."""
    table, stream = _settled(_subscribed())
    table.model_write({"password_updated_at": "2026-11-26T10:00:00.000000Z"})
    table.land({k: v for k, v in table.items[MEMBER].items() if k != "email_subscription_status"})
    stream.drain()
    assert "email_subscription_status" not in table.items[MEMBER]
    assert not is_profile_eligible(table.items[MEMBER])


def test_a_removal_that_repeats_an_earlier_updated_at_is_not_that_version() -> None:
    """status-removal-undone, second cause: a sign-up's decision (subscribed) is kept for its version; a
    removal of the status whose clock repeated the sign-up's `updated_at` gave the item that version's
    rule inputs again, was decided on top of the kept decision and ended subscribed."""
    table = Table()
    table.put({"id": MEMBER, "email": "someone@example.org", "email_subscription_topics": ["community"]})
    stream = Stream(table)
    stream.process(1)  # the sign-up's decision is written back
    first_version = table.records[0]["dynamodb"]["NewImage"]["updated_at"]["S"]
    removed = {k: v for k, v in table.items[MEMBER].items() if k != "email_subscription_status"}
    table.land({**removed, "updated_at": first_version})
    stream.drain()
    assert "email_subscription_status" not in table.items[MEMBER]
    assert not is_profile_eligible(table.items[MEMBER])


def test_a_decision_pending_under_a_parked_record_reaches_the_write_that_repairs_the_item() -> None:
    """decision-lost-across-park: a topic pick subscribes and unmutes; a write adding a retired topic is
    parked; the write that removes it (stating its status, as a write must while a pick is pending) picks
    nothing new. The pick's decision, not yet written back, was dropped at the park: the member ended
    muted."""
    table, stream = _settled(_muted_unsubscribed())
    table.raw_write(MEMBER, {"email_subscription_topics": ["news"]})
    table.raw_write(MEMBER, {"email_subscription_topics": ["news", "retired"]})
    table.raw_write(MEMBER, {"email_subscription_topics": ["news"], "email_subscription_status": True})
    assert stream.drain() == 1
    item = table.items[MEMBER]
    assert (item["email_subscription_status"], item[MUTED_AT]) == (True, None)
    assert is_profile_eligible(item)


def test_a_model_write_that_restates_no_mute_is_re_decided_from_that_null() -> None:
    """model-write-mute-restated (test_model_write_races.py, found by Hypothesis): a raw topic pick waits
    (subscribe, unmute); a model write stops SMS and restates `promotions_muted_at: None`. On the item it
    read (not yet subscribed) the model's rules muted, and the stream took that stored mute for the value
    the caller set: the member ended email-subscribed and muted, with no profile."""
    table, stream = _settled(_muted_unsubscribed())
    table.raw_write(MEMBER, {"email_subscription_topics": ["news"]})
    table.model_write({"email_subscription_topics": []})
    table.model_write({"email_subscription_topics": [], "sms_status": "stop", MUTED_AT: None})
    stream.process(4)
    stream.drain()
    item = table.items[MEMBER]
    assert (item["email_subscription_status"], item[MUTED_AT]) == (True, None)
    assert is_profile_eligible(item)


def test_a_model_write_whose_stated_status_the_stale_rules_overrode_is_re_decided_from_its_caller() -> None:
    """The same cause on the email status: while a raw topic pick waits (the table still shows `false`), a
    model write sets `false` and another topic. On the item it read the rules took the topics as a
    subscribe and stored `true` and an unmute; the stream took that `true` for the caller's: the opt-out
    was lost. Write by write, the write unsubscribes (opt-out wins) and the member stays muted."""
    table, stream = _settled(_muted_unsubscribed())
    table.raw_write(MEMBER, {"email_subscription_topics": ["news"]})
    table.model_write({"email_subscription_status": False, "email_subscription_topics": ["clubs"]})
    stream.drain()
    item = table.items[MEMBER]
    assert (item["email_subscription_status"], item["email_subscription_topics"]) == (False, [])
    assert item[MUTED_AT] is not None
    assert not is_profile_eligible(item)


def test_the_write_back_of_a_re_decided_model_unsubscribe_is_decided_on_top_of_its_decision() -> None:
    """Seed 11 of test_model_write_races.py, after the marker carried values: the re-decided model write
    (and a raw mute after it) was written back as status true -> false. Read in a later batch without its
    decision, that write-back was taken for a fresh unsubscribe and re-stamped the raw writer's mute."""
    table, stream = _settled(_muted_unsubscribed())
    table.raw_write(MEMBER, {"email_subscription_topics": ["news"]})
    table.model_write(
        {"email_subscription_status": False, "email_subscription_topics": ["community", "clubs"]}
    )
    table.raw_write(MEMBER, {MUTED_AT: "2026-11-20T08:00:00.000000Z"})
    stream.process(3)
    stream.drain()
    item = table.items[MEMBER]
    assert (item["email_subscription_status"], item[MUTED_AT]) == (False, "2026-11-20T08:00:00.000000Z")


def test_a_decision_for_a_members_previous_life_never_lands_on_the_next() -> None:
    """resignup-opt-in (review 21): sign up, a model write, the item deleted, the same id signs up again
    with the model write's `updated_at` and the same rule inputs. The model write's write-back, its
    condition met by those alone, landed on the new item: the new member kept the first life's
    `email_opt_in_at`, and Customer.io got that older opt-in stamp."""
    table = Table()
    table.put({"id": MEMBER, "email": "someone@example.org", "email_subscription_topics": ["community"]})
    table.model_write({"birthdate": "2000-02-29"})
    second_version = table.items[MEMBER]["updated_at"]
    table.delete(MEMBER)
    signup = {"id": MEMBER, "email": "someone@example.org", "email_subscription_topics": ["community"]}
    now = table.recreate({**signup, "created_at": second_version, "updated_at": second_version})
    Stream(table).drain()
    item = table.items[MEMBER]
    assert (item["email_subscription_status"], item["email_opt_in_at"]) == (True, now)
