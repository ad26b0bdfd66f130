"""`cio-sync members explain ID`: why does this member look like this in Customer.io?

Reads both sides and what happened between them: the member item, the profile the rules say Customer.io
should hold, the profile it holds (App API), their difference, and what is findable of the member's recent
operations: dead letters naming it (peeked, made visible again at once), its email claims in the
idempotency table, consent events parked or quarantined, and, on the local stack, the emulator's request
log. A source that cannot be read is named with its reason; it never hides the others. Values other than
consent, status and timestamps are masked unless --show-personal. An unknown id exits 1, as `members show`
does. The live queues are never read: a receive there counts towards a message's move to its dead-letter
queue.
"""

from __future__ import annotations

import argparse
import json
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Final, Protocol, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from cio_sync.customerio.errors import CustomerIoError
from cio_sync.customerio.reporting import parse_topic_map
from cio_sync.members.contract import is_member_id
from cio_sync_cli.dlq import DEAD_LETTER_QUEUES, DeadLetterQueues, QueueListing
from cio_sync_cli.errors import CommandError
from cio_sync_cli.explain import (
    as_text,
    batch_operations,
    expected_profile,
    explanation,
    masked_path,
    mentions,
)
from cio_sync_cli.sweep_target import DEFAULT_APP_RATE_PER_S, app_client, sweep_target
from cio_sync_cli.target import OpsTarget, add_target_argument, aws_errors, resolve_target

MEMBERS_SUFFIX: Final = "-members"
QUARANTINE: Final = "ConsentQuarantineQueue"  # consent events held back, read as the consent DLQ's are
PEEK_LIMIT: Final = 100
CLAIM_SCAN_PAGES: Final = 20
EMULATOR_TIMEOUT_S: Final = 5.0
Found = list[dict[str, Any]] | str
T = TypeVar("T")


def add_explain_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `members explain` beside the other member commands."""
    explain = commands.add_parser(
        "explain",
        help="the member item, the profile the rules want, the profile Customer.io holds, and why",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    explain.add_argument("member_id", metavar="ID")
    explain.add_argument("--show-personal", action="store_true", help="print personal values unmasked")
    add_target_argument(explain)
    explain.set_defaults(handler=run_explain)


def run_explain(args: argparse.Namespace) -> int:
    member_id = args.member_id
    if not is_member_id(member_id):  # members_cli's rule; not imported, as members_cli registers this
        raise CommandError("not a member id: expected 24 lowercase hexadecimal characters")
    target = resolve_target(args.stack)
    with aws_errors(target.endpoint_url):
        item = target.members().get(member_id)
        topic_map = _topic_map(target)
        expected = expected_profile(item, topic_map)
        stored, stamps, window, profile_note = _profile(target, member_id)
        operations: dict[str, Found] = {"customerio_read": profile_note} if profile_note else {}
        letters = _attempt(lambda: _dead_letters(target, member_id))
        operations["dead_letters"], partial = letters if isinstance(letters, tuple) else (letters, None)
        if partial:
            operations["dead_letters_seen"] = partial
        operations["email_claims"] = _attempt(lambda: _email_claims(target, member_id))
        if target.source == "local":
            operations["emulator_requests"] = _attempt(lambda: _emulator_requests(target, member_id))
    report = explanation(
        member_id,
        item,
        expected,
        stored=stored,
        timestamps=stamps,
        operations=operations,
        show_personal=args.show_personal,
        volatile_window_s=window,
    )
    print(json.dumps(report, sort_keys=True, default=str) if args.json else as_text(report))
    return 1 if item is None else 0  # as `members show` does for an unknown id


def _topic_map(target: OpsTarget) -> dict[str, int]:
    text = target.variables.get("EMAIL_TOPIC_MAP") or target.stack_parameters.get("EmailTopicMap") or ""
    try:
        return parse_topic_map(text)
    except ValueError as error:
        raise CommandError(str(error)) from None


def _profile(
    target: OpsTarget, member_id: str
) -> tuple[dict[str, str] | None, dict[str, int] | None, int, str | None]:
    """(attributes, their timestamps, volatile window, why unread): an unreadable side is said, not fatal."""
    try:
        where = sweep_target(target)
        found = app_client(target, where, DEFAULT_APP_RATE_PER_S).person_attributes(member_id)
    except (CommandError, CustomerIoError) as error:
        return None, None, 0, f"not read: {error}"
    if found is None:
        return None, None, where.volatile_window_s, None
    return found[0], found[1], where.volatile_window_s, None


def _attempt(read: Callable[[], T]) -> T | str:
    try:
        return read()
    except (CommandError, ClientError, BotoCoreError, OSError, ValueError) as error:
        return f"not read: {str(error)[:200]}"


def _dead_letters(target: OpsTarget, member_id: str) -> tuple[Found, str | None]:
    """(the letters naming the member, which queues were seen only in part, or None)."""
    urls = {
        name: target.queue_urls[id_] for name, id_ in DEAD_LETTER_QUEUES.items() if id_ in target.queue_urls
    }
    if not urls:
        return "no dead-letter queue known for this target", None
    sqs = target.client("sqs")
    found, partial = peeked_letters(DeadLetterQueues(sqs, urls, wait_s=0), sorted(urls), member_id)
    if QUARANTINE in target.queue_urls:
        quarantine = DeadLetterQueues(sqs, {"consent": target.queue_urls[QUARANTINE]}, wait_s=0)
        held, held_partial = peeked_letters(quarantine, ["consent"], member_id, shown_as="consent-quarantine")
        found += held
        partial += held_partial
    return found, "; ".join(partial) or None


class Peeker(Protocol):
    def peek(self, queue: str, limit: int) -> QueueListing: ...


def peeked_letters(
    queues: Peeker, names: list[str], member_id: str, shown_as: str | None = None
) -> tuple[list[dict[str, Any]], list[str]]:
    """The letters whose summary (ids only, never personal data) names the member, and for each queue
    the peek did not see whole, "<queue>: looked at N of M (partial)": a letter beyond it may name them."""
    found: list[dict[str, Any]] = []
    partial: list[str] = []
    for name in names:
        listing = queues.peek(name, PEEK_LIMIT)
        shown = {"queue": shown_as} if shown_as else {}
        found.extend(
            {**letter.to_dict(), **shown} for letter in listing.letters if member_id in letter.summary
        )
        if listing.partial:
            partial.append(
                f"{shown_as or name}: looked at {len(listing.letters)} of {listing.visible} (partial)"
            )
    return found, partial


def claims_table(target: OpsTarget) -> str | None:
    """The idempotency table: the functions' variable, or else named as template.yaml names it beside the
    member table (`<stack>-members`, `<stack>-idempotency`); a deployed stack has no output for it."""
    named = target.variables.get("IDEMPOTENCY_TABLE_NAME")
    if named:
        return named
    members = target.member_table or ""
    return f"{members.removesuffix(MEMBERS_SUFFIX)}-idempotency" if members.endswith(MEMBERS_SUFFIX) else None


def _email_claims(target: OpsTarget, member_id: str) -> Found:
    """Claims are keyed `email#<member>#<intent>`: a filtered scan (the table holds a week of ids only)."""
    table = claims_table(target)
    if table is None:
        return "no idempotency table known for this target (IDEMPOTENCY_TABLE_NAME)"
    client = target.client("dynamodb")
    request: dict[str, Any] = {
        "TableName": table,
        "FilterExpression": "begins_with(#id, :prefix)",
        "ExpressionAttributeNames": {"#id": "id"},
        "ExpressionAttributeValues": {":prefix": {"S": f"email#{member_id}#"}},
    }
    found: list[dict[str, Any]] = []
    for _ in range(CLAIM_SCAN_PAGES):
        page = client.scan(**request)
        found.extend(_claim(item) for item in page.get("Items", []))
        if "LastEvaluatedKey" not in page:
            return found
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return found  # a bounded look: the oldest claims beyond it are a week from their TTL anyway


def _claim(item: dict[str, Any]) -> dict[str, Any]:
    def value(name: str) -> str | None:
        cell = item.get(name) or {}
        return cell.get("S") or cell.get("N")

    return {
        "intent_id": str(value("id")).rsplit("#", 1)[-1],
        "delivery_id": value("delivery_id"),
        "lease_until": value("lease_until"),
        "expiration": value("expiration"),
    }


def _emulator_requests(target: OpsTarget, member_id: str) -> Found:
    base = target.variables.get("CUSTOMER_IO_TRACK_URL") or target.variables.get("CUSTOMER_IO_APP_URL")
    if not base:
        return "no emulator URL in the local stack"
    if not base.startswith(("http://", "https://")):
        return "the emulator URL is not http(s)"
    url = f"{base.rstrip('/')}/_emulator/requests"
    with urllib.request.urlopen(url, timeout=EMULATOR_TIMEOUT_S) as reply:  # noqa: S310 - http(s), checked
        log = json.load(reply)
    entries = log.get("requests", log) if isinstance(log, dict) else log
    return [
        {
            "time": _iso(entry.get("time")),
            "method": entry.get("method"),
            "path": masked_path(entry.get("path")),
            "status": entry.get("status"),
            "operations": entry.get("operations"),
            "member_operations": batch_operations(member_id, entry.get("body")) or None,
        }
        for entry in entries
        if mentions(member_id, entry)
    ]


def _iso(stamp: Any) -> str | None:
    if not isinstance(stamp, int | float):
        return None
    return datetime.fromtimestamp(stamp, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
