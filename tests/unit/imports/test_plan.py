from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pytest

from cio_sync.imports.chunk import ChunkMessage, process_chunk
from cio_sync.imports.keys import import_id_for
from cio_sync.imports.plan import (
    ImportCannotResume,
    PlanLimits,
    partition_of,
    plan_import,
    sources_from_notification,
    survey,
)
from cio_sync.imports.report import ImportReport, ImportSource
from cio_sync.imports.text_lines import FileRejected
from tests.unit.imports.fakes import Clock, FifoQueue, Harness, MemoryStore, counts, in_pieces, source_for

IDS = [f"{number:024x}" for number in range(1, 41)]


def content_of(ids: Sequence[str], header: str = "northstar_id") -> bytes:
    return ("\n".join([header, *ids]) + "\n").encode()


def test_import_ids_depend_on_bucket_key_and_etag_only() -> None:
    base = import_id_for("b", "mute-promotions/a.csv", '"abc"')
    assert base == import_id_for("b", "mute-promotions/a.csv", "abc")
    assert len(base) == 16
    assert int(base, 16) >= 0
    assert base != import_id_for("b", "mute-promotions/other.csv", "abc")
    assert base != import_id_for("b", "mute-promotions/a.csv", "abd")
    assert base != import_id_for("c", "mute-promotions/a.csv", "abc")


def test_partitions_are_stable_and_spread() -> None:
    assert partition_of("000000000000000000000001", 16) == partition_of("000000000000000000000001", 16)
    spread = {partition_of(f"{number:024x}", 16) for number in range(200)}
    assert spread == set(range(16))


def test_survey_counts_rows_chunks_and_planner_parts() -> None:
    limits = PlanLimits(max_bytes=100_000, partitions=4, chunk_rows=3, part_rows=2)
    content = content_of([*IDS[:10], "bad", "12345", "worse"])
    found = survey(in_pieces(content, 5), limits)
    per_partition = [sum(1 for member_id in IDS[:10] if partition_of(member_id, 4) == p) for p in range(4)]
    assert found.rows == 13
    assert found.invalid == 3
    assert found.chunks_total == sum(-(-count // 3) for count in per_partition)
    assert found.planner_parts == 2


class RecordingQueue(FifoQueue):
    """Checks, at every send, that the processing report with its totals is already visible."""

    def __init__(self, store: MemoryStore, import_id: str) -> None:
        super().__init__()
        self.store = store
        self.import_id = import_id
        self.batches: list[list[ChunkMessage]] = []

    def send(self, messages: Sequence[ChunkMessage]) -> None:
        report = self.store.read_report(self.import_id)
        assert report is not None
        assert report.status == "processing"
        assert report.chunks_total > 0
        self.batches.append(list(messages))
        super().send(messages)


def test_chunks_keep_every_id_in_one_partition_in_file_order_after_the_report_exists() -> None:
    ids = [*IDS, IDS[3], IDS[0].upper(), IDS[3]]
    content = content_of(ids)
    source = source_for(content=content)
    store = MemoryStore()
    queue = RecordingQueue(store, source.import_id)
    limits = PlanLimits(max_bytes=100_000, partitions=3, chunk_rows=4)
    result = plan_import(source, lambda: in_pieces(content, 9), store, queue, limits=limits, now=Clock())
    messages = queue.messages
    assert result.report.status == "processing"
    assert result.report.rows == len(ids)
    assert [message.chunk for message in messages] == list(range(result.report.chunks_total))
    assert all(1 <= len(batch) <= 10 for batch in queue.batches)
    assert all(1 <= len(message.rows) <= 4 for message in messages)
    assert sum(len(message.rows) for message in messages) == len(ids)
    for message in messages:
        assert message.mute_at == result.report.started_at
        assert message.dry_run is False
        assert message.deduplication_id == f"{source.import_id}-{message.chunk}"
        assert message.group_id == f"{source.import_id}-{message.partition}"
        assert all(partition_of(member_id, 3) == message.partition for _, member_id in message.rows)
    for partition in range(3):
        rows = [row for message in messages if message.partition == partition for row, _ in message.rows]
        assert rows == sorted(rows)
    lines_of_id3 = [row for message in messages for row, member_id in message.rows if member_id == IDS[3]]
    assert lines_of_id3 == [5, 42, 44]


def test_the_chunk_message_is_compact_json_with_the_agreed_fields() -> None:
    message = ChunkMessage("imp", 3, 1, ((2, IDS[0]), (5, IDS[1])), "2026-11-26T16:00:00.000000Z", True)
    assert json.loads(message.to_json()) == {
        "import_id": "imp",
        "chunk": 3,
        "partition": 1,
        "rows": [[2, IDS[0]], [5, IDS[1]]],
        "mute_at": "2026-11-26T16:00:00.000000Z",
        "dry_run": True,
    }
    big = ChunkMessage(
        "0123456789abcdef", 999, 15, tuple((900_000 + n, IDS[0]) for n in range(1000)), "t", False
    )
    assert len(big.to_json().encode()) < 64 * 1024


def test_a_redelivered_upload_event_leaves_a_finished_import_alone() -> None:
    harness = Harness()
    content = content_of(IDS[:5])
    first = harness.run(content)
    writes = len(harness.store.report_writes)
    again = harness.plan(source_for(content=content), content)
    assert again.already_done
    assert again.report == first
    assert harness.queue.messages == []
    assert len(harness.store.report_writes) == writes


def test_an_interrupted_plan_resumes_with_the_same_mute_time_and_skips_finished_chunks() -> None:
    harness = Harness(limits=PlanLimits(max_bytes=100_000, partitions=2, chunk_rows=3), piece_size=50)
    harness.members.items.update({member_id: {"id": member_id} for member_id in IDS[:12]})
    content = content_of(IDS[:12])
    source = source_for(content=content)

    class Crash(Exception):
        pass

    original_send = harness.queue.send

    def send_one_then_crash(messages: Sequence[ChunkMessage]) -> None:
        assert len(messages) > 1
        original_send(messages[:1])
        raise Crash

    harness.queue.send = send_one_then_crash  # type: ignore[method-assign]
    with pytest.raises(Crash):
        plan_import(
            source,
            lambda: in_pieces(content, 50),
            harness.store,
            harness.queue,
            limits=harness.limits,
            now=harness.clock,
        )
    first_report = harness.store.read_report(source.import_id)
    assert first_report is not None
    harness.run_chunks()
    assert harness.store.part_names(source.import_id) == {"chunk-000000"}

    harness.queue.send = original_send  # type: ignore[method-assign]
    result = harness.plan(source, content)
    resent = [message.chunk for message in harness.queue.messages]
    assert 0 not in resent
    assert all(message.mute_at == first_report.started_at for message in harness.queue.messages)
    harness.run_chunks()
    report = harness.store.read_report(source.import_id)
    assert report is not None
    assert result.report.started_at == first_report.started_at
    assert report.status == "completed"
    assert dict(report.counts)["muted"] == 12


def test_two_planners_of_one_object_follow_whoever_created_the_report() -> None:
    content = content_of(IDS[:3])
    source = source_for(content=content)
    winner = ImportReport(
        import_id=source.import_id,
        status="processing",
        source=source,
        started_at="2020-02-02T02:02:02.000000Z",
        rows=3,
        chunks_total=2,
    )

    class RacingStore(MemoryStore):
        def create_report(self, report: ImportReport) -> bool:
            self.put_report(winner)
            return False

    store, queue = RacingStore(), FifoQueue()
    limits = PlanLimits(max_bytes=10_000, partitions=2, chunk_rows=2)
    plan_import(source, lambda: [content], store, queue, limits=limits, now=Clock())
    assert {message.mute_at for message in queue.messages} == {winner.started_at}


def vanished() -> list[bytes]:
    raise FileRejected("the uploaded file no longer exists")


def started_import(ids: Sequence[str]) -> tuple[Harness, ImportSource, bytes]:
    """An import planned with several chunks, of which one has muted its members; the rest are queued."""
    harness = Harness(limits=PlanLimits(max_bytes=100_000, partitions=2, chunk_rows=2), piece_size=50)
    harness.members.items.update({member_id: {"id": member_id} for member_id in ids})
    content = content_of([*ids, "bad"])
    source = source_for(content=content)
    harness.plan(source, content)
    first = harness.queue.messages.pop(0)
    process_chunk(first, harness.claims, harness.members, harness.store, now=harness.clock)
    report = harness.store.read_report(source.import_id)
    assert report is not None
    assert (report.status, report.chunks_done) == ("processing", 1)
    assert harness.members.writes > 0
    return harness, source, content


def test_a_late_rejection_never_overwrites_a_started_import_which_still_completes() -> None:
    ids = IDS[:6]
    harness, source, _ = started_import(ids)
    before = harness.store.read_report(source.import_id)
    writes = len(harness.store.report_writes)

    # The upload notification comes again (or the planner is retried) after the object was deleted.
    with pytest.raises(ImportCannotResume, match="no longer exists"):
        plan_import(source, vanished, harness.store, harness.queue, limits=harness.limits, now=harness.clock)
    assert harness.store.read_report(source.import_id) == before
    assert len(harness.store.report_writes) == writes
    assert [report.status for report in harness.store.refused_writes] == ["rejected"]

    harness.run_chunks()
    report = harness.store.read_report(source.import_id)
    assert report is not None
    assert report.status == "completed"
    assert dict(report.counts) == counts(muted=6, invalid=1)


def test_a_lowered_size_limit_does_not_reject_an_import_that_started_under_the_old_one() -> None:
    harness, source, content = started_import(IDS[:4])
    small = PlanLimits(max_bytes=10, partitions=2, chunk_rows=2)
    sized = ImportSource(source.bucket, source.key, source.etag, size=len(content))
    with pytest.raises(ImportCannotResume, match="byte limit"):
        plan_import(sized, lambda: [content], harness.store, harness.queue, limits=small, now=harness.clock)
    report = harness.store.read_report(source.import_id)
    assert report is not None
    assert report.status == "processing"


def test_a_planner_that_fails_to_read_while_another_finished_the_import_leaves_it_completed() -> None:
    """Two notifications of one object: the second planner reads no report, then, while it reads the file,
    the first plans and completes the import and the object is deleted. Its rejection comes too late."""
    harness = Harness()
    harness.members.items.update({member_id: {"id": member_id} for member_id in IDS[:3]})
    content = content_of(IDS[:3])
    source = source_for(content=content)

    def first_planner_finishes_then_the_object_goes() -> list[bytes]:
        harness.run(content)
        raise FileRejected("the uploaded file no longer exists")

    late = plan_import(
        source,
        first_planner_finishes_then_the_object_goes,
        harness.store,
        harness.queue,
        limits=harness.limits,
        now=harness.clock,
    )
    assert late.already_done
    assert not late.newly_rejected
    report = harness.store.read_report(source.import_id)
    assert report is not None
    assert report == late.report
    assert report.status == "completed"
    assert dict(report.counts) == counts(muted=3)


def test_a_planner_that_fails_to_read_while_another_is_still_dispatching_leaves_the_report_alone() -> None:
    harness = Harness()
    content = content_of(IDS[:3])
    source = source_for(content=content)
    processing = ImportReport(source.import_id, "processing", source, "2020-01-01T00:00:00.000000Z", rows=3)

    def first_planner_starts_then_the_object_goes() -> list[bytes]:
        assert harness.store.create_report(processing)
        raise FileRejected("the file was replaced by a newer upload before it could be read")

    with pytest.raises(ImportCannotResume):
        plan_import(
            source,
            first_planner_starts_then_the_object_goes,
            harness.store,
            harness.queue,
            limits=harness.limits,
            now=harness.clock,
        )
    assert harness.store.report_writes == [processing]
    assert [report.status for report in harness.store.refused_writes] == ["rejected"]


def test_an_import_that_never_started_is_rejected() -> None:
    harness = Harness()
    source = source_for(content=b"northstar_id\n")
    result = plan_import(
        source, vanished, harness.store, harness.queue, limits=harness.limits, now=harness.clock
    )
    assert result.newly_rejected
    assert (result.report.status, result.report.reason) == ("rejected", "the uploaded file no longer exists")
    assert harness.store.report_writes == [result.report]


def test_a_file_of_invalid_rows_only_completes_in_the_planner() -> None:
    harness = Harness(limits=PlanLimits(max_bytes=10_000, part_rows=2))
    content = content_of(["x", "y", "z"])
    result = harness.plan(source_for(content=content), content)
    assert harness.queue.messages == []
    assert result.settlement is not None
    assert result.settlement.finished_now
    assert result.report.status == "completed"
    assert dict(result.report.counts)["invalid"] == 3
    assert result.report.planner_parts == 2


def test_an_unclosed_quote_rejects_the_import_and_mutes_no_one() -> None:
    harness = Harness()
    content = f'northstar_id,note\n"{IDS[0]},x\n'.encode() + content_of(IDS[1:6], header="")[1:]
    report = harness.run(content)
    assert (report.status, report.reason) == (
        "rejected",
        "a quote opened in the row starting on line 2 is never closed",
    )
    assert harness.queue.messages == []


def s3_event(key: str, event: str = "ObjectCreated:Put", **extra: Any) -> str:
    obj = {"key": key, "size": 120, "eTag": "0123abcd", **extra}
    record = {"eventName": event, "s3": {"bucket": {"name": "imports"}, "object": obj}}
    return json.dumps({"Records": [record]})


def test_an_s3_notification_names_its_upload() -> None:
    [source] = sources_from_notification(
        s3_event("mute-promotions/dry-run/My+List%282%29.csv", versionId="v1")
    )
    assert source == ImportSource("imports", "mute-promotions/dry-run/My List(2).csv", "0123abcd", "v1", 120)
    assert source.dry_run


@pytest.mark.parametrize(
    "body",
    [
        json.dumps({"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "imports"}),
        s3_event("mute-promotions/dry-run/"),
        s3_event("reports/mute-promotions/x.json"),
        s3_event("mute-promotions/a.csv", event="ObjectRemoved:Delete"),
    ],
)
def test_notifications_that_are_not_uploads_are_skipped(body: str) -> None:
    assert sources_from_notification(body) == []


@pytest.mark.parametrize(
    "body",
    ["not json", json.dumps({"Records": "x"}), json.dumps({"Records": [{"eventName": "ObjectCreated:Put"}]})],
)
def test_malformed_notifications_are_errors(body: str) -> None:
    with pytest.raises(ValueError, match="S3 event"):
        sources_from_notification(body)
