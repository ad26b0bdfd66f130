"""Every `cio-sync ...` command line the docs show names commands and flags the CLI parser has, so renaming
a flag or a command fails here until the docs follow (the docs were walked through as written; this keeps
them walkable)."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from cio_sync_cli.main import build_parser

ROOT = Path(__file__).resolve().parents[3]
DOCS = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md")])
FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.MULTILINE | re.DOTALL)
SPAN = re.compile(r"`([^`\n]+)`")
# A command starts at `cio-sync ` followed by a word; a shell comment ends it.
COMMAND = re.compile(r"(?<![\w/-])cio-sync (?=[a-z-])([^#\n]*)")
FLAG = re.compile(r"--[a-z][a-z0-9-]*")


def doc_commands(text: str) -> list[str]:
    """The `cio-sync` command lines in fenced blocks and inline code spans (never prose)."""
    pieces = FENCE.findall(text)
    pieces += SPAN.findall(FENCE.sub("", text))
    return [match.strip() for piece in pieces for match in COMMAND.findall(piece)]


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    found: dict[str, argparse.ArgumentParser] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            found.update(action.choices)
    return found


def options(parser: argparse.ArgumentParser) -> set[str]:
    return {option for action in parser._actions for option in action.option_strings}


def problems(command: str, top: argparse.ArgumentParser) -> list[str]:
    """What in one doc command line the parser does not know: a command, or a flag of the command.

    `a | b` shows alternatives: `b` is a subcommand of the nearest command above that has it (`members
    show ID | update ID`, `local up | local drain | emulator`), or a flag of the current one.
    """
    tokens = [token.strip("[](),.;") for token in command.replace("|", " | ").split()]  # `[--a|--b]` too
    chain = [top]
    found: list[str] = []
    alternative = False
    for token in tokens:
        if token == "|":
            alternative = True
            continue
        if FLAG.fullmatch(token.split("=", 1)[0]):
            flag = token.split("=", 1)[0]
            if flag not in options(chain[-1]) | options(top):
                found.append(f"{chain[-1].prog}: no {flag}")
        elif alternative:
            for depth in range(len(chain) - 1, -1, -1):
                if token in subcommands(chain[depth]):
                    chain = [*chain[: depth + 1], subcommands(chain[depth])[token]]
                    break
        elif token in subcommands(chain[-1]):
            chain.append(subcommands(chain[-1])[token])
        alternative = False
    if len(chain) == 1 and "..." not in command:  # `cio-sync --stack NAME ...`: any command
        found.append(f"no command in {command!r}")
    return found


@pytest.mark.parametrize("doc", DOCS, ids=lambda path: path.name)
def test_every_command_line_in_the_docs_parses(doc: Path) -> None:
    top = build_parser()
    commands = doc_commands(doc.read_text(encoding="utf-8"))
    assert [problem for command in commands for problem in problems(command, top)] == []


def test_the_walked_docs_show_commands() -> None:
    """The two operator docs are where the commands live: an extraction that finds none checks nothing."""
    for name in ("operations.md", "deploy.md"):
        assert doc_commands((ROOT / "docs" / name).read_text(encoding="utf-8"))


def test_a_renamed_flag_or_command_is_found() -> None:
    top = build_parser()
    assert problems("cio-sync members show ID | update ID --set a=b | mute ID", top) == []
    assert problems("cio-sync local up [--no-demo] | local drain | emulator --port 8099", top) == []
    assert problems("cio-sync reconcile --members-only | --member ID ...", top) == []
    assert problems("cio-sync dlq list --queues track", top) == ["cio-sync dlq list: no --queues"]
    assert problems("cio-sync dlq list [--json|--queues track]", top) == ["cio-sync dlq list: no --queues"]
    assert problems("cio-sync members delete ID --force", top) == ["cio-sync members delete: no --force"]
    assert problems("cio-sync member show ID", top) == ["no command in 'cio-sync member show ID'"]
