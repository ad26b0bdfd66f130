"""`cio-sync reconcile --approve-deletes`: refused at once unless it can match a held set (a whole walk of
the profiles side, a digest of the shape a sweep logs), before any target is resolved."""

from __future__ import annotations

import pytest

from cio_sync_cli.main import main

DIGEST = "12-0123456789abcdef0123"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--approve-deletes", DIGEST], "--profiles-only"),
        (["--members-only", "--approve-deletes", DIGEST], "--profiles-only"),
        (["--profiles-only", "--start", "abc", "--approve-deletes", DIGEST], "whole walk"),
        (["--profiles-only", "--approve-deletes", "12-ZZ"], "held_deletes"),
    ],
)
def test_an_approval_needs_a_whole_walk_of_the_profiles_side(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["reconcile", *argv]) != 0
    assert message in capsys.readouterr().err
