"""Free text: PHP strip_tags semantics, linear on any input, and the scan cap's documented rule."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cio_sync.members.text import MAX_SCAN_CHARS, strip_html, truncate_utf8

markup = st.text(alphabet="ab<>/!?-\"' &;é", max_size=60)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<b>Ada</b> <i>Lovelace</i>", "Ada Lovelace"),
        ('<a title="x>y">Ann</a>', "Ann"),
        ("<!-- a > b -->Ann", "Ann"),
        ("Ann <3 &amp; Bob", "Ann <3 &amp; Bob"),
        ("a <", "a <"),
        ("Bob <a href='x", "Bob "),
        ("<a" * 5 + ">Ann", "Ann"),
    ],
)
def test_strip_html(text: str, expected: str) -> None:
    assert strip_html(text) == expected


@given(markup, st.integers(min_value=0, max_value=60))
def test_a_cut_value_strips_to_a_prefix_of_what_the_whole_value_gives(text: str, limit: int) -> None:
    """The documented rule: reading only the first `limit` characters never invents or reorders text, so
    once the cut value yields the 1000 bytes the payload keeps, the whole value would yield the same."""
    whole = strip_html(text, limit=len(text))
    cut = strip_html(text, limit=limit)
    assert whole.startswith(cut)
    if len(cut.encode()) >= 8:
        assert truncate_utf8(cut, 8) == truncate_utf8(whole, 8)


def test_the_scan_reads_at_most_the_cap() -> None:
    assert strip_html("a" * (MAX_SCAN_CHARS + 500)) == "a" * MAX_SCAN_CHARS
    assert strip_html("a" * (MAX_SCAN_CHARS - 1) + "<b>tail") == "a" * (MAX_SCAN_CHARS - 1)
