"""The `cio-sync` operator command line.

Each command group lives with the concern it drives; this module only builds the parser and turns
expected failures into one clear line and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import Any

from cio_sync import __version__


class CommandError(Exception):
    """An expected problem (bad input, stack not running): printed as one line, exit status 1."""


Handler = Callable[[argparse.Namespace], int]


def _local_tooling_commands(subparsers: Any) -> None:
    """Commands backed by the local tooling (emulator, local stack), absent from the Lambda package."""
    try:
        from cio_sync_local.emulator_cli import add_emulator_command  # noqa: PLC0415 - never on Lambda
        from cio_sync_local.local_cli import add_local_commands  # noqa: PLC0415
    except ImportError:
        return
    add_emulator_command(subparsers)
    add_local_commands(subparsers)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cio-sync", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"cio-sync {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    # Imported here: each command module imports CommandError from this one.
    from cio_sync.imports.cli import add_imports_commands  # noqa: PLC0415
    from cio_sync.ops.dlq_cli import add_dlq_commands  # noqa: PLC0415
    from cio_sync.ops.members_cli import add_members_commands  # noqa: PLC0415
    from cio_sync.ops.reconcile_cli import add_reconcile_command  # noqa: PLC0415

    add_imports_commands(subparsers)
    add_members_commands(subparsers)
    add_reconcile_command(subparsers)
    add_dlq_commands(subparsers)
    _local_tooling_commands(subparsers)
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


if __name__ == "__main__":
    # Run as `python -m cio_sync.cli`, this file is __main__ *and* (through the command modules)
    # cio_sync.cli: use the latter's main so there is one CommandError class.
    from cio_sync.cli import main as _main

    sys.exit(_main())
