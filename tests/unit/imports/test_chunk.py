from __future__ import annotations

import json

import pytest

from cio_sync.imports.chunk import (
    MUTE_ATTEMPTS,
    ChunkMessage,
    Claim,
    MalformedChunk,
    MemberKeptChanging,
    parse_chunk_message,
    process_chunk,
)
from cio_sync.imports.report import ImportReport, ImportSource, Part
from tests.unit.imports.fakes import Claims, Clock, Members, MemoryStore, counts

A, B, C, D = (f"{letter * 22}{number:02d}" for letter, number in zip("abcd", range(4), strict=True))
MUTE_AT = "2026-11-26T16:00:00.000000Z"
EARLIER = "2025-01-01T00:00:00.000000Z"
IMPORT_ID = "0123456789abcdef"


def message(rows: list[tuple[int, str]], chunk: int = 0, dry_run: bool = False) -> ChunkMessage:
    return ChunkMessage(IMPORT_ID, chunk, 0, tuple(rows), MUTE_AT, dry_run)


def store_expecting(chunks: int) -> MemoryStore:
    store = MemoryStore()
    source = ImportSource("imports", "mute-promotions/x.csv", "etag")
    store.put_report(
        ImportReport(IMPORT_ID, "processing", source, started_at=MUTE_AT, rows=99, chunks_total=chunks)
    )
    return store


def members() -> Members:
    return Members({A: {"id": A}, B: {"id": B, "promotions_muted_at": EARLIER}, C: {"id": C}})


def test_rows_are_muted_claimed_and_recorded_in_order() -> None:
    store, table = store_expecting(2), members()
    claims = Claims(table)
    rows = [(2, A), (3, B), (5, D), (6, A), (9, C), (11, A)]
    result = process_chunk(message(rows), claims, table, store, now=Clock(), workers=4)
    assert not result.replayed
    assert dict(result.part.counts) == counts(muted=2, already=1, missing=1, dup=2)
    assert result.part.rejected_csv == (
        f"3,{B},already_muted,member was already muted\n"
        f"5,{D},not_found,no member has this northstar_id\n"
        f"6,{A},duplicate,duplicate of row 2\n"
        f"11,{A},duplicate,duplicate of row 2\n"
    )
    assert table.items[A]["promotions_muted_at"] == MUTE_AT
    assert table.items[C]["promotions_muted_at"] == MUTE_AT
    # Muted already: re-stamped with the import's time (a write the stream sees), reported as already muted.
    assert table.items[B]["promotions_muted_at"] == MUTE_AT
    # Every first occurrence holds its claim with the outcome it was given; repeats hold none.
    assert claims.items == {
        (IMPORT_ID, A): (2, "muted"),
        (IMPORT_ID, B): (3, "already_muted"),
        (IMPORT_ID, D): (5, "not_found"),
        (IMPORT_ID, C): (9, "muted"),
    }
    assert result.settlement.report is not None
    assert result.settlement.report.chunks_done == 1
    assert not result.settlement.finished_now


def test_an_id_claimed_by_an_earlier_chunk_is_a_duplicate_of_that_row() -> None:
    store, table = store_expecting(2), members()
    claims = Claims(table)
    process_chunk(message([(2, A)], chunk=0), claims, table, store, now=Clock())
    later = process_chunk(message([(40, A), (41, C), (42, A)], chunk=1), claims, table, store, now=Clock())
    assert (
        later.part.rejected_csv
        == f"40,{A},duplicate,duplicate of row 2\n42,{A},duplicate,duplicate of row 2\n"
    )
    assert later.settlement.finished_now
    assert later.settlement.report is not None
    assert later.settlement.report.status == "completed"


def test_a_redelivered_chunk_whose_part_exists_touches_nothing_and_reports_the_same() -> None:
    store, table = store_expecting(2), members()
    claims = Claims(table)
    first = process_chunk(message([(2, A), (3, D)]), claims, table, store, now=Clock())
    calls, reads, writes = claims.calls, table.reads, table.writes
    again = process_chunk(message([(2, A), (3, D)]), claims, table, store, now=Clock())
    assert again.replayed
    assert again.part == first.part
    assert (claims.calls, table.reads, table.writes) == (calls, reads, writes)


class FailingPartStore(MemoryStore):
    def write_part(self, import_id: str, part: Part) -> None:
        raise ConnectionError("S3 went away after the rows were muted")


ROWS = [(2, A), (3, B), (4, D), (5, A), (6, C)]


def crash_before_the_part(claims: Claims, table: Members) -> None:
    """A first delivery that decides every row, then dies before its part is written."""
    crashing = FailingPartStore()
    crashing.reports = store_expecting(2).reports
    with pytest.raises(ConnectionError):
        process_chunk(message(ROWS), claims, table, crashing, now=Clock())


def test_a_chunk_redelivered_after_crashing_before_its_part_decides_the_same_outcomes() -> None:
    clean = process_chunk(message(ROWS), Claims(members()), members(), store_expecting(2), now=Clock())
    table = members()
    claims = Claims(table)
    crash_before_the_part(claims, table)
    assert table.writes == 3  # two mutes and a re-stamp
    retried = process_chunk(message(ROWS), claims, table, store_expecting(2), now=Clock())
    assert not retried.replayed
    assert retried.part.counts == clean.part.counts
    assert retried.part.rejected_csv == clean.part.rejected_csv
    assert table.writes == 3


def test_a_redelivered_chunk_does_not_mute_again_a_member_who_resubscribed_since() -> None:
    table = members()
    claims = Claims(table)
    crash_before_the_part(claims, table)
    assert table.items[A]["promotions_muted_at"] == MUTE_AT
    table.resubscribe(A)

    retried = process_chunk(message(ROWS), claims, table, store_expecting(2), now=Clock())
    assert table.items[A]["promotions_muted_at"] is None
    assert table.writes == 3
    # The report still says what the import did: it muted the member (who has since resubscribed).
    assert dict(retried.part.counts) == counts(muted=2, already=1, missing=1, dup=1)


class LostResponseClaims(Claims):
    """The mute's transaction commits, then the function dies before it learns so (a timeout, a crash)."""

    def __init__(self, table: Members, lose: str) -> None:
        super().__init__(table)
        self.lose = lose

    def mute(self, import_id: str, member_id: str, row: int, mute_at: str) -> Claim:
        claim = super().mute(import_id, member_id, row, mute_at)
        if member_id == self.lose:
            self.lose = ""
            raise TimeoutError("the function died right after the mute committed")
        return claim


def test_a_crash_right_after_a_mute_commits_is_replayed_not_repeated() -> None:
    table = members()
    claims = LostResponseClaims(table, lose=A)
    with pytest.raises(TimeoutError):
        process_chunk(message([(2, A)]), claims, table, store_expecting(1), now=Clock())
    assert (table.items[A]["promotions_muted_at"], claims.outcomes[IMPORT_ID, A]) == (MUTE_AT, "muted")
    table.resubscribe(A)

    retried = process_chunk(message([(2, A)]), claims, table, store_expecting(1), now=Clock())
    assert table.items[A]["promotions_muted_at"] is None
    assert table.writes == 1
    assert dict(retried.part.counts) == counts(muted=1)


def test_outcomes_that_write_no_member_are_recorded_and_replayed() -> None:
    table = members()
    claims = Claims(table)
    crash_before_the_part(claims, table)
    assert claims.outcomes[IMPORT_ID, B] == "already_muted"
    assert claims.outcomes[IMPORT_ID, D] == "not_found"
    # Since then, B resubscribed and D signed up: the import decided before, and says what it decided.
    table.resubscribe(B)
    table.items[D] = {"id": D}
    retried = process_chunk(message(ROWS), claims, table, store_expecting(2), now=Clock())
    assert dict(retried.part.counts) == counts(muted=2, already=1, missing=1, dup=1)
    assert table.items[B]["promotions_muted_at"] is None
    assert table.items[D].get("promotions_muted_at") is None


def test_a_claim_left_undecided_by_the_previous_version_recognises_its_own_mute() -> None:
    table = Members({A: {"id": A, "promotions_muted_at": MUTE_AT}, B: {"id": B}})
    claims = Claims(table)
    claims.claim_undecided(IMPORT_ID, A, 2)
    claims.claim_undecided(IMPORT_ID, B, 3)
    result = process_chunk(message([(2, A), (3, B)]), claims, table, store_expecting(1), now=Clock())
    assert dict(result.part.counts) == counts(muted=2)
    assert claims.outcomes == {(IMPORT_ID, A): "muted", (IMPORT_ID, B): "muted"}
    assert table.writes == 1


class ResubscribingMembers(Members):
    """The member resubscribes between the mute's failed condition and the read that explains it."""

    def __init__(self, items: dict[str, dict[str, str]], times: int) -> None:
        super().__init__(items)
        self.times = times

    def get(self, member_id: str, consistent: bool = True) -> dict[str, object] | None:
        if self.times:
            self.times -= 1
            self.resubscribe(member_id)
        item = super().get(member_id, consistent)
        return None if item is None else dict(item)


def test_a_member_unmuted_between_the_condition_and_the_read_is_tried_again() -> None:
    table = ResubscribingMembers({B: {"id": B, "promotions_muted_at": EARLIER}}, times=1)
    claims = Claims(table)
    result = process_chunk(message([(3, B)]), claims, table, store_expecting(1), now=Clock())
    assert dict(result.part.counts) == counts(muted=1)
    assert table.items[B]["promotions_muted_at"] == MUTE_AT


class FlappingMembers(ResubscribingMembers):
    def get(self, member_id: str, consistent: bool = True) -> dict[str, object] | None:
        item = super().get(member_id, consistent)
        self.items[member_id]["promotions_muted_at"] = EARLIER  # muted again before the next attempt
        return item


def test_a_member_that_keeps_changing_fails_the_chunk_without_a_part() -> None:
    table = FlappingMembers({B: {"id": B, "promotions_muted_at": EARLIER}}, times=MUTE_ATTEMPTS)
    store = store_expecting(1)
    with pytest.raises(MemberKeptChanging):
        process_chunk(message([(3, B)]), Claims(table), table, store, now=Clock())
    assert store.parts == {}
    assert table.writes == 0


def test_a_dry_run_reads_members_writes_none_and_still_decides_duplicates() -> None:
    store, table = store_expecting(2), members()
    claims = Claims(table)
    rows = [(2, A), (3, B), (4, D), (5, A)]
    result = process_chunk(message(rows, dry_run=True), claims, table, store, now=Clock())
    assert dict(result.part.counts) == counts(muted=1, already=1, missing=1, dup=1)
    assert table.writes == 0
    assert table.items == members().items
    assert claims.holders[IMPORT_ID, A] == 2
    assert claims.outcomes[IMPORT_ID, A] == "muted"


class BrokenClaims(Claims):
    def mute(self, import_id: str, member_id: str, row: int, mute_at: str) -> Claim:
        if member_id == C:
            raise TimeoutError("DynamoDB timed out")
        return super().mute(import_id, member_id, row, mute_at)


def test_a_failing_row_fails_the_chunk_and_writes_no_part() -> None:
    store = store_expecting(1)
    table = Members({A: {}, C: {}})
    with pytest.raises(TimeoutError):
        process_chunk(message([(2, A), (3, C)]), BrokenClaims(table), table, store, now=Clock())
    assert store.parts == {}


def test_many_rows_on_many_workers_come_back_in_row_order() -> None:
    ids = [f"{number:024x}" for number in range(500)]
    table = Members({member_id: {"id": member_id} for member_id in ids[::2]})
    rows = [(number + 2, member_id) for number, member_id in enumerate(ids)]
    result = process_chunk(message(rows), Claims(table), table, store_expecting(1), now=Clock(), workers=10)
    assert dict(result.part.counts)["muted"] == 250
    listed = [int(line.split(",")[0]) for line in result.part.rejected_csv.splitlines()]
    assert listed == sorted(listed)
    assert len(listed) == 250


def test_chunk_messages_round_trip() -> None:
    original = message([(2, A), (7, B)], chunk=12, dry_run=True)
    assert parse_chunk_message(original.to_json()) == original


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"rows": [[1]]}, "'rows'"),
        ({"rows": [["1", A]]}, "'rows'"),
        ({"rows": [[True, A]]}, "'rows'"),
        ({"rows": "x"}, "'rows'"),
        ({"rows": [[2, "not-a-member-id"]]}, "not a member id"),
        ({"rows": [[2, A.upper()]]}, "not a member id"),
        ({"import_id": ""}, "'import_id'"),
        ({"mute_at": 5}, "'mute_at'"),
        ({"dry_run": "no"}, "'dry_run'"),
        ({"chunk": -1}, "'chunk'"),
        ({"partition": 1.5}, "'partition'"),
    ],
)
def test_malformed_chunk_messages_are_refused(change: dict[str, object], problem: str) -> None:
    body = json.loads(message([(2, A)]).to_json()) | change
    with pytest.raises(MalformedChunk, match=problem):
        parse_chunk_message(json.dumps(body))


@pytest.mark.parametrize(("body", "problem"), [("{", "not JSON"), ("[]", "not a JSON object")])
def test_a_chunk_message_that_is_not_a_json_object_is_refused(body: str, problem: str) -> None:
    with pytest.raises(MalformedChunk, match=problem):
        parse_chunk_message(body)


def test_a_member_muted_already_is_restamped_only_while_its_mute_time_stands() -> None:
    class MovingMute(Members):
        """Another writer re-mutes the member between the chunk's read and its re-stamp, once."""

        moved = False

        def restamp(self, member_id: str, now: str, seen_muted_at: str) -> bool:
            if not self.moved:
                self.moved = True
                self.items[member_id]["promotions_muted_at"] = "2026-01-02T00:00:00.000000Z"
            return super().restamp(member_id, now, seen_muted_at)

    table = MovingMute({B: {"id": B, "promotions_muted_at": EARLIER}})
    result = process_chunk(message([(3, B)]), Claims(table), table, store_expecting(1), now=Clock())
    assert dict(result.part.counts) == counts(already=1)
    assert table.items[B]["promotions_muted_at"] == MUTE_AT  # decided again on the new time, then stamped
