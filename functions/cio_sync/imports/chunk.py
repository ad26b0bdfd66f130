"""One chunk of an import: up to ~1000 valid rows of one partition, muted and recorded as a report part.

Every occurrence of a member id lands in the same partition, and a partition's chunks run one after another
in file order (a FIFO message group), so the first row that claims an id is the earliest one in the file;
later rows with that id are duplicates. Claims live in the idempotency table, keyed by (import, member), and
each records the outcome its row was given, written in the same transaction as the mute itself. A redelivered
chunk therefore replays recorded outcomes and writes no member again: a member who resubscribed after the
import muted them stays resubscribed.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from cio_sync.imports.keys import chunk_part_name
from cio_sync.imports.outcomes import Outcome, RowOutcome
from cio_sync.imports.report import Part
from cio_sync.imports.settle import ReportStore, Settlement, settle
from cio_sync.members.contract import is_member_id

# Each worker waits on DynamoDB round trips, not the CPU; boto3's default pool holds 10 connections.
DEFAULT_WORKERS = 10


class MalformedChunk(ValueError):
    """A chunk message does not have the expected shape (names the field, holds no row content)."""


@dataclass(frozen=True)
class ChunkMessage:
    """What the planner sends to the chunk queue; rows are (file line number, member id) in file order."""

    import_id: str
    chunk: int
    partition: int
    rows: tuple[tuple[int, str], ...]
    mute_at: str
    dry_run: bool

    def to_json(self) -> str:
        return json.dumps(
            {
                "import_id": self.import_id,
                "chunk": self.chunk,
                "partition": self.partition,
                "rows": [list(row) for row in self.rows],
                "mute_at": self.mute_at,
                "dry_run": self.dry_run,
            },
            separators=(",", ":"),
        )

    @property
    def deduplication_id(self) -> str:
        return f"{self.import_id}-{self.chunk}"

    @property
    def group_id(self) -> str:
        """One FIFO group per (import, partition): order within a partition; imports never wait on others."""
        return f"{self.import_id}-{self.partition}"


def parse_chunk_message(body: str) -> ChunkMessage:
    try:
        data = json.loads(body)
    except ValueError:
        raise MalformedChunk("chunk message is not JSON") from None
    if not isinstance(data, dict):
        raise MalformedChunk("chunk message is not a JSON object")
    rows = data.get("rows")
    if not isinstance(rows, list) or not all(_is_row(row) for row in rows):
        raise MalformedChunk("field 'rows' is not a list of [line number, member id]")
    if not all(is_member_id(row[1]) for row in rows):
        # The planner sends valid ids only: anything else was not sent by it.
        raise MalformedChunk("field 'rows' holds a value that is not a member id")
    import_id, mute_at, dry_run = data.get("import_id"), data.get("mute_at"), data.get("dry_run")
    if not isinstance(import_id, str) or not import_id:
        raise MalformedChunk("field 'import_id' is not a non-empty string")
    if not isinstance(mute_at, str) or not mute_at:
        raise MalformedChunk("field 'mute_at' is not a non-empty string")
    if not isinstance(dry_run, bool):
        raise MalformedChunk("field 'dry_run' is not a boolean")
    return ChunkMessage(
        import_id=import_id,
        chunk=_index(data, "chunk"),
        partition=_index(data, "partition"),
        rows=tuple((row[0], row[1]) for row in rows),
        mute_at=mute_at,
        dry_run=dry_run,
    )


def _is_row(row: object) -> bool:
    return (
        isinstance(row, list)
        and len(row) == 2
        and isinstance(row[0], int)
        and not isinstance(row[0], bool)
        and isinstance(row[1], str)
    )


def _index(data: Mapping[str, Any], name: str) -> int:
    value = data.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise MalformedChunk(f"field {name!r} is not a non-negative integer")
    return value


MuteResult = Literal["muted", "already_muted", "not_found"]
# A member that changes between the mute's condition and the read that explains it is tried again this often.
MUTE_ATTEMPTS = 5


@dataclass(frozen=True)
class Claim:
    """Who holds an id in an import, and the outcome recorded for that row (None: nothing decided yet)."""

    holder: int
    outcome: Outcome | None = None


class RowClaims(Protocol):
    """The idempotency table: who in this import saw a member id first, and what was decided for that row.

    Both calls claim the id for `row` if no row holds it yet, and record an outcome only on a claim that has
    none; whatever they return is what is now stored (another holder, or an outcome recorded before).
    """

    def mute(self, import_id: str, member_id: str, row: int, mute_at: str) -> Claim:
        """Atomically: claim for `row`, mute the member (only if it exists and is not muted) and record
        "muted". When the member is missing or muted, nothing is written: `Claim(row, None)`."""
        ...

    def restamp(self, import_id: str, member_id: str, row: int, mute_at: str, seen_muted_at: str) -> Claim:
        """Atomically: claim for `row`, give a member found muted at `seen_muted_at` the import's mute time
        (only while that time stands) and record "already_muted". Nothing written: `Claim(row, None)`."""
        ...

    def record(self, import_id: str, member_id: str, row: int, outcome: Outcome) -> Claim:
        """Claim for `row` and record an outcome that wrote no member (not found, dry run)."""
        ...


class Members(Protocol):
    """The slice of the member table (MemberRepository) the import reads; it writes via `RowClaims`."""

    def get(self, member_id: str, consistent: bool = True) -> Mapping[str, Any] | None: ...


class MemberKeptChanging(RuntimeError):
    """The member was muted and unmuted again on every attempt (the chunk is retried later)."""


REASONS: dict[Outcome, str] = {
    "already_muted": "member was already muted",
    "not_found": "no member has this northstar_id",
}


@dataclass(frozen=True)
class ChunkResult:
    """`replayed` is true when the chunk's part already existed (a redelivery): no row was touched again."""

    part: Part
    replayed: bool
    settlement: Settlement


def process_chunk(
    message: ChunkMessage,
    claims: RowClaims,
    members: Members,
    store: ReportStore,
    *,
    now: Callable[[], str],
    workers: int = DEFAULT_WORKERS,
) -> ChunkResult:
    """Decide every row, write the chunk's part once, then let the import settle (progress or finish)."""
    name = chunk_part_name(message.chunk)
    part = store.read_part(message.import_id, name)
    replayed = part is not None
    if part is None:
        outcomes = decide_rows(message, claims, members, workers)
        part = Part.from_outcomes(name, outcomes, processed_at=now())
        store.write_part(message.import_id, part)
    return ChunkResult(part, replayed, settle(store, message.import_id))


def decide_rows(message: ChunkMessage, claims: RowClaims, members: Members, workers: int) -> list[RowOutcome]:
    """Outcomes in row order. Repeats inside the chunk are settled here, so the pool never races on an id."""
    firsts: dict[str, int] = {}
    repeats: list[tuple[int, str]] = []
    for row, member_id in message.rows:
        if member_id in firsts:
            repeats.append((row, member_id))
        else:
            firsts[member_id] = row

    def decide(member_id: str) -> tuple[RowOutcome, int]:
        row = firsts[member_id]
        claim = _decided_claim(message, claims, members, member_id, row)
        if claim.holder != row:
            return RowOutcome(row, member_id, "duplicate", f"duplicate of row {claim.holder}"), claim.holder
        if claim.outcome is None:
            raise RuntimeError(f"import {message.import_id}: row {row} has no outcome after deciding")
        return RowOutcome(row, member_id, claim.outcome, REASONS.get(claim.outcome)), row

    ids = list(firsts)
    # The first row runs alone, so clients that adapters create lazily are created once, not raced.
    decided = [decide(member_id) for member_id in ids[:1]]
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(ids)))) as pool:
        decided.extend(pool.map(decide, ids[1:]))
    holders = {outcome.shown_id: holder for outcome, holder in decided}
    outcomes = [outcome for outcome, _ in decided]
    outcomes.extend(
        RowOutcome(row, member_id, "duplicate", f"duplicate of row {holders[member_id]}")
        for row, member_id in repeats
    )
    return sorted(outcomes, key=lambda outcome: outcome.row)


def _decided_claim(
    message: ChunkMessage, claims: RowClaims, members: Members, member_id: str, row: int
) -> Claim:
    """The row's claim once it holds an outcome (or another row holds the id).

    A mute and its recorded outcome are one transaction, so no crash can leave a member muted by this row
    without the outcome that makes a redelivery replay it instead of muting again. Outcomes that write no
    member are recorded after the read that found them; a crash in between leaves nothing to undo, and the
    redelivery decides afresh.
    """
    if message.dry_run:
        return claims.record(message.import_id, member_id, row, _would_be(members, member_id))
    for _ in range(MUTE_ATTEMPTS):
        claim = claims.mute(message.import_id, member_id, row, message.mute_at)
        if claim.holder != row or claim.outcome is not None:
            return claim
        # Missing, or muted already: nothing was written. Say which, as of a read after the condition failed.
        item = members.get(member_id, consistent=True)
        if item is None:
            return claims.record(message.import_id, member_id, row, "not_found")
        muted_at = item.get("promotions_muted_at")
        if muted_at == message.mute_at:
            # Exactly this import's time: muted by this row before outcomes were recorded (a chunk that was in
            # flight when this version was deployed), so it is this row's own mute.
            return claims.record(message.import_id, member_id, row, "muted")
        if muted_at:
            # Muted already: re-stamped with the import's time, so the mute is a write the stream sees and a
            # resubscribe still pending for an earlier raw write cannot undo it (docs/imports.md).
            claim = claims.restamp(message.import_id, member_id, row, message.mute_at, muted_at)
            if claim.holder != row or claim.outcome is not None:
                return claim
            continue  # its mute time moved meanwhile: decide again
        # Unmuted again (or created) since the condition was evaluated: try the mute again.
    raise MemberKeptChanging(
        f"import {message.import_id}: member {member_id} changed under each of {MUTE_ATTEMPTS} attempts"
    )


def _would_be(members: Members, member_id: str) -> MuteResult:
    """A dry run reads the member and says what a real run would do; it writes nothing."""
    item = members.get(member_id, consistent=True)
    if item is None:
        return "not_found"
    return "already_muted" if item.get("promotions_muted_at") else "muted"
