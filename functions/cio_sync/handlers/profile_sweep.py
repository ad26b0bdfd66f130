"""Lambda entry point for the scheduled profile sweep (an EventBridge schedule, weekly by default).

One invocation walks every profile Customer.io holds until done or until its deadline nears, then (after a
whole walk) scans the table for eligible members with no profile; it reports counts as metrics and one log
line. Deletes past the brake are held, not queued: the line gives the digest an operator approves. An
invocation with `{"start": "<cursor>"}` goes on from where a stopped sweep said it stopped (`next_start` in
its log line).
"""

from __future__ import annotations

import time
from functools import cache
from typing import Any, Final

from aws_lambda_powertools.metrics import MetricUnit

from cio_sync.handlers._context import deadline_from
from cio_sync.handlers.profile_sweep_runtime import ProfileSweepRuntime, ProfileSweepSettings, build
from cio_sync.observability import logger, metrics
from cio_sync.pipeline.consent_readback import APPLIED, MALFORMED_PREFERENCES, NO_TIMESTAMP
from cio_sync.pipeline.profile_sweep import (
    DRIFTED,
    EMAIL_COLLISION,
    MISSING,
    UNMANAGED,
    SweepOptions,
    SweepOutcome,
    sweep_profiles,
)

MAX_CURSOR_LENGTH: Final = 2000


@cache
def runtime() -> ProfileSweepRuntime:
    """Built once per execution environment, at its first invocation (`runtime.cache_clear()` rebuilds)."""
    return build(ProfileSweepSettings.from_env())


def run_id(now: float, context: Any) -> str:
    """Names the run's intents (`<run id>:sweep:<member>`; SQS FIFO drops a repeated one for 5 minutes): the
    invocation's request id beside its second, so two runs in one second (a schedule and an operator) each
    send their own repairs."""
    request = getattr(context, "aws_request_id", None)
    suffix = f"-{request[:8]}" if isinstance(request, str) and request else ""
    return "sweep-" + time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now)) + suffix


def start_of(event: Any) -> str | None:
    """The cursor a manual invocation passes to go on; a schedule's event carries none."""
    start = event.get("start") if isinstance(event, dict) else None
    return start if isinstance(start, str) and 0 < len(start) <= MAX_CURSOR_LENGTH else None


def handle(event: Any, context: Any, deps: ProfileSweepRuntime) -> dict[str, Any]:
    options = SweepOptions(
        run_id=run_id(deps.clock(), context),
        placeholder_id=deps.placeholder_id,
        check_attributes=deps.check_attributes,
        consent=deps.consent,
        read_opt_outs=deps.read_opt_outs,
        volatile_window_s=deps.volatile_window_s,
        max_deletes=deps.max_deletes,
        find_missing=deps.find_missing,
        deadline=deadline_from(context),
        start=start_of(event),
    )
    outcome = sweep_profiles(
        deps.directory,
        deps.members,
        deps.publisher,
        options,
        scanner=deps.scanner,
        consent_writer=deps.consent_writer,
    )
    record(outcome)
    return outcome.to_dict()


def record(outcome: SweepOutcome) -> None:
    """Counts as metrics (the orphan and incomplete alarms read them) and one log line (ids, no data)."""
    withheld = sum(outcome.withheld.values())
    for name, value in (
        ("ProfileSweepScanned", outcome.scanned),
        ("ProfileSweepOrphans", outcome.orphans),
        ("ProfileSweepDeletesQueued", outcome.deletes),
        ("ProfileSweepReidentifiesQueued", outcome.fixed[DRIFTED]),
        ("ProfileSweepCreatesQueued", outcome.fixed[MISSING]),
        ("ProfileSweepUnmanaged", outcome.skipped[UNMANAGED]),
        ("ProfileSweepSkipped", sum(outcome.skipped.values())),
        ("ProfileSweepEmailCollisions", outcome.skipped[EMAIL_COLLISION]),
        ("ProfileSweepWithheld", withheld),
        # Consent Customer.io held and the table did not (a webhook lost), now written to the member.
        ("ProfileSweepConsentReadBack", outcome.consent[APPLIED]),
        ("ProfileSweepOptOutPages", outcome.opt_out_pages),  # the opt-out walk's searches (its cost)
        # Consent the read-back could not order (no timestamp from the App API, preferences unreadable).
        ("ProfileSweepConsentUnread", outcome.consent[NO_TIMESTAMP] + outcome.consent[MALFORMED_PREFERENCES]),
        # Held deletes leave opted-out members' profiles in place: as much a run to look at as a stop.
        ("ProfileSweepIncomplete", 0 if outcome.ok and not withheld else 1),
    ):
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
    summary = outcome.to_dict()
    if not outcome.ok:
        logger.warning("profile sweep incomplete", extra=summary)
    elif withheld:
        # After checking them: cio-sync reconcile --profiles-only --approve-deletes <held_deletes>.
        logger.warning("profile sweep held every delete: more than ProfileSweepMaxDeletes", extra=summary)
    else:
        logger.info("profile sweep finished", extra=summary)


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle(event, context, runtime())
