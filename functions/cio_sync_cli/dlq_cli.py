"""`cio-sync dlq list` and `cio-sync dlq redrive`: what failed and why, and sending it back (dlq.py)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final, TextIO

from cio_sync.pipeline.messages import TRACK_LANES
from cio_sync_cli.confirm import confirm
from cio_sync_cli.dlq import (
    DEAD_LETTER_QUEUES,
    STREAM_FAILURE_ADVICE,
    STREAM_FAILURES,
    DeadLetterQueues,
    NoSourceQueue,
    NotRedrivable,
    QueueListing,
    RedriveOutcome,
)
from cio_sync_cli.errors import CommandError
from cio_sync_cli.target import OpsTarget, add_target_argument, aws_errors, resolve_target

DEFAULT_LIST_LIMIT: Final = 100


def add_dlq_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `dlq list` and `dlq redrive` (handlers stored as `handler`)."""
    dlq = subparsers.add_parser(
        "dlq", help="dead letters: list them (without consuming), redrive them", description=__doc__
    )
    commands = dlq.add_subparsers(dest="dlq_command", metavar="COMMAND", required=True)
    queue_help = f"one queue: {', '.join(DEAD_LETTER_QUEUES)} (default: all)"

    listing = commands.add_parser("list", help="show dead letters: id, receives, sent, reason, body shape")
    listing.add_argument("--queue", choices=list(DEAD_LETTER_QUEUES), help=queue_help)
    listing.add_argument(
        "--limit",
        type=_positive,
        default=DEFAULT_LIST_LIMIT,
        help=f"at most N per queue ({DEFAULT_LIST_LIMIT})",
    )
    add_target_argument(listing)
    listing.set_defaults(handler=run_list)

    redrive = commands.add_parser("redrive", help="send dead letters back to their source queue")
    redrive.add_argument("--queue", choices=list(DEAD_LETTER_QUEUES), help=queue_help)
    redrive.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    redrive.add_argument("--limit", type=_positive, help="at most N per queue (default: all)")
    add_target_argument(redrive)
    redrive.set_defaults(handler=run_redrive)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError("must be a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def chosen_queues(target: OpsTarget, queue: str | None) -> dict[str, str]:
    """Operator name -> URL of the queues to act on; all the target names when none is chosen."""
    if queue is not None:
        return {queue: target.queue_url(DEAD_LETTER_QUEUES[queue])}
    urls = {
        name: url
        for name, logical_id in DEAD_LETTER_QUEUES.items()
        if (url := target.queue_urls.get(logical_id))
    }
    if not urls:
        raise CommandError(
            f"{target.label} names no dead-letter queue: pass --stack NAME, or start the local stack"
        )
    for name in DEAD_LETTER_QUEUES:
        if name not in urls:
            print(f"{name}: not configured for {target.label}, skipped", file=sys.stderr)
    return urls


@contextmanager
def dlq_errors(target: OpsTarget) -> Iterator[None]:
    try:
        with aws_errors(target.endpoint_url):
            yield
    except (NoSourceQueue, NotRedrivable) as error:
        raise CommandError(str(error)) from None


def run_list(args: argparse.Namespace) -> int:
    target = resolve_target(args.stack)
    urls = chosen_queues(target, args.queue)
    with dlq_errors(target):
        dead_letters = DeadLetterQueues(target.client("sqs"), urls)
        for name in urls:
            listing = dead_letters.peek(name, args.limit)
            if args.json:
                for letter in listing.letters:
                    print(json.dumps(letter.to_dict(), sort_keys=True))
                _print_notes(listing, file=sys.stderr)
            else:
                print_listing(listing)
    return 0


def print_listing(listing: QueueListing) -> None:
    queue_name = listing.url.rstrip("/").rsplit("/", 1)[-1]
    state = f"{listing.visible} message(s)" if listing.visible else "empty"
    print(f"{listing.queue} ({queue_name}): {state}")
    for letter in listing.letters:
        print(f"  {letter.message_id}  receives {letter.receive_count}  sent {letter.sent_at or 'unknown'}")
        print(f"    reason: {letter.failure_reason}")
        print(f"    body:   {letter.summary}")
    _print_notes(listing, file=sys.stdout)


def _print_notes(listing: QueueListing, *, file: TextIO) -> None:
    if listing.partial and listing.letters:
        print(
            f"  (showing {len(listing.letters)} of ~{listing.visible}: --limit, or a FIFO queue hiding the "
            "rest of a message group while part of it is in flight; redrive moves them all)",
            file=file,
        )
    if listing.in_flight:
        print(f"  ({listing.in_flight} more in flight: being received elsewhere)", file=file)
    if listing.queue == STREAM_FAILURES and listing.visible:
        print(f"  ({STREAM_FAILURE_ADVICE})", file=file)


def run_redrive(args: argparse.Namespace) -> int:
    if args.queue == STREAM_FAILURES:
        raise CommandError(STREAM_FAILURE_ADVICE)
    target = resolve_target(args.stack)
    urls = chosen_queues(target, args.queue)
    with dlq_errors(target):
        dead_letters = DeadLetterQueues(target.client("sqs"), urls)
        plan = plan_redrive(dead_letters, urls, args.limit)
        if not plan:
            print(f"nothing to redrive in {target.describe()}", file=sys.stderr)
            return 0
        if not args.yes:
            confirm(
                f"redrive {sum(plan.values())} dead letter(s) in {target.describe()}?",
                what="redrive changes queues",
            )
        outcomes = [
            dead_letters.redrive(name, lanes=TRACK_LANES, limit=args.limit, progress=_show_progress)
            for name in plan
        ]
    for outcome in outcomes:
        print(json.dumps(_outcome_dict(outcome), sort_keys=True) if args.json else _outcome_line(outcome))
    return 1 if any(outcome.failed for outcome in outcomes) else 0


def plan_redrive(dead_letters: DeadLetterQueues, urls: dict[str, str], limit: int | None) -> dict[str, int]:
    """How many dead letters each queue would send back (shown before asking); empty queues are left out."""
    plan: dict[str, int] = {}
    for name in urls:
        visible, _ = dead_letters.counts(name)
        if name == STREAM_FAILURES:
            if visible:
                print(
                    f"{STREAM_FAILURES}: {visible} entr(ies) not redriven: {STREAM_FAILURE_ADVICE}",
                    file=sys.stderr,
                )
            continue
        if not visible:
            continue
        count = visible if limit is None else min(visible, limit)
        source = dead_letters.source_of(name).rstrip("/").rsplit("/", 1)[-1]
        print(f"{name}: ~{count} dead letter(s) back to {source}", file=sys.stderr)
        plan[name] = count
    return plan


def _outcome_line(outcome: RedriveOutcome) -> str:
    source = outcome.source_url.rstrip("/").rsplit("/", 1)[-1]
    errors = ", ".join(f"{code} x{number}" for code, number in sorted(outcome.errors.items()))
    failed = f", {outcome.failed} failed ({errors}): still in the dead-letter queue" if outcome.failed else ""
    return f"{outcome.queue}: {outcome.moved} redriven to {source}{failed}"


def _outcome_dict(outcome: RedriveOutcome) -> dict[str, object]:
    return {
        "queue": outcome.queue,
        "source_url": outcome.source_url,
        "moved": outcome.moved,
        "failed": outcome.failed,
        "errors": dict(outcome.errors),
    }


def _show_progress(outcome: RedriveOutcome) -> None:
    done = outcome.moved + outcome.failed
    print(
        f"  {outcome.queue}: {done}/{outcome.planned} ({outcome.failed} failed)", file=sys.stderr, flush=True
    )
