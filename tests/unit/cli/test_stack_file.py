"""The local stack file is found from any directory below the one `cio-sync local up` ran in, or named."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from cio_sync_cli.errors import CommandError
from cio_sync_cli.stack_file import STACK_FILE_VARIABLE, find_stack_file, read_stack_file
from cio_sync_cli.target import resolve_target
from cio_sync_local.local_cli import run_drain

LOCAL = {"aws_endpoint": "http://127.0.0.1:5000", "region": "us-east-1", "member_table": "local-members"}


def write_stack(directory: Path) -> Path:
    path = directory / ".local" / "stack.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(LOCAL))
    return path


def test_the_file_is_found_by_walking_up_from_a_subdirectory(tmp_path: Path) -> None:
    path = write_stack(tmp_path)
    below = tmp_path / "docs" / "deeper"
    below.mkdir(parents=True)
    assert find_stack_file(environ={}, cwd=below) == path
    assert read_stack_file(path) == LOCAL


def test_the_nearest_file_wins(tmp_path: Path) -> None:
    write_stack(tmp_path)
    nearer = write_stack(tmp_path / "other-checkout")
    assert find_stack_file(environ={}, cwd=tmp_path / "other-checkout") == nearer


def test_no_file_anywhere_above_is_none(tmp_path: Path) -> None:
    assert find_stack_file(environ={}, cwd=tmp_path) is None


def test_the_variable_names_the_file_and_a_missing_one_is_an_error(tmp_path: Path) -> None:
    path = write_stack(tmp_path / "elsewhere")
    assert find_stack_file(environ={STACK_FILE_VARIABLE: str(path)}, cwd=tmp_path) == path
    with pytest.raises(CommandError, match=f"{STACK_FILE_VARIABLE} names .* which does not exist"):
        find_stack_file(environ={STACK_FILE_VARIABLE: str(tmp_path / "gone.json")}, cwd=tmp_path)


def test_a_command_run_from_a_subdirectory_targets_the_local_stack(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_stack(tmp_path)
    below = tmp_path / "functions"
    below.mkdir()
    monkeypatch.chdir(below)
    monkeypatch.delenv(STACK_FILE_VARIABLE, raising=False)
    target = resolve_target(environ={})
    assert (target.source, target.member_table) == ("local", "local-members")
    assert target.endpoint_url == "http://127.0.0.1:5000"


def test_local_drain_reads_the_same_file_from_a_subdirectory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One reader for the CLI and the local tooling: `local drain` finds the file as every command does
    (this one names no control endpoint, so the drain stops at once, naming the file it found)."""
    path = write_stack(tmp_path)
    below = tmp_path / "docs"
    below.mkdir()
    monkeypatch.chdir(below)
    monkeypatch.delenv(STACK_FILE_VARIABLE, raising=False)
    with pytest.raises(CommandError, match=f"{path} names no control endpoint"):
        run_drain(argparse.Namespace(timeout=1.0, state_dir=None))
