"""The `cio-sync` operator command line.

Each command group lives in its own module; this one only builds the parser and turns expected failures
into one clear line and a non-zero exit, never a traceback. Commands of other distributions (the local
stack, the emulator) plug in through the `cio_sync.commands` entry-point group, so this package never
names them; one that fails to load fails the command loudly instead of vanishing from the help.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from importlib.metadata import entry_points
from typing import Any

from cio_sync import __version__
from cio_sync_cli.consent_cli import add_consent_commands
from cio_sync_cli.dlq_cli import add_dlq_commands
from cio_sync_cli.doctor_cli import add_doctor_command
from cio_sync_cli.errors import CommandError
from cio_sync_cli.imports_cli import add_imports_commands
from cio_sync_cli.members_cli import add_members_commands
from cio_sync_cli.reconcile_cli import add_reconcile_command

COMMAND_GROUP = "cio_sync.commands"

Handler = Callable[[argparse.Namespace], int]
AddCommands = Callable[[Any], None]


def plugin_commands() -> list[AddCommands]:
    """The `cio_sync.commands` entry points, by name; an import error propagates (never hidden)."""
    found = sorted(entry_points(group=COMMAND_GROUP), key=lambda point: point.name)
    loaded: list[AddCommands] = [point.load() for point in found]
    return loaded


def build_parser(plugins: Sequence[AddCommands] | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cio-sync", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"cio-sync {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    add_imports_commands(subparsers)
    add_members_commands(subparsers)
    add_reconcile_command(subparsers)
    add_dlq_commands(subparsers)
    add_doctor_command(subparsers)
    add_consent_commands(subparsers)
    for add_commands in plugin_commands() if plugins is None else plugins:
        add_commands(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    try:
        return handler(args)
    except CommandError as error:
        print(f"cio-sync: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
