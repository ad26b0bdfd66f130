"""`cio-sync imports check FILE`: the import's own parser, offline."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cio_sync_cli.main import main

ADA = "5f0c8e2a9b1d4c3e2f1a0b9c"
BOB = "5f0c8e2a9b1d4c3e2f1a0b9d"


def check(path: Path, capsys: pytest.CaptureFixture[str], *options: str) -> tuple[int, str, str]:
    code = main(["imports", "check", str(path), *options])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_a_file_is_counted_as_the_import_would(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "mute.csv"
    path.write_text(f"email,NorthStar_ID\na@x.org,{ADA}\nb@x.org,{BOB.upper()}\n,,\nc@x.org,{ADA}\nd,nope\n")
    code, out, _ = check(path, capsys)
    assert code == 0
    assert out.splitlines() == [
        "mute.csv: would be imported: 4 rows, 2 distinct member ids, 1 duplicate, 1 invalid",
        "  row 6: northstar_id is not 24 hexadecimal characters ('nope')",
    ]
    code, out, _ = check(path, capsys, "--json")
    assert json.loads(out) == {
        "file": "mute.csv",
        "accepted": True,
        "rows": 4,
        "member_ids": 2,
        "duplicates": 1,
        "invalid": [
            {"row": 6, "northstar_id": "nope", "reason": "northstar_id is not 24 hexadecimal characters"}
        ],
    }


def test_a_file_the_import_would_reject_fails_with_its_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "wrong.csv"
    path.write_text(f"id\n{ADA}\n")
    code, out, err = check(path, capsys)
    assert (code, out) == (1, "")
    assert err.startswith("cio-sync: wrong.csv: would be rejected: no northstar_id column in the header")
    code, out, _ = check(path, capsys, "--json")
    assert code == 1
    assert json.loads(out)["accepted"] is False


def test_the_import_size_limit_applies(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "big.csv"
    path.write_text("northstar_id\n" + f"{ADA}\n" * 100)
    code, _, err = check(path, capsys, "--max-bytes", "1000")
    assert code == 1
    assert "would be rejected" in err


def test_an_unclosed_quote_rejects_the_file_rather_than_hiding_the_rows_after_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "quote.csv"
    path.write_text(f'northstar_id,email\n"{ADA},ada@example.org\n' + f"{BOB},ok\n" * 5)
    code, out, err = check(path, capsys)
    assert (code, out) == (1, "")
    assert err.startswith(
        "cio-sync: quote.csv: would be rejected: a quote opened in the row starting on line 2"
    )
    assert "example" not in err
