"""`cio-sync local up` and `cio-sync local drain`: the whole system on this machine, and waiting for it.

`local up` runs in the foreground until Ctrl-C or SIGTERM and writes `.local/stack.json`; `local drain`,
from any other process in that directory or below (cio_sync_cli.stack_file finds the file), asks the
running stack (over its control endpoint named in stack.json) whether the pipeline is idle, and waits
until it is.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
import time
import urllib.error
import urllib.request
import warnings
from pathlib import Path
from types import FrameType
from typing import Any

from cio_sync_cli.errors import CommandError
from cio_sync_cli.stack_file import STACK_FILE_VARIABLE, find_stack_file, read_stack_file
from cio_sync_local.deploy import DeployError
from cio_sync_local.description import StackNotDeployed
from cio_sync_local.emulator.openapi import OpenApiDocumentMissing
from cio_sync_local.moto_server import MotoServerError
from cio_sync_local.stack import (
    DEFAULT_AWS_PORT,
    DEFAULT_CIO_PORT,
    READY_LINE,
    STATE_DIR,
    LocalStack,
    stack_file,
)

DEFAULT_DRAIN_TIMEOUT_S = 60.0
DRAIN_STEP_S = 2.0
SIGNAL_CHECK_S = 0.2
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def add_local_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `local up` and `local drain` on the `cio-sync` parser (handlers stored as `handler`)."""
    local = subparsers.add_parser(
        "local",
        help="the whole system on this machine (moto server, Customer.io emulator, pump)",
        description=__doc__,
    )
    commands = local.add_subparsers(dest="local_command", metavar="COMMAND", required=True)

    up = commands.add_parser("up", help="start the local stack and keep it running until Ctrl-C")
    up.add_argument("--no-demo", action="store_true", help="skip the demo; just run the stack")
    up.add_argument(
        "--aws-port",
        type=int,
        default=DEFAULT_AWS_PORT,
        help=f"moto server port (default: {DEFAULT_AWS_PORT}; 0 = any)",
    )
    up.add_argument(
        "--cio-port",
        type=int,
        default=DEFAULT_CIO_PORT,
        help=f"Customer.io emulator port (default: {DEFAULT_CIO_PORT}; 0 = any)",
    )
    up.add_argument(
        "--log-level",
        choices=LOG_LEVELS,
        default="WARNING",
        help="the functions' log level (default: WARNING)",
    )
    up.add_argument("--template", type=Path, default=None, help="SAM template (default: the repository's)")
    up.add_argument(
        "--state-dir", type=Path, default=STATE_DIR, help=f"where stack.json goes (default: {STATE_DIR})"
    )
    up.set_defaults(handler=run_up)

    drain = commands.add_parser("drain", help="wait until the local pipeline is idle")
    drain.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_DRAIN_TIMEOUT_S,
        help=f"give up after this many seconds (default: {DEFAULT_DRAIN_TIMEOUT_S:g})",
    )
    drain.add_argument(
        "--state-dir",
        type=Path,
        default=None,
        help=f"where stack.json is (default: {STACK_FILE_VARIABLE}, else {STATE_DIR} here or above)",
    )
    drain.set_defaults(handler=run_drain)


# ---- up -------------------------------------------------------------------------------------------------


def run_up(args: argparse.Namespace) -> int:
    _show_local_warnings()
    stopping = threading.Event()

    def request_stop(_signum: int, _frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    stack = LocalStack(
        aws_port=args.aws_port,
        cio_port=args.cio_port,
        demo=not args.no_demo,
        template=args.template,
        state_dir=args.state_dir,
        environment={"POWERTOOLS_LOG_LEVEL": args.log_level, "POWERTOOLS_METRICS_DISABLED": "true"},
    )
    try:
        stack.start()
    except (MotoServerError, DeployError, StackNotDeployed, OpenApiDocumentMissing, OSError) as error:
        raise CommandError(f"the local stack could not start: {_one_line(error)}") from error
    try:
        print(f"AWS (moto server):     {stack.aws_endpoint}")
        print(f"Customer.io emulator:  {stack.emulator_url}/  (open it in a browser)")
        print(f"reporting webhook URL: {stack.reporting_webhook_url}  (registered in the emulator)")
        print(f"stack file:            {stack_file(args.state_dir)}")
        print(READY_LINE, flush=True)
        if stack.demo and not stopping.is_set():
            from cio_sync_local.demo import run_demo  # noqa: PLC0415 - imported once the stack is ready

            run_demo(stack, stopping)
        print(f"running; the emulator page is {stack.emulator_url}/ - Ctrl-C stops everything", flush=True)
        # Woken now and then: a signal that another thread received runs its handler only when this
        # (main) thread next runs Python code, and a wait without a timeout may never return to it.
        while not stopping.wait(SIGNAL_CHECK_S):
            pass
    finally:
        stack.stop()
        print("cio-sync local stack stopped", flush=True)
    return 0


def _show_local_warnings() -> None:
    """The pump's own warnings on stderr (a failed invocation with its traceback, a skipped stream batch)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    local = logging.getLogger("cio_sync_local")
    local.addHandler(handler)
    local.setLevel(logging.WARNING)
    local.propagate = False
    # Metrics are disabled locally; Powertools still warns when a handler had none to publish.
    warnings.filterwarnings("ignore", message="No application metrics to publish")


def _one_line(error: BaseException) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    if not lines:
        return type(error).__name__
    return lines[0] if len(lines) == 1 else f"{lines[0]} ({lines[-1]})"


# ---- drain ----------------------------------------------------------------------------------------------


def run_drain(args: argparse.Namespace) -> int:
    path = stack_file(args.state_dir) if args.state_dir is not None else find_stack_file()
    info = read_stack_file(path) if path is not None else None
    if info is None:
        raise CommandError(
            f"no local stack is running here ({path or stack_file(None)} is missing); start one "
            "with `cio-sync local up`"
        )
    control_url = info.get("control_url")
    if not isinstance(control_url, str):
        raise CommandError(f"{path} names no control endpoint; restart `cio-sync local up`")
    deadline = time.monotonic() + args.timeout
    started = time.monotonic()
    shown = ""
    while True:
        step = max(min(DRAIN_STEP_S, deadline - time.monotonic()), 0.1)
        answer = _ask_idle(control_url, step)
        if answer.get("idle"):
            _clear_progress()
            print(f"pipeline idle after {time.monotonic() - started:.1f} s")
            return 0
        busy = "; ".join(str(reason) for reason in answer.get("reasons", []))
        if time.monotonic() >= deadline:
            _clear_progress()
            raise CommandError(f"pipeline not idle after {args.timeout:g} s: {busy}")
        shown = _show_progress(f"waiting {time.monotonic() - started:.0f} s: {busy}", busy, shown)


def _ask_idle(control_url: str, timeout: float) -> dict[str, Any]:
    request = urllib.request.Request(f"{control_url}/drain?timeout={timeout:.3f}", method="POST")  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=timeout + 30) as response:  # noqa: S310 - 127.0.0.1 URL
            answer: dict[str, Any] = json.loads(response.read())
    except urllib.error.HTTPError as error:
        raise CommandError(f"the local stack refused the drain request (HTTP {error.code})") from error
    except (urllib.error.URLError, ConnectionError, TimeoutError) as error:
        raise CommandError(
            f"the local stack at {control_url} is not answering; is `cio-sync local up` still running?"
        ) from error
    return answer


def _show_progress(text: str, busy: str, shown: str) -> str:
    """On a terminal, one line rewritten in place; elsewhere, a line each time what is busy changes."""
    if sys.stderr.isatty():
        sys.stderr.write("\r\033[K" + text[:150])
        sys.stderr.flush()
    elif busy != shown:
        print(text, file=sys.stderr, flush=True)
    return busy


def _clear_progress() -> None:
    if sys.stderr.isatty():
        sys.stderr.write("\r\033[K")
        sys.stderr.flush()
