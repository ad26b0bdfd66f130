"""Upload -> S3 notification -> import-file function -> FIFO chunks -> import-chunk function, all in moto."""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from cio_sync.adapters.import_storage import S3ReportStore
from cio_sync.imports.chunk import ChunkMessage, parse_chunk_message
from cio_sync.imports.keys import import_id_for, rejected_csv_key
from cio_sync.imports.plan import PlanLimits
from cio_sync.imports.report import ImportReport, Part
from cio_sync_cli.errors import CommandError
from cio_sync_cli.imports_cli import add_imports_commands
from tests.integration.imports.conftest import BUCKET, ImportDeps, Stack, mute_chunk

EARLIER = "2025-06-01T00:00:00.000000Z"


def cli(*args: str) -> int:
    parser = argparse.ArgumentParser(prog="cio-sync")
    add_imports_commands(parser.add_subparsers(dest="command"))
    parsed = parser.parse_args(list(args))
    result: int = parsed.handler(parsed)
    return result


def members(stack: Stack, count: int) -> list[str]:
    return [
        str(stack.members.create_web_signup({"email": f"member{number}@example.org"})["id"])
        for number in range(count)
    ]


def test_an_upload_mutes_its_members_and_reports_every_row(
    stack: Stack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first, second, third, muted = members(stack, 4)
    stack.members.admin_mute(muted)
    muted_before = stack.members.get(muted)
    assert muted_before is not None
    unknown = "ffffffffffffffffffffffff"
    content = (
        "\ufeffEmail, NorthStar_ID ,note\r\n"
        f"a@example.org,{first},x\r\n"
        f"b@example.org,{second.upper()},\r\n"
        "\r\n"
        f"c@example.org,{muted},\r\n"
        f'd@example.org,{unknown},"quoted, note"\r\n'
        f"e@example.org,{first},again\r\n"
        "f@example.org,not-an-id,\r\n"
        f"g@example.org,  {third}  ,\r\n"
    )
    path = tmp_path / "mute.csv"
    path.write_text(content, encoding="utf-8")
    assert cli("imports", "upload", str(path), "--bucket", BUCKET, "--yes") == 0
    import_id = capsys.readouterr().out.strip()

    assert stack.plan_uploads() == 1
    planned = stack.report(import_id)
    assert planned is not None
    assert (planned.status, planned.rows, planned.chunks_done) == ("processing", 7, 0)
    assert planned.source.key == "mute-promotions/mute.csv"
    assert planned.chunks_total == stack.queued(stack.chunk_queue_url) > 1
    assert stack.members.get(first) is not None
    assert stack.members.get(first)["promotions_muted_at"] is None  # type: ignore[index]

    stack.run_chunks(limit=1)
    progress = stack.report(import_id)
    assert progress is not None
    assert (progress.status, progress.chunks_done) == ("processing", 1)

    stack.run_chunks()
    report = stack.report(import_id)
    assert report is not None
    assert report.status == "completed"
    assert dict(report.counts) == {
        "muted": 3,
        "already_muted": 1,
        "not_found": 1,
        "invalid": 1,
        "duplicate": 1,
    }
    assert sum(report.counts.values()) == report.rows == 7
    for member_id in (first, second, third):
        assert stack.members.get(member_id)["promotions_muted_at"] == report.started_at  # type: ignore[index]
    # Muted already: reported so, and re-stamped with the import's time (a write the stream can see).
    after = stack.members.get(muted)
    assert after is not None
    assert after["promotions_muted_at"] == report.started_at
    assert {k: v for k, v in after.items() if k not in ("promotions_muted_at", "updated_at")} == {
        k: v for k, v in muted_before.items() if k not in ("promotions_muted_at", "updated_at")
    }
    assert stack.members.get(unknown) is None
    assert stack.text(rejected_csv_key(import_id)) == (
        "row,northstar_id,outcome,reason\n"
        f"5,{muted},already_muted,member was already muted\n"
        f"6,{unknown},not_found,no member has this northstar_id\n"
        f"7,{first},duplicate,duplicate of row 2\n"
        "8,not-an-id,invalid,northstar_id is not 24 hexadecimal characters\n"
    )

    capsys.readouterr()  # the functions' log and metric lines
    assert cli("imports", "status", import_id, "--bucket", BUCKET) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["status"] == "completed"
    assert printed["rejected_rows"] == rejected_csv_key(import_id)


def test_a_dry_run_reports_the_would_be_outcomes_and_writes_no_member(
    stack: Stack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first, muted = members(stack, 2)
    stack.members.admin_mute(muted)
    before = {member_id: stack.members.get(member_id) for member_id in (first, muted)}
    path = tmp_path / "try.csv"
    path.write_text(f"northstar_id\n{first}\n{muted}\n{first}\nnope\n", encoding="utf-8")
    assert cli("imports", "upload", str(path), "--dry-run", "--bucket", BUCKET) == 0
    import_id = capsys.readouterr().out.strip()
    stack.plan_uploads()
    stack.run_chunks()
    report = stack.report(import_id)
    assert report is not None
    assert report.dry_run
    assert report.source.key == "mute-promotions/dry-run/try.csv"
    assert dict(report.counts) == {
        "muted": 1,
        "already_muted": 1,
        "not_found": 0,
        "invalid": 1,
        "duplicate": 1,
    }
    assert {member_id: stack.members.get(member_id) for member_id in (first, muted)} == before


def test_a_redelivered_chunk_keeps_its_outcomes_and_counts(stack: Stack) -> None:
    ids = members(stack, 4)
    stack.with_limits(PlanLimits(max_bytes=10_000, partitions=1, chunk_rows=10))
    etag = stack.upload("mute-promotions/redelivery.csv", ("northstar_id\n" + "\n".join(ids) + "\n").encode())
    import_id = import_id_for(BUCKET, "mute-promotions/redelivery.csv", etag)
    stack.plan_uploads()

    # First delivery: every row is muted, then writing the part fails, so the message comes back.
    real_store = stack.deps.store

    class PartWriteFails(S3ReportStore):
        def write_part(self, import_id: str, part: Part) -> None:
            raise ConnectionError("S3 timed out")

    stack.deps = replace(stack.deps, store=PartWriteFails(stack.s3, BUCKET))
    failed = stack.deliver(stack.chunk_queue_url, mute_chunk)
    assert failed is not None
    assert len(failed["batchItemFailures"]) == 1
    mute_times = {member_id: stack.members.get(member_id)["promotions_muted_at"] for member_id in ids}  # type: ignore[index]
    assert set(mute_times.values()) == {
        json.loads(stack.text(f"reports/mute-promotions/{import_id}.json"))["started_at"]
    }

    # Second delivery: same rows, same claims; the mutes of the first try are recognised as this import's.
    stack.deps = replace(stack.deps, store=real_store)
    stack.deliver(stack.chunk_queue_url, mute_chunk, delete=False)
    report = stack.report(import_id)
    assert report is not None
    assert report.status == "completed"
    assert dict(report.counts) == {
        "muted": 4,
        "already_muted": 0,
        "not_found": 0,
        "invalid": 0,
        "duplicate": 0,
    }

    # Third delivery (the message was not deleted): the part exists, nothing is touched, nothing changes.
    stack.deliver(stack.chunk_queue_url, mute_chunk)
    assert stack.report(import_id) == report
    assert {member_id: stack.members.get(member_id)["promotions_muted_at"] for member_id in ids} == mute_times  # type: ignore[index]
    assert stack.queued(stack.chunk_queue_url) == 0


def test_the_same_object_notified_twice_is_one_import(stack: Stack) -> None:
    ids = members(stack, 3)
    content = ("northstar_id\n" + "\n".join(ids) + "\n").encode()
    etag = stack.upload("mute-promotions/twice.csv", content)
    import_id = import_id_for(BUCKET, "mute-promotions/twice.csv", etag)
    notification = stack.receive(stack.file_queue_url)[0]["Body"]
    stack.sqs.send_message(QueueUrl=stack.file_queue_url, MessageBody=notification)
    stack.plan_uploads()
    stack.run_chunks()
    report = stack.report(import_id)
    assert report is not None
    assert report.status == "completed"
    assert dict(report.counts)["muted"] == 3
    stack.sqs.send_message(QueueUrl=stack.file_queue_url, MessageBody=notification)
    assert stack.plan_uploads() == 1
    assert stack.queued(stack.chunk_queue_url) == 0
    assert stack.report(import_id) == report


def test_a_reupload_under_a_new_key_is_a_new_import(stack: Stack) -> None:
    ids = members(stack, 2)
    content = ("northstar_id\n" + "\n".join(ids) + "\n").encode()
    first = import_id_for(BUCKET, "mute-promotions/a.csv", stack.upload("mute-promotions/a.csv", content))
    stack.plan_uploads()
    stack.run_chunks()
    second = import_id_for(BUCKET, "mute-promotions/b.csv", stack.upload("mute-promotions/b.csv", content))
    stack.plan_uploads()
    stack.run_chunks()
    assert first != second
    reports = [stack.report(first), stack.report(second)]
    assert [dict(report.counts)["muted"] for report in reports if report] == [2, 0]
    assert [dict(report.counts)["already_muted"] for report in reports if report] == [0, 2]


def test_a_rejected_file_mutes_nobody_and_status_exits_non_zero(
    stack: Stack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "empty.csv"
    path.write_text("northstar_id\r\n\r\n", encoding="utf-8")
    assert cli("imports", "upload", str(path), "--bucket", BUCKET, "--yes") == 0
    import_id = capsys.readouterr().out.strip()
    stack.plan_uploads()
    assert stack.queued(stack.chunk_queue_url) == 0
    capsys.readouterr()  # the functions' log and metric lines
    assert cli("imports", "status", import_id, "--wait", "--timeout", "5", "--bucket", BUCKET) == 1
    captured = capsys.readouterr()
    report = ImportReport.from_json(captured.out)
    assert (report.status, report.reason) == ("rejected", "file has a header but no data rows")
    assert "rejected: file has a header but no data rows" in captured.err


def test_status_of_an_unknown_import_is_one_clear_error(stack: Stack) -> None:
    with pytest.raises(CommandError, match="unknown import 0000000000000000: no report, and no upload"):
        cli("imports", "status", "0000000000000000", "--bucket", BUCKET)


def test_uploading_to_a_missing_bucket_is_one_clear_error(stack: Stack, tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("northstar_id\n", encoding="utf-8")
    with pytest.raises(CommandError, match="bucket nope does not exist"):
        cli("imports", "upload", str(path), "--bucket", "nope")


def test_a_large_file_spreads_over_many_fifo_chunks(stack: Stack) -> None:
    ids = members(stack, 30)
    stack.with_limits(PlanLimits(max_bytes=1_000_000, partitions=4, chunk_rows=3))
    rows = [*ids, *ids[:5], "bad"]
    etag = stack.upload("mute-promotions/large.csv", ("northstar_id\n" + "\n".join(rows) + "\n").encode())
    import_id = import_id_for(BUCKET, "mute-promotions/large.csv", etag)
    stack.plan_uploads()
    delivered: list[tuple[str, ChunkMessage]] = []

    def recording(event: dict[str, Any], context: Any, deps: ImportDeps) -> dict[str, Any]:
        for record in event["Records"]:
            delivered.append((record["attributes"]["MessageGroupId"], parse_chunk_message(record["body"])))
        return mute_chunk(event, context, deps)

    while stack.deliver(stack.chunk_queue_url, recording) is not None:
        pass
    planned = stack.report(import_id)
    assert planned is not None
    assert sorted(message.chunk for _, message in delivered) == list(range(planned.chunks_total))
    assert all(group == message.group_id and len(message.rows) <= 3 for group, message in delivered)
    for partition in range(4):
        lines = [row for _, message in delivered if message.partition == partition for row, _ in message.rows]
        assert lines == sorted(lines), "a partition's chunks ran out of file order"
    report = stack.report(import_id)
    assert report is not None
    assert dict(report.counts) == {
        "muted": 30,
        "already_muted": 0,
        "not_found": 0,
        "invalid": 1,
        "duplicate": 5,
    }
