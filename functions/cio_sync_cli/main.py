"""The `cio-sync` operator command line.

Each command group lives in its own module; this one only builds the parser and turns expected failures
into one clear line and a non-zero exit, never a traceback. Commands of other distributions (the local
stack, the emulator) plug in through the `cio_sync.commands` entry-point group, so this package never
names them. One whose extra is not installed (`pip install .` without `[local]`) stays in the help and
says which extra to install; any other failure to load fails loudly instead of vanishing from the help.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from importlib.metadata import EntryPoint, entry_points
from typing import Any, Final

from cio_sync import __version__
from cio_sync_cli.consent_cli import add_consent_commands
from cio_sync_cli.dlq_cli import add_dlq_commands
from cio_sync_cli.doctor_cli import add_doctor_command
from cio_sync_cli.errors import CommandError
from cio_sync_cli.imports_cli import add_imports_commands
from cio_sync_cli.members_cli import add_members_commands
from cio_sync_cli.options import add_global_options, settle
from cio_sync_cli.reconcile_cli import add_reconcile_command

COMMAND_GROUP = "cio_sync.commands"
DEFAULT_EXTRA: Final = "local"  # the extra of an entry point that declares none
EXIT_OK: Final = 0
EXIT_FAILED: Final = 1
EXIT_USAGE: Final = 2
EXIT_INTERRUPTED: Final = 130
EXIT_PIPE_CLOSED: Final = 141  # 128 + SIGPIPE, as a shell reports a command killed by it
EXIT_CODES: Final = f"""exit status:
  {EXIT_OK}    done
  {EXIT_FAILED}    failed or refused, said in one line on stderr (also: an import rejected, a redrive
       or reconcile that left work undone, a doctor check that failed)
  {EXIT_USAGE}    bad command line
  {EXIT_INTERRUPTED}  interrupted (Ctrl-C)
  {EXIT_PIPE_CLOSED}  the reader of the output went away (e.g. `| head`); nothing is printed about it"""

Handler = Callable[[argparse.Namespace], int]
AddCommands = Callable[[Any], None]


def plugin_commands(points: Sequence[EntryPoint] | None = None) -> list[AddCommands]:
    """The `cio_sync.commands` entry points, by name; a missing extra becomes a command that names it."""
    if points is None:
        points = list(entry_points(group=COMMAND_GROUP))
    loaded: list[AddCommands] = []
    for point in sorted(points, key=lambda point: point.name):
        try:
            loaded.append(point.load())
        except ModuleNotFoundError as error:
            if (error.name or "").partition(".")[0] in ("cio_sync", "cio_sync_cli"):
                raise  # our own package is broken: never hide that
            loaded.append(_needs_extra(point, error.name or "?"))
    return loaded


def _needs_extra(point: EntryPoint, module: str) -> AddCommands:
    extra = point.extras[0] if point.extras else DEFAULT_EXTRA
    install = f"pip install 'cio-sync[{extra}]'"
    why = f"`cio-sync {point.name}` needs the '{extra}' extra (no module {module}): {install}"

    def refuse(_args: argparse.Namespace) -> int:
        raise CommandError(why)

    def add(subparsers: Any) -> None:
        parser = subparsers.add_parser(point.name, help=f"(not installed: {install})", description=why)
        parser.add_argument("arguments", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
        parser.set_defaults(handler=refuse)

    return add


def build_parser(plugins: Sequence[AddCommands] | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cio-sync",
        description=__doc__.splitlines()[0],
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"cio-sync {__version__}")
    add_global_options(parser, top=True)
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
    try:
        try:
            return _run(argv)
        finally:
            sys.stdout.flush()  # here, so that a closed pipe shows inside this try, not at exit
    except BrokenPipeError:
        # Python would print a traceback, then another when it flushes stdout at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_PIPE_CLOSED


def _run(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args = settle(parser.parse_args(argv))
    handler: Handler | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        code = handler(args)
    except CommandError as error:
        print(f"cio-sync: {error}", file=sys.stderr)
        code = EXIT_FAILED
    except KeyboardInterrupt:
        code = EXIT_INTERRUPTED
    return code
