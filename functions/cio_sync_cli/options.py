"""The options every operator command takes, before or after its name (`cio-sync --stack S members ...` or
`cio-sync members ... --stack S`).

argparse gives a subcommand's defaults precedence over what the top-level parser read, so the options are
declared on both with no default (SUPPRESS) and the defaults are filled in once, after parsing.
"""

from __future__ import annotations

import argparse
import os
from typing import Any, Final

STACK_VARIABLE: Final = "CIO_SYNC_STACK"
DEFAULTS: Final = {"stack": None, "region": None, "json": False}


def add_global_options(parser: Any) -> None:
    """`--stack`, `--region` and `--json`, on the top-level parser and on each command."""
    parser.add_argument(
        "--stack",
        metavar="NAME",
        default=argparse.SUPPRESS,
        help=f"act on this CloudFormation stack (default: {STACK_VARIABLE}, AWS_ENDPOINT_URL and the "
        "resource variables, else the running local stack)",
    )
    parser.add_argument(
        "--region", default=argparse.SUPPRESS, help="the AWS region (default: AWS_REGION, the profile's)"
    )
    parser.add_argument(
        "--json", action="store_true", default=argparse.SUPPRESS, help="print the data as JSON"
    )


def settle(args: argparse.Namespace) -> argparse.Namespace:
    """Fill in the options nobody gave; `--region` applies to every AWS client the command makes."""
    for name, default in DEFAULTS.items():
        if not hasattr(args, name):
            setattr(args, name, default)
    if args.region:
        os.environ["AWS_REGION"] = args.region
    return args
