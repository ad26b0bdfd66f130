"""`cio-sync reconcile`: queue a profile sync for every member (or the given ones); see reconcile.py."""

from __future__ import annotations

import argparse
import json
import sys

from cio_sync.adapters.sqs import SqsQueues
from cio_sync.pipeline.messages import TRACK_LANES
from cio_sync_cli.errors import CommandError
from cio_sync_cli.members_cli import checked_id
from cio_sync_cli.reconcile import InvalidRunId, ReconcileSummary, check_run_id, new_run_id, reconcile
from cio_sync_cli.target import add_target_argument, aws_errors, resolve_target


def add_reconcile_command(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `reconcile` (handler stored as `handler`)."""
    command = subparsers.add_parser(
        "reconcile",
        help="re-sync Customer.io profiles with the member table (after an outage or a fix)",
        description=__doc__,
    )
    command.add_argument("--dry-run", action="store_true", help="count members and messages; send nothing")
    command.add_argument(
        "--run-id",
        help="name the run (default: reconcile-<UTC time>); reuse it to resume a run that failed part-way",
    )
    command.add_argument(
        "--member",
        dest="members",
        action="append",
        default=[],
        metavar="ID",
        help="only this member (repeatable); default: every member in the table",
    )
    add_target_argument(command)
    command.set_defaults(handler=run_reconcile)


def run_reconcile(args: argparse.Namespace) -> int:
    try:
        run_id = check_run_id(args.run_id) if args.run_id else new_run_id()
    except InvalidRunId as error:
        raise CommandError(str(error)) from None
    chosen = list(dict.fromkeys(checked_id(member_id) for member_id in args.members))
    target = resolve_target(args.stack)
    track_queue = None if args.dry_run else target.queue_url("TrackQueue")
    verb = "counting" if args.dry_run else "queueing"
    scope = f"{len(chosen)} member(s)" if chosen else "every member"
    print(f"reconcile {run_id}: {verb} a sync of {scope} of {target.describe()}", file=sys.stderr)
    with aws_errors(target.endpoint_url):
        publisher = None
        if track_queue is not None:
            sqs = target.client("sqs")
            # A missing queue fails here, before the scan, not once per message.
            sqs.get_queue_attributes(QueueUrl=track_queue, AttributeNames=["QueueArn"])
            publisher = SqsQueues(sqs, track_queue, None)
        summary = reconcile(
            chosen or target.members().scan_ids(),
            publisher,
            run_id=run_id,
            lanes=TRACK_LANES,
            progress=_show_progress,
        )
    print(json.dumps(summary.to_dict(), sort_keys=True))
    if not summary.complete:
        print(
            f"{summary.failed_messages} message(s) ({summary.failed_members} members) were not accepted; "
            f"run again with --run-id {run_id} (already queued members are deduplicated for 5 minutes)",
            file=sys.stderr,
        )
        return 1
    done = "would queue" if summary.dry_run else "queued"
    print(f"{done} {summary.members} member sync(s) in {summary.messages} message(s)", file=sys.stderr)
    return 0


def _show_progress(summary: ReconcileSummary) -> None:
    verb = "counted" if summary.dry_run else "queued"
    print(f"  {verb} {summary.members} members in {summary.messages} messages", file=sys.stderr, flush=True)
