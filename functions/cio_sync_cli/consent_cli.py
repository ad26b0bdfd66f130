"""`cio-sync consent quarantine list|replay|discard`: the reporting events parked by the quarantine window.

Replay sends each back to the consent queue in its member's lane, marked as replayed so the window
(if still set) does not park it again; the consent function then applies it like any other event (a
change already made writes nothing). Discard deletes them. Both act on what is visible when they start.
"""

from __future__ import annotations

import argparse
import json
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any, Final

from cio_sync.aws_limits import SQS_BATCH
from cio_sync.customerio.reporting import ReportingEvent, event_from_message
from cio_sync.pipeline.messages import TRACK_LANES, lane_of
from cio_sync_cli.confirm import confirm
from cio_sync_cli.errors import CommandError
from cio_sync_cli.target import add_target_argument, aws_errors, resolve_target

QUARANTINE: Final = "ConsentQuarantineQueue"
CONSENT: Final = "ConsentQueue"
WORK_VISIBILITY_S: Final = 60


def add_consent_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    consent = subparsers.add_parser("consent", help="reporting events from Customer.io", description=__doc__)
    commands = consent.add_subparsers(dest="consent_command", metavar="COMMAND", required=True)
    quarantine = commands.add_parser("quarantine", help="events parked by the quarantine window")
    actions = quarantine.add_subparsers(dest="quarantine_action", metavar="ACTION", required=True)
    for name, text in (
        ("list", "count them by kind"),
        ("replay", "send them back to the consent queue"),
        ("discard", "delete them"),
    ):
        action = actions.add_parser(name, help=text)
        if name != "list":
            action.add_argument("--yes", action="store_true", help="do not ask for confirmation")
        add_target_argument(action)
        action.set_defaults(handler=run_quarantine, action=name)


def run_quarantine(args: argparse.Namespace) -> int:
    target = resolve_target(args.stack)
    with aws_errors(target.endpoint_url):
        queue = Quarantine(target.client("sqs"), target.queue_url(QUARANTINE), target.queue_urls.get(CONSENT))
        visible = queue.visible()
        if args.action == "list":
            kinds = dict(sorted(queue.kinds().items()))
            if args.json:
                print(json.dumps({"target": target.describe(), "visible": visible, "kinds": kinds}))
                return 0
            print(f"{visible} event(s) in the consent quarantine ({target.describe()})")
            for kind, count in kinds.items():
                print(f"  {count:6d}  {kind}")
            return 0
        if visible and not args.yes:
            confirm(
                f"{args.action} {visible} event(s) in {target.describe()}?",
                what=f"{args.action} changes the quarantine",
            )
        done = queue.replay(visible) if args.action == "replay" else queue.discard(visible)
    if args.json:
        print(json.dumps({"action": args.action, "done": done, "visible": visible}))
    else:
        print(f"{args.action}: {done} of {visible} event(s)")
    return 0


class Quarantine:
    def __init__(self, sqs: Any, url: str, consent_url: str | None) -> None:
        self._sqs, self._url, self._consent_url = sqs, url, consent_url

    def visible(self) -> int:
        attributes = self._sqs.get_queue_attributes(
            QueueUrl=self._url, AttributeNames=["ApproximateNumberOfMessages"]
        )["Attributes"]
        return int(attributes.get("ApproximateNumberOfMessages", 0))

    def kinds(self) -> Counter[str]:
        """The kinds of one receive's worth (all parked events share one FIFO group, so SQS hands out at
        most 10 at a time), made visible again at once."""
        batch = self._receive(30)
        for message in batch:
            self._sqs.change_message_visibility(
                QueueUrl=self._url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
            )
        return Counter(_kind(message["Body"]) for message in batch)

    def replay(self, limit: int) -> int:
        consent_url = self._consent_url
        if not consent_url:
            raise CommandError(f"no {CONSENT} for this target: pass --stack NAME, or set CONSENT_QUEUE_URL")

        def send_back(message: dict[str, Any]) -> bool:
            body, group = message["Body"], "replayed"
            try:
                event = event_from_message(body)
            except ValueError:
                pass  # sent back as it is: the consent function parks it in its DLQ with the reason
            else:
                body, group = (
                    event._replace(replayed=True).to_message(),
                    lane_of(event.customer_id, TRACK_LANES),
                )
            self._sqs.send_message(
                QueueUrl=consent_url,
                MessageBody=body,
                MessageGroupId=group,
                MessageDeduplicationId=uuid.uuid4().hex,  # the original may be inside SQS's 5-minute window
            )
            return True

        return self._each(limit, send_back)

    def discard(self, limit: int) -> int:
        return self._each(limit, lambda _message: True)

    def _each(self, limit: int, act: Callable[[dict[str, Any]], bool]) -> int:
        """Act on each message, then delete it, one receive at a time (a FIFO group gives no more while
        part of it is in flight)."""
        done, seen = 0, 0
        while seen < limit:
            batch = self._receive(WORK_VISIBILITY_S, min(SQS_BATCH, limit - seen))
            if not batch:
                break
            for message in batch:
                seen += 1
                if act(message):
                    self._sqs.delete_message(QueueUrl=self._url, ReceiptHandle=message["ReceiptHandle"])
                    done += 1
        return done

    def _receive(self, visibility_s: int, count: int = SQS_BATCH) -> list[dict[str, Any]]:
        answer = self._sqs.receive_message(
            QueueUrl=self._url, MaxNumberOfMessages=count, VisibilityTimeout=visibility_s, WaitTimeSeconds=1
        )
        return list(answer.get("Messages", []))


def _kind(body: str) -> str:
    try:
        event: ReportingEvent = event_from_message(body)
    except ValueError:
        return "unreadable"
    return f"{event.object_type}_{event.metric}"
