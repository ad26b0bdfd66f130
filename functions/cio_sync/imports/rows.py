"""Reads a Mute Promotions CSV as a stream of rows, in constant memory, or rejects the whole file.

The file arrives as an iterable of byte chunks (an S3 body), turned into lines by text_lines.py. Nothing
here holds more than one chunk's lines at a time.

Whole-file problems raise `FileRejected` with a reason for the admin; they can surface only once the file
has been read to the end (no data rows, too large), which is why the planner reads it fully before acting.

Speed: a million-row file is read twice per import, so the per-row path does as little Python as it can.
Each chunk is decoded, normalised and split into lines by str methods. A line without a `"` is split on
commas in the one loop that validates it, which is exactly what the csv module does to such a line; from
the first chunk that holds a quote on, the csv module reads the rest (quoted commas, fields over several
lines). A valid id costs a split, a length check, a strip of the hex digits and a plain tuple (no regex,
no dataclass, nothing the cyclic GC must walk); invalid and blank rows take the full rules. `make bench`
compares the rate with the csv module reading the same file alone.
"""

from __future__ import annotations

import csv
import itertools
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Final, NamedTuple

from cio_sync.imports.text_lines import Block, FileRejected, line_blocks, with_newlines

ID_COLUMN: Final = "northstar_id"
# The csv module's own per-field cap, reached when an unclosed quote swallows the lines after it.
MAX_FIELD_CHARS: Final = csv.field_size_limit()
# Shown in the report for an invalid row: enough to recognise the value, not a dump of a broken line.
MAX_SHOWN_CHARS: Final = 64

MEMBER_ID_LENGTH: Final = 24
_HEX_DIGITS: Final = "0123456789abcdef"
_NO_ID_FIELD: Final = "row has no northstar_id field"
_WHITESPACE_RUN = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class SourceRow:
    """A data row: `number` is the file line it starts on (the header is line 1), `value` its id field."""

    number: int
    value: str
    has_id_field: bool = True


# A data row after validation, as `checked_rows` yields it: (line it starts on, member id or None, value
# shown in the report, reason it is invalid or None). A plain tuple: a million of them are made per pass.
Row = tuple[int, str | None, str, str | None]


class CheckedRow(NamedTuple):
    """A Row with names (what `check_row` returns): either a member id or the reason it cannot be one."""

    number: int
    member_id: str | None
    shown_value: str
    reason: str | None


def check_row(row: SourceRow) -> CheckedRow:
    """Trim, lower and validate the id: the only per-row rule the file itself can decide."""
    return _checked(row.number, row.value if row.has_id_field else None)


def _is_member_id(candidate: str) -> bool:
    """24 lowercase hex digits (what `[0-9a-f]{24}` matches, with str methods: no regex per row)."""
    return len(candidate) == MEMBER_ID_LENGTH and not candidate.strip(_HEX_DIGITS)


def _checked(number: int, value: str | None) -> CheckedRow:
    """`value` is the row's id field, or None when the row has no such field."""
    if value is None:
        return CheckedRow(number, None, "", _NO_ID_FIELD)
    candidate = value.strip().lower()
    if _is_member_id(candidate):
        return CheckedRow(number, candidate, candidate, None)
    shown = shown_value(value)
    if not candidate:
        return CheckedRow(number, None, shown, "northstar_id is empty")
    return CheckedRow(number, None, shown, "northstar_id is not 24 hexadecimal characters")


def shown_value(value: str) -> str:
    """One line, trimmed and capped, so every report row stays one CSV line."""
    flat = _WHITESPACE_RUN.sub(" ", value).strip()
    return flat if len(flat) <= MAX_SHOWN_CHARS else flat[: MAX_SHOWN_CHARS - 1] + "…"


def normalised_column(name: str) -> str:
    """Header names match case-insensitively with spaces ignored (` NorthStar_ID ` is the id column)."""
    return "".join(name.split()).lower()


def source_rows(chunks: Iterable[bytes], max_bytes: int) -> Iterator[SourceRow]:
    """Every data row of the file, in order, or `FileRejected` (possibly after some rows were yielded).

    Blank lines, and rows whose fields are all blank (spreadsheet exports end with `,,,`), are skipped.
    """
    for number, _, value, reason in checked_rows(chunks, max_bytes, check=False):
        yield SourceRow(number, value, has_id_field=reason is None)


def checked_rows(chunks: Iterable[bytes], max_bytes: int, *, check: bool = True) -> Iterator[Row]:
    """Every data row, validated: what `source_rows` then `check_row` give, in one loop (the planner's
    path, run for each row in both its passes).

    Lines without a `"` are split on commas here, which is exactly what the csv module does to them; from
    the first block with a quote on, the csv module reads the rest. A valid id costs one loop step, a
    split, two str calls and a tuple. `check=False` (for `source_rows`) yields each row's stripped id field
    as `shown_value`, unvalidated, with a reason only when the row has no id field.
    """
    blocks = line_blocks(chunks, max_bytes)
    header = _Header()
    number = 0  # lines read so far
    data_rows = 0
    for block in blocks:
        if block.quoted:
            header.data_rows = data_rows
            yield from _csv_rows(itertools.chain([block], blocks), header, number, check)
            return
        lines = block.lines
        if header.id_index is None:
            lines = header.find(lines)
            number += len(block.lines) - len(lines)
            if header.id_index is None:
                continue
        id_index = header.id_index
        split_at = id_index + 1
        for line in lines:
            number += 1
            fields = line.split(",", split_at)
            if check and id_index < len(fields):
                # The usual row: the id exactly as the rule wants it (no spaces, already lowercase).
                candidate = fields[id_index]
                if len(candidate) == MEMBER_ID_LENGTH and not candidate.strip(_HEX_DIGITS):
                    data_rows += 1
                    yield (number, candidate, candidate, None)
                    continue
            row = _row(number, line.split(","), id_index, check)
            if row is not None:
                data_rows += 1
                yield row
    header.data_rows = data_rows
    header.check_complete()


def _csv_rows(
    blocks: Iterator[Block], header: _Header, lines_before: int, check: bool
) -> Iterator[CheckedRow]:
    """The rest of the file through the csv module (quoted fields), continuing the line count.

    Strict: a quote left open would otherwise swallow every later row into one field, and the rows after
    it would never be muted, so an unclosed quote or an id spanning lines rejects the whole file.
    """
    reader = csv.reader(with_newlines(blocks), strict=True)
    previous = 0  # the line the previous record ended on, within this reader
    try:
        for record in reader:
            first_line = lines_before + previous + 1
            previous = reader.line_num
            if header.id_index is None:
                header.read(record)
                continue
            if header.id_index < len(record) and "\n" in record[header.id_index]:
                raise FileRejected(
                    f"the {ID_COLUMN} field of the row starting on line {first_line} spans several lines "
                    "(a misplaced quote?)"
                )
            row = _row(first_line, record, header.id_index, check)
            if row is not None:
                header.data_rows += 1
                yield row
    except csv.Error as error:
        raise FileRejected(_csv_problem(lines_before + previous + 1, error)) from None
    header.check_complete()


def _row(number: int, fields: list[str], id_index: int, check: bool) -> CheckedRow | None:
    """A row's outcome, or None for a blank row (every field blank)."""
    value = fields[id_index].strip() if id_index < len(fields) else None
    if not value and not any(field.strip() for field in fields):
        return None
    if check:
        return _checked(number, value)
    return (
        CheckedRow(number, None, "", _NO_ID_FIELD) if value is None else CheckedRow(number, None, value, None)
    )


class _Header:
    """The id column, once the header row (the first non-blank line) is read, and the data rows counted."""

    def __init__(self) -> None:
        self.id_index: int | None = None
        self.data_rows = 0

    def read(self, fields: list[str]) -> None:
        names = [field.strip() for field in fields]
        if any(names):
            self.id_index = _id_column(names)

    def find(self, lines: list[str]) -> list[str]:
        """Read unquoted lines up to the header; the lines after it."""
        for index, line in enumerate(lines):
            self.read(line.split(","))
            if self.id_index is not None:
                return lines[index + 1 :]
        return []

    def check_complete(self) -> None:
        if self.id_index is None:
            raise FileRejected("file is empty: no header row")
        if self.data_rows == 0:
            raise FileRejected("file has a header but no data rows")


def _id_column(header: list[str]) -> int:
    matches = [index for index, name in enumerate(header) if normalised_column(name) == ID_COLUMN]
    if not matches:
        raise FileRejected(
            f"no {ID_COLUMN} column in the header (the first non-blank line; columns are comma-separated)"
        )
    if len(matches) > 1:
        raise FileRejected(f"the header has {len(matches)} {ID_COLUMN} columns: which one to use is unclear")
    return matches[0]


def _csv_problem(line_number: int, error: csv.Error) -> str:
    if "field larger than field limit" in str(error):
        return (
            f"a field starting on line {line_number} is longer than {MAX_FIELD_CHARS} characters "
            "(an unclosed quote?)"
        )
    if "unexpected end of data" in str(error):
        return f"a quote opened in the row starting on line {line_number} is never closed"
    return f"line {line_number} is not valid CSV ({error})"
