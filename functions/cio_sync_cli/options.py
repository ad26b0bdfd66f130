"""The options every operator command takes, before or after its name (`cio-sync --stack S members ...` or
`cio-sync members ... --stack S`).

argparse lets a subcommand's defaults overwrite what the top-level parser read, so the top-level copies
store under their own names (`top_stack`...) and `settle` gives each command the one that was given.
"""

from __future__ import annotations

import argparse
import os
from typing import Any, Final

STACK_VARIABLE: Final = "CIO_SYNC_STACK"
NAMES: Final = ("stack", "region", "json")
TOP: Final = "top_"


def add_global_options(parser: Any, *, top: bool = False) -> None:
    """`--stack`, `--region` and `--json`, on a command (`top`: on the `cio-sync` parser itself)."""
    prefix = TOP if top else ""
    parser.add_argument(
        "--stack",
        dest=f"{prefix}stack",
        metavar="NAME",
        help=f"act on this CloudFormation stack (default: {STACK_VARIABLE}, AWS_ENDPOINT_URL and the "
        "resource variables, else the running local stack)",
    )
    parser.add_argument(
        "--region", dest=f"{prefix}region", help="the AWS region (default: AWS_REGION, the profile's)"
    )
    parser.add_argument("--json", dest=f"{prefix}json", action="store_true", help="print the data as JSON")


def settle(args: argparse.Namespace) -> argparse.Namespace:
    """Each option from after the command, else from before it; `--region` applies to every AWS client."""
    for name in NAMES:
        given = getattr(args, name, None) or getattr(args, TOP + name, None)
        setattr(args, name, given if given is not None else (False if name == "json" else None))
    if args.region:
        os.environ["AWS_REGION"] = args.region
    return args
