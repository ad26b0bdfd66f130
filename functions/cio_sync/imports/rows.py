"""Reads a Mute Promotions CSV as a stream of rows, in constant memory, or rejects the whole file.

The file arrives as an iterable of byte chunks (an S3 body). It is decoded incrementally, split into lines
ourselves (LF, CRLF and lone CR, even when a CR and its LF fall in different chunks) and handed to Python's
csv module, so quoted fields work. Nothing here holds more than one line (or one csv record) at a time.

Whole-file problems raise `FileRejected` with a reason for the admin; they can surface only once the file
has been read to the end (no data rows, too large), which is why the planner reads it fully before acting.
"""

from __future__ import annotations

import codecs
import csv
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Final

ID_COLUMN: Final = "northstar_id"
# No genuine row (an id and a few other columns) comes near this; a line this long means the file is not a
# list of member ids (a binary blob without newlines, or a one-line export) and is rejected whole.
MAX_LINE_CHARS: Final = 65_536
# The csv module's own per-field cap, reached when an unclosed quote swallows the lines after it.
MAX_FIELD_CHARS: Final = csv.field_size_limit()
# Shown in the report for an invalid row: enough to recognise the value, not a dump of a broken line.
MAX_SHOWN_CHARS: Final = 64

_MEMBER_ID = re.compile(r"[0-9a-f]{24}")
_WHITESPACE_RUN = re.compile(r"\s+")


class FileRejected(Exception):
    """The file as a whole cannot be imported; `reason` is for the admin and holds no row content."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class SourceRow:
    """A data row: `number` is the file line it starts on (the header is line 1), `value` its id field."""

    number: int
    value: str
    has_id_field: bool = True


@dataclass(frozen=True, slots=True)
class CheckedRow:
    """A data row after validation: either a member id or the reason it cannot be one."""

    number: int
    member_id: str | None
    shown_value: str
    reason: str | None


def check_row(row: SourceRow) -> CheckedRow:
    """Trim, lower and validate the id: the only per-row rule the file itself can decide."""
    candidate = row.value.strip().lower()
    if _MEMBER_ID.fullmatch(candidate):
        return CheckedRow(row.number, candidate, candidate, None)
    shown = shown_value(row.value)
    if not row.has_id_field:
        return CheckedRow(row.number, None, shown, "row has no northstar_id field")
    if not candidate:
        return CheckedRow(row.number, None, shown, "northstar_id is empty")
    return CheckedRow(row.number, None, shown, "northstar_id is not 24 hexadecimal characters")


def shown_value(value: str) -> str:
    """One line, trimmed and capped, so every report row stays one CSV line."""
    flat = _WHITESPACE_RUN.sub(" ", value).strip()
    return flat if len(flat) <= MAX_SHOWN_CHARS else flat[: MAX_SHOWN_CHARS - 1] + "…"


def normalised_column(name: str) -> str:
    """Header names match case-insensitively with spaces ignored (` NorthStar_ID ` is the id column)."""
    return "".join(name.split()).lower()


def text_lines(chunks: Iterable[bytes], max_bytes: int) -> Iterator[str]:
    """Decode UTF-8 (BOM tolerated) and yield lines ending in `\\n`, whatever line endings the file used.

    CRLF and lone CR become LF, which is harmless: only the id column matters and ids hold no newlines.
    """
    decoder = codecs.getincrementaldecoder("utf-8-sig")(errors="strict")
    consumed = 0
    line_number = 0
    # The unfinished line, kept as pieces so a line spread over many chunks is joined once, not per chunk.
    partial: list[str] = []
    partial_length = 0
    for chunk in chunks:
        if not chunk:
            continue
        consumed += len(chunk)
        if consumed > max_bytes:
            raise FileRejected(f"file is larger than the {max_bytes}-byte limit")
        text = _decoded(decoder, chunk, consumed - len(chunk))
        if "\n" not in text and "\r" not in text:
            partial.append(text)
            partial_length += len(text)
            if partial_length > MAX_LINE_CHARS:
                raise FileRejected(_long_line(line_number + 1))
            continue
        text = "".join(partial) + text
        # A CR at the very end may be the first half of a CRLF split across chunks: keep it back.
        held = ""
        if text.endswith("\r"):
            text, held = text[:-1], "\r"
        pieces = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        unfinished = pieces.pop() + held
        partial, partial_length = [unfinished], len(unfinished)
        for piece in pieces:
            line_number += 1
            if len(piece) > MAX_LINE_CHARS:
                raise FileRejected(_long_line(line_number))
            yield piece + "\n"
        if partial_length > MAX_LINE_CHARS:
            raise FileRejected(_long_line(line_number + 1))
    try:
        tail = decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        raise FileRejected(f"file is not UTF-8 text (truncated character at offset {consumed})") from None
    pieces = ("".join(partial) + tail).replace("\r\n", "\n").replace("\r", "\n").split("\n")
    last = pieces.pop()
    for piece in pieces:
        yield piece + "\n"
    if last:
        yield last + "\n"


def _decoded(decoder: codecs.IncrementalDecoder, chunk: bytes, offset: int) -> str:
    try:
        text = decoder.decode(chunk)
    except UnicodeDecodeError as error:
        raise FileRejected(
            f"file is not UTF-8 text (invalid byte near offset {offset + max(error.start, 0)})"
        ) from None
    if "\x00" in text:
        raise FileRejected("file holds NUL bytes: binary data, not a CSV text file")
    return text


def _long_line(line_number: int) -> str:
    return f"line {line_number} is longer than {MAX_LINE_CHARS} characters: not a CSV of member ids"


def source_rows(chunks: Iterable[bytes], max_bytes: int) -> Iterator[SourceRow]:
    """Every data row of the file, in order, or `FileRejected` (possibly after some rows were yielded).

    Blank lines, and rows whose fields are all blank (spreadsheet exports end with `,,,`), are skipped.
    """
    reader = csv.reader(text_lines(chunks, max_bytes), strict=False)
    id_index: int | None = None
    data_rows = 0
    while True:
        first_line = reader.line_num + 1
        try:
            record = next(reader)
        except StopIteration:
            break
        except csv.Error as error:
            raise FileRejected(_csv_problem(first_line, error)) from None
        fields = [field.strip() for field in record]
        if not any(fields):
            continue
        if id_index is None:
            id_index = _id_column(fields)
            continue
        data_rows += 1
        if id_index < len(fields):
            yield SourceRow(first_line, fields[id_index])
        else:
            yield SourceRow(first_line, "", has_id_field=False)
    if id_index is None:
        raise FileRejected("file is empty: no header row")
    if data_rows == 0:
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
    return f"line {line_number} is not valid CSV ({error})"
