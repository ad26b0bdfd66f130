"""A CSV upload's bytes as text lines: decoded incrementally, split on LF, CRLF and lone CR (even when a CR
and its LF fall in different chunks), in constant memory, or the whole file rejected with its reason."""

from __future__ import annotations

import codecs
import itertools
from collections.abc import Iterable, Iterator
from typing import Final, NamedTuple

# No genuine row (an id and a few other columns) comes near this; a line this long means the file is not a
# list of member ids (a binary blob without newlines, or a one-line export) and is rejected whole.
MAX_LINE_CHARS: Final = 65_536


class FileRejected(Exception):
    """The file as a whole cannot be imported; `reason` is for the admin and holds no row content."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Block(NamedTuple):
    """Complete lines of the file (without their `\\n`); `quoted` when one holds a `"`, which only the csv
    module reads right (a quoted comma, or a field over several lines)."""

    lines: list[str]
    quoted: bool


def text_lines(chunks: Iterable[bytes], max_bytes: int) -> Iterator[str]:
    """Decode UTF-8 (BOM tolerated) and yield lines ending in `\\n`, whatever line endings the file used.

    CRLF and lone CR become LF, which is harmless: only the id column matters and ids hold no newlines.
    """
    return with_newlines(line_blocks(chunks, max_bytes))


def with_newlines(blocks: Iterable[Block]) -> Iterator[str]:
    return itertools.chain.from_iterable([line + "\n" for line in block.lines] for block in blocks)


def line_blocks(chunks: Iterable[bytes], max_bytes: int) -> Iterator[Block]:
    """The complete lines of each chunk, as one list per chunk (decoded and split by str methods)."""
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
        if "\r" in text:
            text = text.replace("\r\n", "\n").replace("\r", "\n")
        lines = text.split("\n")
        unfinished = lines.pop() + held
        _check_lengths(lines, line_number)
        line_number += len(lines)
        yield Block(lines, '"' in text)
        partial, partial_length = [unfinished], len(unfinished)
        if partial_length > MAX_LINE_CHARS:
            raise FileRejected(_long_line(line_number + 1))
    try:
        tail = decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        raise FileRejected(f"file is not UTF-8 text (truncated character at offset {consumed})") from None
    text = ("".join(partial) + tail).replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    if not lines[-1]:
        lines.pop()
    yield Block(lines, '"' in text)


def _check_lengths(lines: list[str], lines_before: int) -> None:
    if lines and max(map(len, lines)) > MAX_LINE_CHARS:
        longest = next(index for index, line in enumerate(lines) if len(line) > MAX_LINE_CHARS)
        raise FileRejected(_long_line(lines_before + longest + 1))


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
