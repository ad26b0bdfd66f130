"""Free text typed by members, made fit for a profile: tags stripped and length bounded, in linear time.

A profile is built for every stream record and every sync, from values any writer may store (up to
DynamoDB's 400 KB item). So the work must be bounded by a constant, not by the value: only the first
`MAX_SCAN_CHARS` characters are read, and the scan moves strictly forward (no backtracking regex; the
previous one was quadratic on `"<a" * 32000`).
"""

from __future__ import annotations

import re
from typing import Final

# The payload keeps 1000 bytes (at least 250 characters) of a value; reading 8x that leaves room for
# markup. Beyond it a value is cut before stripping (docs/member-contract.md, "Profile payload").
MAX_SCAN_CHARS: Final = 8_000

_TAG_START: Final = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz/!?")
_TAG_STOP: Final = re.compile(r"[>\"']")  # one character class: a forward search, never a backtrack


def strip_html(text: str, limit: int = MAX_SCAN_CHARS) -> str:
    """Text outside tags, entities left encoded, like PHP's strip_tags, from the first `limit` characters.

    A tag is `<` followed by a letter, `/`, `!` or `?`, up to the next `>` outside quotes (a comment,
    `<!--`, up to `-->`). A tag left open at the end is dropped (browsers drop it). When the value is cut,
    a `<` at the cut is dropped too, so the result is always a prefix of what the whole value gives.
    """
    cut = len(text) > limit
    if cut:
        text = text[:limit]
    parts: list[str] = []
    position, end = 0, len(text)
    while position < end:
        opening = text.find("<", position)
        if opening < 0:
            parts.append(text[position:])
            break
        parts.append(text[position:opening])
        if opening + 1 == end:
            if not cut:
                parts.append("<")
            break
        if text[opening + 1] not in _TAG_START:
            parts.append("<")
            position = opening + 1
            continue
        closing = _tag_end(text, opening + 1)
        if closing < 0:
            break
        position = closing + 1
    return "".join(parts)


def _tag_end(text: str, start: int) -> int:
    """The index of the `>` that closes the tag whose name starts at `start`; -1 if it never closes."""
    if text.startswith("!--", start):
        closing = text.find("-->", start + 3)
        return -1 if closing < 0 else closing + 2
    position = start
    while True:
        stop = _TAG_STOP.search(text, position)
        if stop is None:
            return -1
        if stop.group() == ">":
            return stop.start()
        quote_end = text.find(stop.group(), stop.end())
        if quote_end < 0:
            return -1
        position = quote_end + 1


def truncate_utf8(text: str, max_bytes: int) -> str:
    """The longest prefix of `text` that fits in `max_bytes` of UTF-8 without splitting a character."""
    if len(text) * 4 <= max_bytes:
        return text
    encoded = text.encode("utf-8", errors="surrogatepass")
    if len(encoded) <= max_bytes:
        return text
    return encoded[:max_bytes].decode("utf-8", errors="ignore")


def utf8_length(text: str) -> int:
    return len(text.encode("utf-8", errors="surrogatepass"))
