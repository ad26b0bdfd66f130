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


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--consent", "--members-only"], "alone or with --profiles-only"),
        (["--consent", "--from-failures"], "alone or with --profiles-only"),
        (["--consent", "--member", "5f0c8e2a9b1d4c3e2f1a0b9c"], "cannot go with"),
        (["--consent", "--check-attributes"], "need --profiles-only"),
        (["--consent", "--max-deletes", "5"], "need --profiles-only"),
    ],
)
def test_the_consent_read_back_alone_queues_nothing_so_refuses_what_would_queue(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["reconcile", *argv]) != 0
    assert message in capsys.readouterr().err
