from __future__ import annotations

import csv
import io
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cio_sync.imports.rows import (
    MAX_FIELD_CHARS,
    MAX_SHOWN_CHARS,
    Row,
    SourceRow,
    check_row,
    checked_rows,
    normalised_column,
    source_rows,
)
from cio_sync.imports.text_lines import MAX_LINE_CHARS, FileRejected, text_lines
from tests.unit.imports.fakes import in_pieces

MEMBER = "5f1e2d3c4b5a69788796a5b4"
LIMIT = 10_000_000


def rows_of(content: bytes, piece: int = 3) -> list[tuple[int, str]]:
    return [(row.number, row.value) for row in source_rows(in_pieces(content, piece), LIMIT)]


def rejection(content: bytes, limit: int = LIMIT, piece: int = 4096) -> str:
    with pytest.raises(FileRejected) as caught:
        list(source_rows(in_pieces(content, piece), limit))
    return caught.value.reason


@pytest.mark.parametrize("ending", [b"\n", b"\r\n", b"\r"])
@pytest.mark.parametrize("piece", [1, 2, 3, 1000])
def test_every_line_ending_splits_the_same_lines_whatever_the_chunking(ending: bytes, piece: int) -> None:
    content = ending.join([b"northstar_id", b"a", b"", b"b", b"c"]) + ending
    assert list(text_lines(in_pieces(content, piece), LIMIT)) == ["northstar_id\n", "a\n", "\n", "b\n", "c\n"]


def test_a_last_line_without_an_ending_is_kept() -> None:
    assert list(text_lines([b"northstar_id\r\nlast"], LIMIT)) == ["northstar_id\n", "last\n"]


@pytest.mark.parametrize("piece", [1, 2, 5])
def test_a_byte_order_mark_and_multibyte_characters_survive_any_chunking(piece: int) -> None:
    content = "\ufeffnorthstar_id,name\nx,Zoë 😀\n".encode()
    assert list(text_lines(in_pieces(content, piece), LIMIT)) == ["northstar_id,name\n", "x,Zoë 😀\n"]


@given(
    st.lists(st.sampled_from(["a", "é", ",", '"', "\r", "\n", "\r\n", " "]), max_size=40), st.integers(1, 9)
)
def test_chunking_never_changes_the_lines(parts: list[str], piece: int) -> None:
    text = "".join(parts)
    expected = [line + "\n" for line in re.split(r"\r\n|\r|\n", text)]
    if expected[-1] == "\n":
        expected.pop()  # what follows the last line ending is a line only when it is not empty
    assert list(text_lines(in_pieces(text.encode(), piece), LIMIT)) == expected


def test_rows_carry_the_file_line_they_start_on() -> None:
    content = b'northstar_id,note\n\nA,"two\nlines"\n  \n,,\nB,x\n'
    assert rows_of(content) == [(3, "A"), (7, "B")]


def test_header_matches_case_insensitively_ignoring_spaces_and_a_bom() -> None:
    content = "\ufeff email , North Star_ID ,x\nm@example.org, B ,1\n".encode()
    assert rows_of(content) == [(2, "B")]


def test_quoted_fields_with_commas_and_quotes_are_read_as_csv() -> None:
    content = b'"note, with comma","northstar_id"\n"say ""hi""","  ABC  "\n'
    assert rows_of(content) == [(2, "ABC")]


def test_a_row_without_the_id_field_is_kept_for_the_report() -> None:
    rows = list(source_rows([b"a,northstar_id\nonly-one-field\n"], LIMIT))
    assert rows == [SourceRow(2, "", has_id_field=False)]


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "file is empty: no header row"),
        (b"\r\n\r\n  \r\n", "file is empty: no header row"),
        (b"\xef\xbb\xbf", "file is empty: no header row"),
        (b"northstar_id\r\n", "file has a header but no data rows"),
        (b"northstar_id\n\n,\n", "file has a header but no data rows"),
        (b"id,email\n" + MEMBER.encode() + b",x\n", "no northstar_id column in the header"),
        (b"northstar_id,Northstar_ID\nx,y\n", "the header has 2 northstar_id columns"),
        (b"northstar_id\n\xff\xfe\n", "file is not UTF-8 text (invalid byte near offset 13)"),
        ("northstar_id\nZo\u00eb\n".encode("latin-1"), "file is not UTF-8 text"),
        (b"northstar_id\n\xc3", "file is not UTF-8 text (truncated character"),
        (b"northstar_id\nab\x00cd\n", "file holds NUL bytes"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "file is not UTF-8 text"),
    ],
)
def test_whole_file_problems_are_rejected_with_a_reason(content: bytes, reason: str) -> None:
    assert rejection(content).startswith(reason)


def test_a_file_over_the_size_limit_is_rejected_while_streaming() -> None:
    content = b"northstar_id\n" + (MEMBER.encode() + b"\n") * 100
    assert rejection(content, limit=1000, piece=64) == "file is larger than the 1000-byte limit"
    assert len(rows_of(content)) == 100


def test_one_enormous_line_is_rejected_without_reading_it_whole() -> None:
    content = b"northstar_id\n" + b"x" * (MAX_LINE_CHARS * 3)
    assert rejection(content, piece=1000) == (
        f"line 2 is longer than {MAX_LINE_CHARS} characters: not a CSV of member ids"
    )


def test_an_enormous_line_with_an_ending_is_rejected_too() -> None:
    content = b"northstar_id\n" + b"y" * (MAX_LINE_CHARS + 1) + b"\nabc\n"
    assert rejection(content, piece=MAX_LINE_CHARS * 2).startswith("line 2 is longer than")


def test_an_unclosed_quote_is_rejected_once_the_field_outgrows_the_csv_limit() -> None:
    lines = b"".join(MEMBER.encode() + b"\n" for _ in range(MAX_FIELD_CHARS // 20))
    content = b'northstar_id\n"' + lines
    assert rejection(content) == (
        f"a field starting on line 2 is longer than {MAX_FIELD_CHARS} characters (an unclosed quote?)"
    )


@pytest.mark.parametrize(
    ("value", "member_id"),
    [(MEMBER, MEMBER), (f"  {MEMBER.upper()}\t", MEMBER), ("5F1E2D3C4B5A69788796A5B4", MEMBER)],
)
def test_ids_are_trimmed_and_lowered(value: str, member_id: str) -> None:
    checked = check_row(SourceRow(7, value))
    assert (checked.number, checked.member_id, checked.reason) == (7, member_id, None)


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        (SourceRow(2, ""), "northstar_id is empty"),
        (SourceRow(2, "  "), "northstar_id is empty"),
        (SourceRow(2, MEMBER[:-1]), "northstar_id is not 24 hexadecimal characters"),
        (SourceRow(2, MEMBER + "0"), "northstar_id is not 24 hexadecimal characters"),
        (SourceRow(2, MEMBER[:-1] + "g"), "northstar_id is not 24 hexadecimal characters"),
        (SourceRow(2, "someone@example.org"), "northstar_id is not 24 hexadecimal characters"),
        (SourceRow(2, "", has_id_field=False), "row has no northstar_id field"),
    ],
)
def test_invalid_ids_get_a_reason(row: SourceRow, reason: str) -> None:
    checked = check_row(row)
    assert checked.member_id is None
    assert checked.reason == reason


def test_invalid_values_are_shown_on_one_line_and_capped() -> None:
    assert check_row(SourceRow(2, " a\n b\tc ")).shown_value == "a b c"
    shown = check_row(SourceRow(2, "z" * 500)).shown_value
    assert len(shown) == MAX_SHOWN_CHARS
    assert shown.endswith("…")


def test_column_names_are_normalised() -> None:
    assert normalised_column("  NorthStar _ID ") == "northstar_id"


def reference_rows(text: str) -> list[Row]:
    """What the rules say, read the slow and obvious way: the csv module over the whole text, then
    check_row on each data row (the parser's fast path must agree with it row for row)."""
    reader = csv.reader(io.StringIO(text.replace("\r\n", "\n").replace("\r", "\n"), newline=""))
    id_index: int | None = None
    found: list[Row] = []
    previous = 0
    for record in reader:
        first_line, previous = previous + 1, reader.line_num
        fields = [field.strip() for field in record]
        if not any(fields):
            continue
        if id_index is None:
            id_index = [normalised_column(name) for name in fields].index("northstar_id")
            continue
        row = (
            SourceRow(first_line, fields[id_index])
            if id_index < len(fields)
            else SourceRow(first_line, "", False)
        )
        found.append(check_row(row))
    return found


FIELD = st.sampled_from([MEMBER, MEMBER.upper(), f" {MEMBER} ", "", "  ", "x", "a@b.org", MEMBER[:-1], "é"])


@given(
    st.lists(st.lists(FIELD, min_size=0, max_size=3), min_size=1, max_size=30), st.sampled_from([1, 7, 64])
)
def test_the_fast_path_reads_unquoted_files_exactly_as_the_csv_module_and_the_rules(
    rows: list[list[str]], piece: int
) -> None:
    text = "northstar_id,email,other\n" + "".join(",".join(row) + "\n" for row in rows)
    if not reference_rows(text):
        return  # a file of blank rows is rejected whole (tested elsewhere)
    found = list(checked_rows(in_pieces(text.encode(), piece), LIMIT))
    assert found == reference_rows(text)


@pytest.mark.parametrize("piece", [8, 30, 1000])
def test_a_quote_in_a_later_chunk_hands_the_rest_to_the_csv_module_keeping_line_numbers(piece: int) -> None:
    text = f'northstar_id,note\n{MEMBER},a\n\nBAD,b\n{MEMBER},"x,\ny"\n{MEMBER.upper()},z\n'
    found = list(checked_rows(in_pieces(text.encode(), piece), LIMIT))
    assert found == reference_rows(text)
    assert [row[0] for row in checked_rows(in_pieces(text.encode(), piece), LIMIT)] == [2, 4, 5, 7]


@pytest.mark.parametrize("piece", [5, 4096])
def test_an_unclosed_quote_rejects_the_whole_file_instead_of_swallowing_the_rows_after_it(piece: int) -> None:
    content = f'northstar_id,email\n"{MEMBER},x@example.org\n'.encode() + f"{MEMBER},ok\n".encode() * 5
    reason = rejection(content, piece=piece)
    assert reason == "a quote opened in the row starting on line 2 is never closed"
    assert "example" not in reason


def test_an_id_field_spanning_lines_rejects_the_whole_file_without_echoing_the_row() -> None:
    content = f'northstar_id,email\n{MEMBER},a@example.org\n"{MEMBER},b@example.org\n{MEMBER}",c\n'.encode()
    reason = rejection(content)
    assert (
        reason
        == "the northstar_id field of the row starting on line 3 spans several lines (a misplaced quote?)"
    )
    with pytest.raises(FileRejected):
        list(checked_rows(in_pieces(content, 3), LIMIT))


def test_text_after_a_closing_quote_is_not_valid_csv() -> None:
    assert rejection(b'northstar_id,note\n"abc"def,x\n').startswith("line 2 is not valid CSV")
