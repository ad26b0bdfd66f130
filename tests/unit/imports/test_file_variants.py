"""Every file variant the issue names, planned and run through the fakes, with exact counts."""

from __future__ import annotations

import pytest

from cio_sync.imports.outcomes import OUTCOMES
from cio_sync.imports.plan import PlanLimits
from cio_sync.imports.report import ImportReport, ImportSource
from cio_sync.imports.text_lines import MAX_LINE_CHARS
from tests.unit.imports.fakes import Harness, Members, counts

M1, M2, M3 = "aaaaaaaaaaaaaaaaaaaaaa01", "aaaaaaaaaaaaaaaaaaaaaa02", "aaaaaaaaaaaaaaaaaaaaaa03"
MUTED = "bbbbbbbbbbbbbbbbbbbbbb01"
UNKNOWN = "cccccccccccccccccccccc01"
EARLIER = "2026-01-01T00:00:00.000000Z"


def members() -> Members:
    return Members(
        {
            M1: {"id": M1, "email_subscription_status": True, "promotions_muted_at": None},
            M2: {"id": M2, "email_subscription_status": True},
            M3: {"id": M3, "sms_status": "active"},
            MUTED: {"id": MUTED, "promotions_muted_at": EARLIER},
        }
    )


def run(content: bytes, *, limit: int = 1_000_000) -> tuple[Harness, ImportReport]:
    harness = Harness(members=members(), limits=PlanLimits(max_bytes=limit, partitions=3, chunk_rows=2))
    return harness, harness.run(content)


ACCEPTED = [
    pytest.param(f"\ufeffnorthstar_id\r\n{M1}\r\n{M2}\r\n".encode(), counts(muted=2), id="utf8-bom-crlf"),
    pytest.param(f"northstar_id\n{M1}\n{M2}\n{M3}".encode(), counts(muted=3), id="lf-no-final-newline"),
    pytest.param(f"northstar_id\r{M1}\r{M2}\r".encode(), counts(muted=2), id="cr-only"),
    pytest.param(
        f'"northstar_id","email"\r\n"{M1}","a@example.org"\r\n" {M2} ","b, with ""quotes"""\r\n'.encode(),
        counts(muted=2),
        id="quoted",
    ),
    pytest.param(
        f"email,first_name,northstar_id,zip\nx@example.org,Ann,{M1},10001\ny@example.org,Bo,{M2},\n".encode(),
        counts(muted=2),
        id="extra-and-reordered-columns",
    ),
    pytest.param(
        f"  NorthStar_ID  ,Email\n{M1.upper()}  ,x\n".encode(), counts(muted=1), id="header-case-spaces"
    ),
    pytest.param(f"\n\nnorthstar_id\n\n{M1}\n\n   \n,\n{M2}\n\n".encode(), counts(muted=2), id="blank-lines"),
    pytest.param(f"northstar_id\n{M1}   \n{M2}\t\n".encode(), counts(muted=2), id="trailing-spaces"),
    pytest.param(
        f"northstar_id\n{M1}\n{M2}\n{M1}\n{M1.upper()}\n{M2}\n".encode(),
        counts(muted=2, dup=3),
        id="duplicates",
    ),
    pytest.param(
        f"northstar_id,x\n{M1}\nnot-an-id\n\n{M2[:-1]}\n,filled\nsomeone@example.org\n".encode(),
        counts(muted=1, invalid=4),
        id="invalid",
    ),
    pytest.param(f"northstar_id\n{UNKNOWN}\n{M1}\n".encode(), counts(muted=1, missing=1), id="unknown"),
    pytest.param(f"northstar_id\n{MUTED}\n{M1}\n".encode(), counts(muted=1, already=1), id="already-muted"),
    pytest.param(
        f"northstar_id\n{MUTED}\n{UNKNOWN}\n{UNKNOWN}\n{MUTED}\nbad\n{M3}\n".encode(),
        counts(muted=1, already=1, missing=1, dup=2, invalid=1),
        id="everything",
    ),
]


@pytest.mark.parametrize(("content", "expected"), ACCEPTED)
def test_accepted_files_have_exact_counts_that_add_up_to_the_rows(
    content: bytes, expected: dict[str, int]
) -> None:
    harness, report = run(content)
    assert report.status == "completed"
    assert dict(report.counts) == expected
    assert report.rows == sum(expected.values())
    assert report.chunks_done == report.chunks_total
    assert report.finished_at is not None
    assert report.finished_at >= report.started_at
    muted_now = {
        member_id
        for member_id, item in harness.members.items.items()
        if item.get("promotions_muted_at") == report.started_at
    }
    # Members muted already are re-stamped with the import's time too (docs/imports.md).
    assert len(muted_now) == expected["muted"] + expected["already_muted"]
    if expected["already_muted"]:
        assert harness.members.items[MUTED]["promotions_muted_at"] == report.started_at
    csv_rows = harness.rejected_csv(report).splitlines()
    assert csv_rows[0] == "row,northstar_id,outcome,reason"
    assert len(csv_rows) - 1 == report.rows - expected["muted"]


REJECTED = [
    pytest.param(b"", "file is empty: no header row", id="empty-file"),
    pytest.param(b"northstar_id\r\n\r\n", "file has a header but no data rows", id="header-only"),
    pytest.param(f"member_id\n{M1}\n".encode(), "no northstar_id column in the header", id="no-id-column"),
    pytest.param(
        f"northstar_id\n{M1}\nZo\u00eb\n".encode("latin-1"), "file is not UTF-8 text", id="not-utf8"
    ),
    pytest.param(bytes(range(256)) * 8, "file holds NUL bytes", id="binary-junk-with-nul"),
    pytest.param(b"\x1f\x8b\x08\x00\xff\xfe\xfd" * 50, "file is not UTF-8 text", id="binary-junk-gzip"),
    pytest.param(
        f"northstar_id\n{M1}\n".encode() + b"z" * (MAX_LINE_CHARS + 10),
        f"line 3 is longer than {MAX_LINE_CHARS} characters",
        id="one-enormous-line",
    ),
    pytest.param(
        f"northstar_id\n{M1}\n".encode() * 8000,
        "file is larger than the 200000-byte limit",
        id="over-size-limit",
    ),
]


@pytest.mark.parametrize(("content", "reason"), REJECTED)
def test_rejected_files_mute_nothing_and_say_why(content: bytes, reason: str) -> None:
    harness, report = run(content, limit=200_000)
    assert report.status == "rejected"
    assert report.reason is not None
    assert report.reason.startswith(reason)
    assert dict(report.counts) == counts()
    assert report.finished_at is not None
    assert harness.queue.sends == 0
    assert harness.members.writes == 0
    assert harness.store.parts == {}
    assert harness.rejected_csv(report) == ""


def test_a_file_over_the_limit_is_rejected_while_streaming_when_the_event_gave_no_size() -> None:
    harness = Harness(members=members(), limits=PlanLimits(max_bytes=1000))
    content = f"northstar_id\n{M1}\n".encode() * 40
    harness.plan(ImportSource(bucket="imports", key="mute-promotions/big.csv", etag="e"), content)
    report = harness.store.read_report(ImportSource("imports", "mute-promotions/big.csv", "e").import_id)
    assert report is not None
    assert (report.status, report.reason) == ("rejected", "file is larger than the 1000-byte limit")
    assert harness.queue.sends == 0


def test_a_valid_row_at_the_end_of_a_file_broken_at_its_end_is_not_muted() -> None:
    harness, report = run(f"northstar_id\n{M1}\n{M2}\n".encode() + b"\xff\n")
    assert report.status == "rejected"
    assert harness.members.writes == 0


def test_the_rejected_rows_csv_lists_every_row_not_muted_in_file_order() -> None:
    content = (
        f'northstar_id,n\n{MUTED}\n{UNKNOWN}\n{M1}\n\n{UNKNOWN.upper()}\n" x,y "\n,\n{M2}\n,z\n'.encode()
    )
    harness, report = run(content)
    assert harness.rejected_csv(report) == (
        "row,northstar_id,outcome,reason\n"
        f"2,{MUTED},already_muted,member was already muted\n"
        f"3,{UNKNOWN},not_found,no member has this northstar_id\n"
        f"6,{UNKNOWN},duplicate,duplicate of row 3\n"
        '7,"x,y",invalid,northstar_id is not 24 hexadecimal characters\n'
        "10,,invalid,northstar_id is empty\n"
    )
    assert set(report.counts) == set(OUTCOMES)


def test_a_dry_run_reports_what_would_happen_and_writes_no_member() -> None:
    harness = Harness(members=members(), limits=PlanLimits(max_bytes=10_000, partitions=2, chunk_rows=2))
    content = f"northstar_id\n{M1}\n{MUTED}\n{UNKNOWN}\n{M1}\nbad\n{M2}\n".encode()
    report = harness.run(content, key="mute-promotions/dry-run/list.csv")
    assert report.dry_run
    assert report.status == "completed"
    assert dict(report.counts) == counts(muted=2, already=1, missing=1, dup=1, invalid=1)
    assert harness.members.writes == 0
    assert harness.members.items == members().items
    assert harness.members.reads == 4


def test_many_rows_spread_over_partitions_keep_the_earliest_occurrence() -> None:
    ids = [f"{number:024x}" for number in range(300)]
    lines = ["northstar_id", *ids, *reversed(ids[:100]), "oops"]
    harness = Harness(
        members=Members({member_id: {"id": member_id} for member_id in ids[:250]}),
        limits=PlanLimits(max_bytes=1_000_000, partitions=4, chunk_rows=16, part_rows=1),
    )
    report = harness.run("\n".join(lines).encode())
    assert dict(report.counts) == counts(muted=250, missing=50, dup=100, invalid=1)
    assert report.chunks_total == len(harness.store.part_names(report.import_id)) - 1
    duplicates = [line for line in harness.rejected_csv(report).splitlines() if ",duplicate," in line]
    # Line 302 repeats ids[99], first seen on line 101.
    assert duplicates[0] == f"302,{ids[99]},duplicate,duplicate of row 101"
