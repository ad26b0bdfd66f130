"""In-memory ports for the in-process throughput measure: each does what its AWS adapter promises and no more,
so the CPU measured is the function's own (parsing, rules, payloads, packing), not a store's."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from cio_sync.imports.chunk import ChunkMessage, Claim
from cio_sync.imports.report import ImportReport, Outcome, Part, StoredReport
from cio_sync.members.contract import MemberItem
from cio_sync.pipeline.member_stream import PendingDecision
from cio_sync.pipeline.messages import TrackMessage
from cio_sync.sync.intents import SendEmail


class AcceptingWriter:
    """The member table accepting every rule decision (the common case: no write raced the record)."""

    def write_rule_decisions(
        self, member_id: str, expected: Mapping[str, Any], decided: Mapping[str, Any]
    ) -> bool:
        return True


class NoPending:
    def find(self, wanted: Sequence[tuple[str, str]]) -> list[PendingDecision]:
        return []

    def keep(self, decisions: Sequence[PendingDecision]) -> None:
        return None


class CountingPublisher:
    """The queues: each message body is built, as the SQS adapter builds it, and counted."""

    def __init__(self) -> None:
        self.intents = 0
        self.bytes = 0

    def publish_track(self, messages: Sequence[TrackMessage]) -> list[int]:
        for message in messages:
            self.intents += len(message.intents)
            self.bytes += len(message.body())
        return []

    def publish_email(self, intents: Sequence[SendEmail]) -> list[int]:
        self.intents += len(intents)
        return []

    def record_stream_failure(self, record: Mapping[str, Any], reason: str) -> None:
        raise AssertionError(f"a bench record was parked: {reason}")


class DictReader:
    """The member table's consistent batch read, answered from memory."""

    def __init__(self, items: Mapping[str, MemberItem]) -> None:
        self.items = items

    def get_many(self, member_ids: Sequence[str]) -> Mapping[str, MemberItem]:
        return {member_id: self.items[member_id] for member_id in member_ids if member_id in self.items}


class NoDeadLetters:
    def dead_letter(self, body: str, reason: str) -> None:
        raise AssertionError(f"a bench message was dead-lettered: {reason}")


class NoVisibility:
    def postpone(self, delays: Sequence[tuple[str, int]]) -> None:
        raise AssertionError("a bench message was handed back to its queue")


class AcceptingPool:
    """Customer.io's Track API answering every batch 200 `{}` (the client's `pool`)."""

    class _Response:
        status = 200
        headers: Mapping[str, str] = {}
        data = b"{}"

    def __init__(self) -> None:
        self.requests = 0
        self.bytes = 0

    def request(self, method: str, url: str, *, body: bytes | None, **_: Any) -> Any:
        self.requests += 1
        self.bytes += len(body or b"")
        return self._Response()


class StillClock:
    """A clock that moves only when the client paces itself, so pacing costs no wall time here."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


class MemoryReports:
    """The import bucket's reports and parts, serialised as S3 holds them, with S3's conditional writes."""

    def __init__(self) -> None:
        self.reports: dict[str, tuple[str, str]] = {}  # import id -> (JSON, tag)
        self.parts: dict[tuple[str, str], str] = {}
        self._tags = itertools.count()

    def read_report(self, import_id: str) -> ImportReport | None:
        stored = self.reports.get(import_id)
        return None if stored is None else ImportReport.from_json(stored[0])

    def read_stored_report(self, import_id: str) -> StoredReport | None:
        stored = self.reports.get(import_id)
        return None if stored is None else StoredReport(ImportReport.from_json(stored[0]), stored[1])

    def create_report(self, report: ImportReport) -> bool:
        if report.import_id in self.reports:
            return False
        self.reports[report.import_id] = (report.to_json(), str(next(self._tags)))
        return True

    def replace_report(self, report: ImportReport, etag: str) -> bool:
        stored = self.reports.get(report.import_id)
        if stored is None or stored[1] != etag:
            return False
        self.reports[report.import_id] = (report.to_json(), str(next(self._tags)))
        return True

    def read_part(self, import_id: str, name: str) -> Part | None:
        text = self.parts.get((import_id, name))
        return None if text is None else Part.from_json(text)

    def write_part(self, import_id: str, part: Part) -> None:
        self.parts[import_id, part.name] = part.to_json()

    def part_names(self, import_id: str) -> set[str]:
        return {name for owner, name in self.parts if owner == import_id}

    def write_rejected_csv(self, import_id: str, lines: Iterable[str]) -> None:
        for _ in lines:
            pass


class ListQueue:
    """The chunk queue: messages kept as the JSON bodies SQS would deliver."""

    def __init__(self) -> None:
        self.bodies: list[str] = []

    def send(self, messages: Sequence[ChunkMessage]) -> None:
        self.bodies.extend(message.to_json() for message in messages)


class MuteClaims:
    """The idempotency table's claims and the member table's mute, as one step (a transaction on AWS)."""

    def __init__(self, items: dict[str, MemberItem]) -> None:
        self.items = items
        self.claims: dict[tuple[str, str], Claim] = {}

    def mute(self, import_id: str, member_id: str, row: int, mute_at: str) -> Claim:
        item = self.items.get(member_id)
        if item is None or item.get("promotions_muted_at"):
            return Claim(row)
        item["promotions_muted_at"] = mute_at
        return self.claims.setdefault((import_id, member_id), Claim(row, "muted"))

    def restamp(self, import_id: str, member_id: str, row: int, mute_at: str, seen_muted_at: str) -> Claim:
        return self.claims.setdefault((import_id, member_id), Claim(row, "already_muted"))

    def record(self, import_id: str, member_id: str, row: int, outcome: Outcome) -> Claim:
        return self.claims.setdefault((import_id, member_id), Claim(row, outcome))


class DictMembers:
    """The member table's single consistent read."""

    def __init__(self, items: Mapping[str, MemberItem]) -> None:
        self.items = items

    def get(self, member_id: str, consistent: bool = True) -> Mapping[str, Any] | None:
        return self.items.get(member_id)
