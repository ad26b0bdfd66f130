"""`cio-sync reconcile`: make Customer.io match the member table, from both sides.

The members side queues a sync of every member (or the given ones); the profiles side walks every profile
Customer.io holds and queues a sync for each one cio-sync made that no eligible member owns
(cio_sync.pipeline.profile_sweep, what the scheduled profile-sweep function runs); with --profiles-only it
then scans the table for eligible members with no profile. Deletes past --max-deletes (or the function's
brake) are held: --approve-deletes DIGEST queues them once a walk finds that same set. `--from-failures`
syncs exactly the members the stream's failure queue names. Every fix is a sync on the track queue: the
track function decides from the member's item as it is when the sync is sent. The profiles side first reads
back the unsubscribes Customer.io holds (the opt-out walk); `--consent` reads back every profile's
unsubscribe and topics into the table (cio_sync_cli.reconcile_consent).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections.abc import Callable
from typing import Any

from cio_sync.adapters.member_scan import ScanMembers
from cio_sync.adapters.member_table import BatchReadMembers
from cio_sync.adapters.sqs import SqsQueues
from cio_sync.customerio.errors import CredentialsError
from cio_sync.members.subscriptions import ELIGIBILITY_FIELDS
from cio_sync.pipeline.consent_readback import member_fields
from cio_sync.pipeline.messages import TRACK_LANES
from cio_sync.pipeline.profile_sweep import SweepOptions, SweepOutcome, sweep_profiles
from cio_sync_cli.confirm import confirm
from cio_sync_cli.errors import CommandError
from cio_sync_cli.members_cli import checked_id
from cio_sync_cli.reconcile import InvalidRunId, ReconcileSummary, check_run_id, new_run_id, reconcile
from cio_sync_cli.reconcile_consent import consent_policy, consent_writer, print_consent
from cio_sync_cli.stream_failures import (
    FailureEntry,
    FailureQueue,
    Resolution,
    StreamRangeReader,
    resolve,
)
from cio_sync_cli.sweep_target import DEFAULT_APP_RATE_PER_S, app_client, sweep_target
from cio_sync_cli.target import OpsTarget, add_target_argument, aws_errors, resolve_target

APP_RATE_LIMIT_PER_S = 10.0
DIGEST_PATTERN = re.compile(r"[0-9]+-[0-9a-f]{20}")


def add_reconcile_command(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `reconcile` (handler stored as `handler`)."""
    command = subparsers.add_parser(
        "reconcile",
        help="make Customer.io match the member table: every member, then every profile",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    side = command.add_mutually_exclusive_group()
    side.add_argument("--members-only", action="store_true", help="only queue a sync of every member")
    side.add_argument(
        "--profiles-only", action="store_true", help="only sweep Customer.io's profiles against the table"
    )
    side.add_argument(
        "--from-failures",
        action="store_true",
        help="sync exactly the members the stream-failures queue names (and delete the entries repaired)",
    )
    command.add_argument(
        "--dry-run", action="store_true", help="count, and name the first ids that would change; send nothing"
    )
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
        help="only this member (repeatable; members side only); a deleted member's id removes its profile",
    )
    command.add_argument(
        "--check-attributes",
        action="store_true",
        help="profiles side: also read attributes and re-identify profiles that drifted from their member",
    )
    command.add_argument(
        "--consent",
        action="store_true",
        help="write to the member table the unsubscribes and topics Customer.io holds, where its change is "
        "newer (a reporting webhook lost); alone it queues nothing, with --profiles-only the sweep runs too",
    )
    command.add_argument(
        "--max-deletes",
        type=int,
        metavar="N",
        help="profiles side: if more than N deletes, queue none and name the set (default: no limit)",
    )
    command.add_argument(
        "--approve-deletes",
        metavar="DIGEST",
        help="profiles side: queue the deletes a braked sweep held (its held_deletes), if this walk finds "
        "that same set; otherwise queue none and name the new set",
    )
    command.add_argument(
        "--app-rate",
        type=float,
        default=DEFAULT_APP_RATE_PER_S,
        metavar="PER_S",
        help=f"profiles side: App API requests a second (default {DEFAULT_APP_RATE_PER_S:g}; Customer.io "
        f"allows {APP_RATE_LIMIT_PER_S:g} for the whole workspace)",
    )
    command.add_argument(
        "--start", metavar="CURSOR", help="profiles side: go on from where a stopped sweep said (next_start)"
    )
    command.add_argument("--yes", action="store_true", help="do not ask to confirm (--dry-run never asks)")
    add_target_argument(command)
    command.set_defaults(handler=run_reconcile)


def run_reconcile(args: argparse.Namespace) -> int:
    try:
        run_id = check_run_id(args.run_id) if args.run_id else new_run_id()
    except InvalidRunId as error:
        raise CommandError(str(error)) from None
    _check_options(args)
    chosen = list(dict.fromkeys(checked_id(member_id) for member_id in args.members))
    members_side = not args.profiles_only and not args.from_failures and not args.consent
    profiles_side = not args.members_only and not args.from_failures and not chosen
    target = resolve_target(args.stack)
    track_queue = None if args.dry_run else target.queue_url("TrackQueue")
    scope = f"{len(chosen)} member(s)" if chosen else "every member"
    if not (args.dry_run or args.yes):
        _confirm(args, target, scope if members_side else "", profiles_side)
    verb = "counting" if args.dry_run else "queueing"
    report: dict[str, Any] = {"run_id": run_id, "dry_run": bool(args.dry_run)}
    ok = True
    with aws_errors(target.endpoint_url):
        publisher = _publisher(target, track_queue)
        if args.from_failures:
            print(
                f"reconcile {run_id}: {verb} syncs of the members stream-failures names, {_on(target)}",
                file=sys.stderr,
            )
            ok = _from_failures(target, publisher, run_id, args.dry_run, report)
        if members_side:
            print(f"reconcile {run_id}: {verb} a sync of {scope}, {_on(target)}", file=sys.stderr)
            summary = reconcile(
                chosen or target.members().scan_ids(),
                publisher,
                run_id=run_id,
                lanes=TRACK_LANES,
                progress=_show_progress,
            )
            report["members"] = _members_report(summary)
            ok = ok and _members_done(summary, run_id)
        if profiles_side:
            what = "reading consent back from" if args.consent and not args.profiles_only else "sweeping"
            print(f"reconcile {run_id}: {what} every profile in Customer.io, {_on(target)}", file=sys.stderr)
            outcome = _sweep(target, publisher, run_id, args)
            report["profiles"] = outcome.to_dict()
            if args.consent or outcome.consent:
                print_consent(outcome)
            ok = ok and _profiles_done(outcome)
    print(json.dumps(report, sort_keys=True))
    return 0 if ok else 1


def _check_options(args: argparse.Namespace) -> None:
    if args.members and (args.profiles_only or args.from_failures or args.consent):
        raise CommandError(
            "--member syncs chosen members: it cannot go with --profiles-only, --from-failures or --consent"
        )
    if args.consent and (args.members_only or args.from_failures):
        raise CommandError("--consent walks the profiles: it goes alone or with --profiles-only")
    if args.consent and not args.profiles_only and (args.check_attributes or args.max_deletes is not None):
        raise CommandError(
            "--consent alone queues nothing: --check-attributes and --max-deletes need --profiles-only"
        )
    if args.max_deletes is not None and args.max_deletes < 1:
        raise CommandError("--max-deletes must be at least 1")
    if args.approve_deletes is not None:
        if DIGEST_PATTERN.fullmatch(args.approve_deletes) is None:
            raise CommandError("--approve-deletes takes the held_deletes a sweep logged, e.g. 12034-0f3a...")
        if not args.profiles_only or args.start:
            raise CommandError("--approve-deletes needs --profiles-only and a whole walk (no --start)")
    if not 0 < args.app_rate < APP_RATE_LIMIT_PER_S:
        raise CommandError(f"--app-rate must be above 0 and below Customer.io's {APP_RATE_LIMIT_PER_S:g}/s")


def _confirm(args: argparse.Namespace, target: OpsTarget, members: str, profiles: bool) -> None:
    """The question names the stack and what each side will write; --dry-run never asks."""
    changes = ["sync the members stream-failures names"] if args.from_failures else []
    changes += [f"sync {members}"] if members else []
    if profiles and (args.profiles_only or not args.consent):  # --consent alone queues nothing
        changes.append("sync the profiles that differ (delete, create or re-identify them)")
    changes += ["write Customer.io's newer consent into the member table"] if args.consent else []
    confirm(f"reconcile {target.describe()}: {'; '.join(changes)}?", what="reconcile changes Customer.io")


def _on(target: OpsTarget) -> str:
    return f"of {target.describe()}"


def _publisher(target: OpsTarget, track_queue: str | None) -> SqsQueues | None:
    if track_queue is None:
        return None
    sqs = target.client("sqs")
    # A missing queue fails here, before any scan, not once per message.
    sqs.get_queue_attributes(QueueUrl=track_queue, AttributeNames=["QueueArn"])
    return SqsQueues(sqs, track_queue, None)


# ---- members side -----------------------------------------------------------------------------------------


def _members_report(summary: ReconcileSummary) -> dict[str, Any]:
    return {
        "scanned": summary.members + summary.skipped_ids,
        "queued": summary.members - summary.failed_members,
        "skipped": {"not_a_member_id": summary.skipped_ids},
        "messages": summary.messages,
        "failed_messages": summary.failed_messages,
        "failed_members": summary.failed_members,
    }


def _members_done(summary: ReconcileSummary, run_id: str) -> bool:
    if not summary.complete:
        print(
            f"{summary.failed_messages} message(s) ({summary.failed_members} members) were not accepted; "
            f"run again with --run-id {run_id} (already queued members are deduplicated for 5 minutes)",
            file=sys.stderr,
        )
        return False
    done = "would queue" if summary.dry_run else "queued"
    print(f"{done} {summary.members} member sync(s) in {summary.messages} message(s)", file=sys.stderr)
    return True


def _show_progress(summary: ReconcileSummary) -> None:
    verb = "counted" if summary.dry_run else "queued"
    print(f"  members: {verb} {summary.members} in {summary.messages} messages", file=sys.stderr, flush=True)


# ---- profiles side ----------------------------------------------------------------------------------------


def _sweep(
    target: OpsTarget, publisher: SqsQueues | None, run_id: str, args: argparse.Namespace
) -> SweepOutcome:
    where = sweep_target(target)
    fixes = args.profiles_only or not args.consent  # `--consent` alone: only the read-back
    options = SweepOptions(
        run_id=run_id,
        placeholder_id=where.placeholder_id,
        check_attributes=args.check_attributes,
        consent=consent_policy(where) if args.consent else None,
        queue_fixes=fixes,
        volatile_window_s=where.volatile_window_s,
        max_deletes=args.max_deletes,
        approved_deletes=args.approve_deletes,
        # The members side syncs every member anyway; alone, the profiles side finds the missing ones.
        find_missing=args.profiles_only and fixes,
        start=args.start,
    )
    started = time.monotonic()
    try:
        return sweep_profiles(
            app_client(target, where, args.app_rate),
            # The opt-out walk, first, reads the consent fields whatever --consent says.
            BatchReadMembers(target.members(), member_fields(args.check_attributes, read_consent=True)),
            publisher,
            options,
            scanner=ScanMembers(target.members(), ELIGIBILITY_FIELDS, client=target.client("dynamodb")),
            consent_writer=None if args.dry_run else consent_writer(target),
            progress=_sweep_progress(started),
        )
    except CredentialsError as error:
        raise CommandError(str(error)) from None


def _sweep_progress(started: float) -> Callable[[SweepOutcome], None]:
    def show(outcome: SweepOutcome) -> None:
        rate = outcome.scanned / max(time.monotonic() - started, 1e-6)
        print(
            f"  profiles: scanned {outcome.scanned} ({outcome.pages} pages, {rate:.0f}/s), to fix "
            f"{sum(outcome.fixed.values()) + outcome.waiting}, left alone {sum(outcome.skipped.values())}",
            file=sys.stderr,
            flush=True,
        )

    return show


def _profiles_done(outcome: SweepOutcome) -> bool:
    fixed = ", ".join(f"{reason} {count}" for reason, count in sorted(outcome.fixed.items())) or "nothing"
    skipped = ", ".join(f"{reason} {count}" for reason, count in sorted(outcome.skipped.items())) or "nothing"
    verb = "would fix" if outcome.dry_run else "queued fixes for"
    print(f"profiles: scanned {outcome.scanned}; {verb}: {fixed}; left alone: {skipped}", file=sys.stderr)
    for reason, ids in sorted(outcome.examples.items()):
        print(f"  {reason}: {', '.join(ids)}{' ...' if len(ids) >= 10 else ''}", file=sys.stderr)
    if outcome.held_deletes:
        print(
            f"{sum(outcome.withheld.values())} delete(s) held, none queued: check the list above, then "
            "run again with --profiles-only --approve-deletes "
            f"{outcome.held_deletes}",
            file=sys.stderr,
        )
    if outcome.member_scan != "not run":
        print(f"members without a profile: {outcome.member_scan}", file=sys.stderr)
    if not outcome.complete:
        resume = (
            f" --profiles-only --start {outcome.next_start}" if outcome.next_start else " --profiles-only"
        )
        print(
            f"the sweep stopped ({outcome.stopped_because}); go on with: cio-sync reconcile{resume}",
            file=sys.stderr,
        )
    if outcome.failed_messages:
        print(
            f"{outcome.failed_members} sync(s) were not accepted by the track queue; run again",
            file=sys.stderr,
        )
    return outcome.ok


# ---- from failures ----------------------------------------------------------------------------------------


def _from_failures(
    target: OpsTarget, publisher: SqsQueues | None, run_id: str, dry_run: bool, report: dict[str, Any]
) -> bool:
    queue = FailureQueue(target.client("sqs"), target.queue_url("StreamFailureQueue"))
    entries = queue.receive_all()
    repaired: list[FailureEntry] = []
    try:
        resolution = resolve(entries, StreamRangeReader(target.client("dynamodbstreams")).member_ids)
        summary = reconcile(resolution.member_ids, publisher, run_id=run_id, lanes=TRACK_LANES)
        if not dry_run and summary.complete:
            repaired = resolution.resolved
            queue.delete(repaired)
    finally:
        # Whatever was not repaired (or everything, in a dry run) is visible again at once.
        queue.release([entry for entry in entries if entry not in repaired])
    report["failures"] = _failures_report(resolution, len(repaired))
    report["members"] = _members_report(summary)
    return _failures_done(resolution, summary, run_id, dry_run)


def _failures_report(resolution: Resolution, deleted: int) -> dict[str, Any]:
    return {
        "entries": len(resolution.entries),
        "resolved": len(resolution.resolved),
        "unresolved": [
            {"message_id": entry.message_id, "reason": reason} for entry, reason in resolution.unresolved
        ],
        "ranges_read": resolution.ranges_read,
        "members": len(resolution.member_ids),
        "deleted": deleted,
    }


def _failures_done(resolution: Resolution, summary: ReconcileSummary, run_id: str, dry_run: bool) -> bool:
    verb = "would sync" if dry_run else "queued a sync of"
    print(
        f"stream-failures: {len(resolution.entries)} entries, {len(resolution.resolved)} resolved; "
        f"{verb} {len(resolution.member_ids)} member(s)",
        file=sys.stderr,
    )
    for entry, reason in resolution.unresolved:
        print(f"  cannot resolve {entry.message_id}: {reason}", file=sys.stderr)
    if resolution.unresolved:
        print(
            f"{len(resolution.unresolved)} entr(ies) left on the queue, each with its reason; a range no "
            "longer in the stream needs a full `cio-sync reconcile`, then a purge (docs/operations.md)",
            file=sys.stderr,
        )
    return _members_done(summary, run_id) and not resolution.unresolved
