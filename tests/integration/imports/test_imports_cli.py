"""`cio-sync imports` for people: a repeated upload named as such, ids checked at once, rejected rows.

Against moto with the import functions run in-process (conftest.Stack), through the real parser.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from cio_sync.imports.keys import rejected_csv_key
from cio_sync_cli.errors import CommandError
from cio_sync_cli.imports_cli import add_imports_commands
from cio_sync_cli.imports_lookup import BAD_ID
from tests.integration.imports.conftest import BUCKET, Stack

pytestmark = pytest.mark.integration

UNKNOWN = "0123456789abcdef"


def cli(*args: str) -> int:
    parser = argparse.ArgumentParser(prog="cio-sync")
    add_imports_commands(parser.add_subparsers(dest="command"))
    parsed = parser.parse_args([*args, "--bucket", BUCKET])
    result: int = parsed.handler(parsed)
    return result


def upload(path: Path, capsys: pytest.CaptureFixture[str], *options: str) -> str:
    assert cli("imports", "upload", str(path), *options, "--yes") == 0
    return capsys.readouterr().out.strip()


def csv_of(stack: Stack, tmp_path: Path, *rows: str) -> Path:
    ids = [str(stack.members.create_web_signup({"email": f"m{n}@example.org"})["id"]) for n in range(2)]
    path = tmp_path / "mute.csv"
    path.write_text("northstar_id\n" + "\n".join([*ids, *rows]) + "\n", encoding="utf-8")
    return path


def test_a_file_already_imported_is_named_and_again_imports_it_anew(
    stack: Stack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = csv_of(stack, tmp_path)
    first = upload(path, capsys)
    stack.plan_uploads()
    stack.run_chunks()

    with pytest.raises(CommandError, match=f"already imported as {first} \\(completed\\).*--again"):
        cli("imports", "upload", str(path))
    assert stack.plan_uploads() == 0  # nothing was uploaded

    second = upload(path, capsys, "--again")
    assert second != first
    assert stack.plan_uploads() == 1
    stack.run_chunks()
    report = stack.report(second)
    assert report is not None
    assert (report.status, report.source.key.startswith("mute-promotions/mute.again-")) == ("completed", True)
    assert dict(report.counts)["already_muted"] == 2


def test_status_refuses_a_malformed_id_before_asking_aws(aws: None) -> None:
    """No bucket exists here: an id that cannot be one is refused before any request."""
    with pytest.raises(CommandError, match=BAD_ID):
        cli("imports", "status", "mute.csv", "--wait")


def test_status_says_at_once_when_an_id_is_unknown(stack: Stack) -> None:
    with pytest.raises(CommandError, match=f"unknown import {UNKNOWN}: no report, and no upload"):
        cli("imports", "status", UNKNOWN, "--wait", "--timeout", "600")


def test_status_of_an_upload_not_yet_started_says_so(
    stack: Stack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import_id = upload(csv_of(stack, tmp_path), capsys)
    with pytest.raises(CommandError, match=f"import {import_id} has not started yet"):
        cli("imports", "status", import_id)


def test_rejected_prints_the_rows_not_muted(
    stack: Stack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import_id = upload(csv_of(stack, tmp_path, "not-an-id", "ffffffffffffffffffffffff"), capsys)
    with pytest.raises(CommandError, match="is not finished"):
        cli("imports", "rejected", import_id)
    stack.plan_uploads()
    stack.run_chunks()
    capsys.readouterr()

    assert cli("imports", "rejected", import_id) == 0
    assert capsys.readouterr().out == stack.text(rejected_csv_key(import_id))
    assert cli("imports", "rejected", import_id, "--json") == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(row["row"], row["outcome"]) for row in rows] == [("4", "invalid"), ("5", "not_found")]


def test_rejected_of_a_clean_import_and_of_a_rejected_file(
    stack: Stack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    clean = upload(csv_of(stack, tmp_path), capsys)
    empty = tmp_path / "empty.csv"
    empty.write_text("northstar_id\n", encoding="utf-8")
    refused = upload(empty, capsys)
    stack.plan_uploads()
    stack.run_chunks()
    capsys.readouterr()

    assert cli("imports", "rejected", clean) == 0
    assert capsys.readouterr().out == "row,northstar_id,outcome,reason\n"  # every row muted
    assert cli("imports", "rejected", clean, "--json") == 0
    assert capsys.readouterr().out == ""
    with pytest.raises(CommandError, match="rejected the whole file: file has a header but no data rows"):
        cli("imports", "rejected", refused)
    with pytest.raises(CommandError, match=f"unknown import {UNKNOWN}"):
        cli("imports", "rejected", UNKNOWN)
