from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from cio_sync.imports.report import ImportReport, ImportSource
from cio_sync_cli.errors import CommandError
from cio_sync_cli.imports_cli import (
    add_imports_commands,
    describe_progress,
    resolve_target,
    run_upload,
    upload_key,
    wait_for_report,
)

SOURCE = ImportSource("imports", "mute-promotions/a.csv", "etag")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "AWS_ENDPOINT_URL",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "IMPORT_BUCKET",
        "AWS_ACCESS_KEY_ID",
        "CIO_SYNC_STACK",
    ):
        monkeypatch.delenv(name, raising=False)


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="cio-sync")
    add_imports_commands(root.add_subparsers(dest="command"))
    return root


def test_the_commands_parse_as_documented() -> None:
    upload = parser().parse_args(["imports", "upload", "list.csv", "--dry-run", "--bucket", "b"])
    assert (upload.file, upload.dry_run, upload.bucket) == (Path("list.csv"), True, "b")
    assert callable(upload.handler)
    status = parser().parse_args(["imports", "status", "abc", "--wait", "--timeout", "5"])
    assert (status.import_id, status.wait, status.timeout) == ("abc", True, 5.0)


def test_imports_without_a_command_is_a_usage_error() -> None:
    with pytest.raises(SystemExit) as exit_info:
        parser().parse_args(["imports"])
    assert exit_info.value.code == 2


def test_uploads_go_under_the_upload_or_dry_run_prefix() -> None:
    assert upload_key(Path("exports/List 1.csv"), dry_run=False) == "mute-promotions/List 1.csv"
    assert upload_key(Path("x.csv"), dry_run=True) == "mute-promotions/dry-run/x.csv"


def test_the_target_prefers_the_flag_then_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("IMPORT_BUCKET", "from-env")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    flagged = resolve_target("flag", tmp_path / "none.json")
    assert (flagged.bucket, flagged.endpoint_url, flagged.region, flagged.source) == (
        "flag",
        None,
        "eu-west-1",
        "environment",
    )
    assert resolve_target(None, tmp_path / "none.json").bucket == "from-env"


def test_the_target_falls_back_to_the_local_stack(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    stack = tmp_path / "stack.json"
    stack.write_text(
        json.dumps({"aws_endpoint": "http://127.0.0.1:5000", "region": "us-east-1", "bucket": "loc"})
    )
    local = resolve_target(None, stack)
    assert (local.bucket, local.endpoint_url, local.region, local.source) == (
        "loc",
        "http://127.0.0.1:5000",
        "us-east-1",
        "local",
    )
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:6000")
    monkeypatch.setenv("IMPORT_BUCKET", "env-bucket")
    named = resolve_target(None, stack)
    assert (named.bucket, named.endpoint_url, named.region, named.source) == (
        "env-bucket",
        "http://127.0.0.1:6000",
        None,
        "environment",
    )


def test_no_bucket_anywhere_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="no imports bucket"):
        resolve_target(None, tmp_path / "none.json")


def test_a_broken_stack_file_is_one_clear_error(tmp_path: Path) -> None:
    stack = tmp_path / "stack.json"
    stack.write_text("{")
    with pytest.raises(CommandError, match="unreadable"):
        resolve_target(None, stack)


def test_uploading_a_missing_file_is_one_clear_error(tmp_path: Path) -> None:
    args = parser().parse_args(["imports", "upload", str(tmp_path / "nope.csv"), "--bucket", "b"])
    with pytest.raises(CommandError, match=r"nope\.csv: no such file"):
        run_upload(args)


def report(status: str, done: int = 0) -> ImportReport:
    return ImportReport.from_json(
        json.dumps(
            {
                "import_id": SOURCE.import_id,
                "status": status,
                "source": SOURCE.to_dict(),
                "started_at": "2026-11-26T16:00:00.000000Z",
                "rows": 10,
                "counts": {"muted": 7, "already_muted": 1, "not_found": 1, "invalid": 1, "duplicate": 0},
                "chunks_total": 4,
                "chunks_done": done,
                "reason": "file has a header but no data rows" if status == "rejected" else None,
            }
        )
    )


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_waiting_shows_each_change_of_progress_once_until_the_end() -> None:
    answers = iter([None, None, report("processing", 1), report("processing", 1), report("processing", 3)])
    final = report("completed", 4)
    shown: list[str] = []
    time = FakeTime()
    result = wait_for_report(
        lambda: next(answers, final), 60, 1, shown.append, clock=time.clock, sleep=time.sleep
    )
    assert result == final
    assert shown == [
        "waiting for the import to start",
        "processing: 1/4 chunks of 10 rows",
        "processing: 3/4 chunks of 10 rows",
        "completed: muted 7, already_muted 1, not_found 1, invalid 1, duplicate 0",
    ]
    assert time.now == 5


def test_waiting_gives_up_with_the_last_progress() -> None:
    time = FakeTime()
    with pytest.raises(CommandError, match=r"gave up after 3 s: processing: 2/4 chunks"):
        wait_for_report(
            lambda: report("processing", 2), 3, 1, lambda _: None, clock=time.clock, sleep=time.sleep
        )


def test_a_rejection_is_described_with_its_reason() -> None:
    assert describe_progress(report("rejected")) == "rejected: file has a header but no data rows"
