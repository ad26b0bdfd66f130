"""`cio-sync emulator`: run the local Customer.io in the foreground until Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from types import FrameType
from typing import Any

from cio_sync_local.emulator import Emulator
from cio_sync_local.emulator.faults import FaultConfig, FaultConfigError
from cio_sync_local.emulator.openapi import OpenApiDocumentMissing
from cio_sync_local.emulator.requestlog import REQUEST_LOG_BODY_BYTES, REQUEST_LOG_SIZE
from cio_sync_local.emulator.server import REGIONS
from cio_sync_local.emulator.state import EMAIL_IDENTIFIER_MODES

DEFAULT_PORT = 8099
DEFAULT_SITE_ID = "cio-sync-local"
DEFAULT_TRACK_API_KEY = "local-track-key"
DEFAULT_APP_API_KEY = "local-app-key"


def add_emulator_command(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `emulator` on the `cio-sync` parser; its handler is stored as `handler` for `main`."""
    parser = subparsers.add_parser(
        "emulator",
        help="run a local Customer.io (Track v1/v2 and the App API) emulator",
        description=__doc__,
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    parser.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help=f"port of the US hosts' stand-in (default: {DEFAULT_PORT})",
    )
    parser.add_argument(
        "--eu-port", type=int, default=0, help="port of the EU hosts' stand-in (default: any free port)"
    )
    parser.add_argument(
        "--region",
        choices=REGIONS,
        default="us",
        help="the workspace's region: calls on the other region's hosts get 301 or 401 (default: us)",
    )
    parser.add_argument(
        "--email-identifier",
        choices=EMAIL_IDENTIFIER_MODES,
        default="off",
        help="'unique': email also identifies people, as in workspaces set to 'Email or ID' (default: off)",
    )
    parser.add_argument(
        "--request-log-size",
        type=int,
        default=REQUEST_LOG_SIZE,
        help=f"requests /_emulator/requests keeps, oldest dropped first (default: {REQUEST_LOG_SIZE})",
    )
    parser.add_argument(
        "--request-log-body-bytes",
        type=int,
        default=REQUEST_LOG_BODY_BYTES,
        help=f"bytes of request bodies kept, oldest dropped first (default: {REQUEST_LOG_BODY_BYTES})",
    )
    parser.add_argument(
        "--site-id", default=DEFAULT_SITE_ID, help=f"Track site id (default: {DEFAULT_SITE_ID})"
    )
    parser.add_argument(
        "--track-api-key",
        default=DEFAULT_TRACK_API_KEY,
        help=f"Track API key (default: {DEFAULT_TRACK_API_KEY})",
    )
    parser.add_argument(
        "--app-api-key", default=DEFAULT_APP_API_KEY, help=f"App API key (default: {DEFAULT_APP_API_KEY})"
    )
    parser.add_argument(
        "--openapi",
        type=Path,
        default=None,
        help="Customer.io's Track OpenAPI document (default: $CIO_OPENAPI_PATH, else the bundled copy)",
    )
    parser.add_argument("--no-validate", action="store_true", help="serve without OpenAPI validation")
    parser.add_argument("--rate-limit", type=int, default=None, help="requests per second before 429")
    parser.add_argument("--fail-ratio", type=float, default=0.0, help="share of requests that fail (0..1)")
    parser.add_argument(
        "--fail-status", type=int, default=503, help="status of failed requests (default: 503)"
    )
    parser.add_argument("--latency-ms", type=int, default=0, help="added latency per request")
    parser.add_argument(
        "--drop-ratio", type=float, default=0.0, help="share of connections closed unanswered"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed for fault injection")
    parser.set_defaults(handler=run_emulator)


def run_emulator(args: argparse.Namespace) -> int:
    """Serve until interrupted. Expected problems print one line and return 1."""
    stopped = threading.Event()

    def stop(_signum: int, _frame: FrameType | None) -> None:
        stopped.set()

    # Before the servers answer, so a signal sent as soon as they do is never lost. SIGINT too: a process
    # started from a background job without job control inherits SIGINT ignored, and Python then raises
    # no KeyboardInterrupt, so Ctrl-C (or a test's SIGINT) would not stop it.
    previous = {number: signal.signal(number, stop) for number in (signal.SIGTERM, signal.SIGINT)}
    try:
        faults = FaultConfig(
            rate_limit_per_s=args.rate_limit,
            fail_ratio=args.fail_ratio,
            fail_status=args.fail_status,
            latency_ms=args.latency_ms,
            drop_ratio=args.drop_ratio,
            seed=args.seed,
        )
        emulator = Emulator(
            site_id=args.site_id,
            track_api_key=args.track_api_key,
            app_api_key=args.app_api_key,
            host=args.host,
            port=args.port,
            eu_port=args.eu_port,
            openapi_path=args.openapi,
            validate=not args.no_validate,
            faults=faults,
            region=args.region,
            email_identifier=args.email_identifier,
            request_log_size=args.request_log_size,
            request_log_body_bytes=args.request_log_body_bytes,
        )
        emulator.start()
    except (OpenApiDocumentMissing, FaultConfigError, ValueError, OSError) as error:
        _restore(previous)
        print(f"cio-sync emulator: {error}", file=sys.stderr)
        return 1
    print(
        f"Customer.io emulator serving on {emulator.url} (site id {args.site_id}; workspace region "
        f"{args.region}; EU hosts on {emulator.eu_url}); Ctrl-C to stop",
        flush=True,
    )
    try:
        while not stopped.wait(0.5):
            pass
    finally:
        _restore(previous)
        emulator.stop()
    print("Customer.io emulator stopped", flush=True)
    return 0


def _restore(handlers: Mapping[signal.Signals, Any]) -> None:
    for number, handler in handlers.items():
        signal.signal(number, handler)


def main(argv: list[str] | None = None) -> int:
    """Run the command on its own (`python -m cio_sync_local.emulator_cli`), before it is wired in."""
    parser = argparse.ArgumentParser(prog="cio-sync")
    subparsers = parser.add_subparsers(dest="command", required=True)
    add_emulator_command(subparsers)
    args = parser.parse_args(argv)
    return int(args.handler(args))


if __name__ == "__main__":
    sys.exit(main())
