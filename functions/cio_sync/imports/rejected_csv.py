"""The rejected-rows CSV the admin opens in a spreadsheet: its lines per part, and their merge by row."""

from __future__ import annotations

import csv
import heapq
import io
from collections.abc import Iterable, Iterator
from typing import Final

from cio_sync.imports.outcomes import RowOutcome

REJECTED_CSV_HEADER: Final = ("row", "northstar_id", "outcome", "reason")
# A cell starting with one of these is a formula to a spreadsheet (OWASP, CSV injection): `=`, `+`, `-`, `@`,
# and tab and carriage return, which some spreadsheets skip before reading the formula.
FORMULA_TRIGGERS: Final = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: str) -> str:
    """Text a spreadsheet would run as a formula, made inert with a leading `'` (shown, not evaluated)."""
    return "'" + value if value.startswith(FORMULA_TRIGGERS) else value


def _cell(value: str) -> str:
    """A text cell of the rejected-rows CSV: neutralised, then on one line (`shown_value` already flattens
    whitespace; this keeps the one-line promise the merge relies on whatever a caller passes)."""
    return spreadsheet_safe(value).replace("\r\n", " ").replace("\r", " ").replace("\n", " ")


def rejected_csv_lines(outcomes: Iterable[RowOutcome]) -> str:
    """The rows not muted, one CSV line each, in row order.

    The admin opens this file in a spreadsheet, and `shown_id` is whatever the upload held (an invalid row's
    value), so every text cell is neutralised (`_cell`); the csv module quotes what needs quoting. The row
    number is written by this code and stays a bare number (the finisher merges parts by it).
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    for outcome in sorted(outcomes, key=lambda item: item.row):
        if outcome.outcome != "muted":
            writer.writerow(
                (outcome.row, _cell(outcome.shown_id), outcome.outcome, _cell(outcome.reason or ""))
            )
    return buffer.getvalue()


def merged_rejected_csv(fragments: list[str]) -> Iterator[str]:
    """The header, then every part's lines merged by row number (each fragment is already sorted)."""
    yield ",".join(REJECTED_CSV_HEADER) + "\n"
    yield from heapq.merge(*(_lines(fragment) for fragment in fragments), key=_row_number)


def _lines(fragment: str) -> Iterator[str]:
    start = 0
    while (end := fragment.find("\n", start)) >= 0:
        yield fragment[start : end + 1]
        start = end + 1


def _row_number(line: str) -> int:
    return int(line.split(",", 1)[0])
