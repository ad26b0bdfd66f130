"""One chunk of an import: up to ~1000 valid rows of one partition, muted and recorded as a report part.

Every occurrence of a member id lands in the same partition, and a partition's chunks run one after another
in file order (a FIFO message group), so the first row that claims an id is the earliest one in the file;
later rows with that id are duplicates. Claims live in the idempotency table, keyed by (import, member), and
a row may re-claim its own claim, so a redelivered chunk decides exactly what it decided the first time.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from cio_sync.imports.report import (
    Outcome,
    Part,
    ReportStore,
    RowOutcome,
    Settlement,
    chunk_part_name,
    settle,
)

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


@dataclass(frozen=True)
class Claim:
    """Who holds an id in an import; `renewed` means this very row had claimed it before (a redelivery)."""

    holder: int
    renewed: bool = False


class RowClaims(Protocol):
    """The idempotency table: who in this import saw a member id first."""

    def claim(self, import_id: str, member_id: str, row: int) -> Claim:
        """Claim the id for `row`, or learn which row holds it."""
        ...


class Members(Protocol):
    """The slice of `cio_sync.members.model.MemberRepository` the import uses."""

    def get(self, member_id: str, consistent: bool = True) -> Mapping[str, Any] | None: ...

    def mute_if_not_muted(self, member_id: str, now: str) -> MuteResult: ...


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
        claim = claims.claim(message.import_id, member_id, row)
        if claim.holder != row:
            return RowOutcome(row, member_id, "duplicate", f"duplicate of row {claim.holder}"), claim.holder
        if message.dry_run:
            outcome = _would_be(members, member_id)
        else:
            outcome = members.mute_if_not_muted(member_id, message.mute_at)
            # On a redelivery, a mute at exactly this import's time is this row's own, from the first try.
            if (
                outcome == "already_muted"
                and claim.renewed
                and _muted_at(members, member_id) == message.mute_at
            ):
                outcome = "muted"
        return RowOutcome(row, member_id, outcome, REASONS.get(outcome)), row

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


def _muted_at(members: Members, member_id: str) -> object:
    item = members.get(member_id, consistent=True)
    return None if item is None else item.get("promotions_muted_at")


def _would_be(members: Members, member_id: str) -> MuteResult:
    """A dry run reads the member and says what a real run would do; it writes nothing."""
    item = members.get(member_id, consistent=True)
    if item is None:
        return "not_found"
    return "already_muted" if item.get("promotions_muted_at") else "muted"
