"""`members mute`, `imports upload` and `reconcile` change Customer.io: without a terminal to ask on they
need --yes, and a refusal changes nothing (issue 24: destructive commands confirm)."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest

from cio_sync_cli.target import IMPORT_BUCKET
from tests.integration.ops.conftest import REGION, Cli, Resources, assert_one_line_error

BUCKET = "ops-imports"


class Terminal(io.StringIO):
    """A stdin that is a terminal, with the operator's answer already typed."""

    def isatty(self) -> bool:
        return True


@dataclass
class Ada:
    id: str
    csv: str
    resources: Resources


@pytest.fixture
def ada(resources: Resources, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Ada:
    """A member, an imports bucket listing her, and no terminal on stdin."""
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    boto3.client("s3", region_name=REGION).create_bucket(Bucket=BUCKET)
    monkeypatch.setenv(IMPORT_BUCKET.variable, BUCKET)
    member_id = str(resources.members.create_web_signup({"email": "ada@example.org"})["id"])
    listing = tmp_path / "mute.csv"
    listing.write_text(f"northstar_id\n{member_id}\n", encoding="utf-8")
    return Ada(member_id, str(listing), resources)


def uploaded(ada: Ada) -> bool:
    return int(boto3.client("s3", region_name=REGION).list_objects_v2(Bucket=BUCKET)["KeyCount"]) > 0


def muted(ada: Ada) -> bool:
    item = ada.resources.members.get(ada.id)
    return item is not None and item.get("promotions_muted_at") is not None


def queued(ada: Ada) -> bool:
    return ada.resources.visible("TrackQueue") > 0


Command = tuple[Callable[[Ada], list[str]], str, Callable[[Ada], bool]]
COMMANDS: dict[str, Command] = {
    "mute": (lambda ada: ["members", "mute", ada.id], "mute changes a member", muted),
    "upload": (lambda ada: ["imports", "upload", ada.csv], "upload mutes members", uploaded),
    "reconcile": (lambda _: ["reconcile", "--members-only"], "reconcile changes Customer.io", queued),
}


@pytest.mark.parametrize("name", COMMANDS)
def test_without_a_terminal_it_needs_yes_and_a_refusal_changes_nothing(ada: Ada, cli: Cli, name: str) -> None:
    argv, what, changed = COMMANDS[name]
    assert_one_line_error(cli(*argv(ada)), f"{what}: pass --yes to confirm (no terminal to ask on)")
    assert not changed(ada)

    done = cli(*argv(ada), "--yes")
    assert done.code == 0, done.err
    assert changed(ada)


@pytest.mark.parametrize("name", COMMANDS)
def test_on_a_terminal_it_asks_naming_the_stack_and_no_answer_changes_nothing(
    ada: Ada, cli: Cli, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    argv, _, changed = COMMANDS[name]
    monkeypatch.setattr("sys.stdin", Terminal("\n"))
    refused = cli(*argv(ada))
    question = refused.err.splitlines()[0]
    assert "environment" in question  # the target
    assert question.endswith("[y/N] cio-sync: cancelled: nothing was changed")
    assert "example.org" not in refused.err
    assert not changed(ada)

    monkeypatch.setattr("sys.stdin", Terminal("y\n"))
    assert cli(*argv(ada)).code == 0
    assert changed(ada)


def test_the_reconcile_question_names_each_side_that_writes(
    ada: Ada, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", Terminal("n\n"))
    question = cli("reconcile", "--member", ada.id).err
    assert "sync 1 member(s)?" in question
    assert "profiles" not in question
    question = cli("reconcile").err
    assert "sync every member; sync the profiles that differ" in question


def test_dry_runs_never_ask(ada: Ada, cli: Cli) -> None:
    counted = cli("reconcile", "--members-only", "--dry-run")
    assert counted.code == 0, counted.err
    assert json.loads(counted.out)["dry_run"] is True
    checked = cli("imports", "upload", ada.csv, "--dry-run")
    assert checked.code == 0, checked.err
    assert not muted(ada)
    assert not queued(ada)
