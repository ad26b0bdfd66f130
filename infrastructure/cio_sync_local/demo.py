"""The `make run` demo: the mission in eight steps, each followed by what changed in Customer.io.

It drives the running local stack the way the system is used: members change through the model and its
rules, admins upload a Mute Promotions file, the auth flow asks for a password reset, a person clicks
unsubscribe inside Customer.io (the emulator sends the reporting webhook); after each step the
pipeline is drained and the emulator's state is compared with the state before. Members are shown by
id, and profile attributes by name, with values only where they are not personal data.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cio_sync.imports.keys import import_id_for, report_key
from cio_sync.members.contract import new_member_id
from cio_sync.producer_api import producer
from cio_sync_cli.member_writes import MemberAdmin
from cio_sync_local.emulator import consent

if TYPE_CHECKING:
    from cio_sync_local.stack import LocalStack

DRAIN_TIMEOUT_S = 120.0
FINISHED_LINE = "demo finished"
# Attribute values shown on screen: statuses and flags, never names, addresses or numbers of people.
SHOWN_VALUES = frozenset(
    {"email_subscription_status", "sms_status", "sms_paused", "unsubscribed", "promotions_muted_at"}
)


class DemoFailed(RuntimeError):
    """A step did not change Customer.io as the mission says it should."""


@dataclass(frozen=True)
class Snapshot:
    profiles: dict[str, dict[str, Any]]
    events: list[dict[str, Any]]
    emails: list[dict[str, Any]]


def snapshot(stack: LocalStack) -> Snapshot:
    emulator = stack.emulator
    if emulator is None:
        raise DemoFailed("the emulator is not running")
    profiles = {
        person_id: dict(attributes) for person_id, attributes in emulator.state.profiles_json().items()
    }
    return Snapshot(profiles, list(emulator.state.events_json()), list(emulator.state.emails_json()))


def _shown(attributes: Mapping[str, Any]) -> str:
    values = [f"{name}={attributes[name]}" for name in sorted(SHOWN_VALUES) if name in attributes]
    return f"{len(attributes)} attributes" + (f"; {', '.join(values)}" if values else "")


def changes(before: Snapshot, after: Snapshot) -> list[str]:
    """What changed in Customer.io, one line each: profiles created, updated, deleted; events; emails."""
    lines: list[str] = []
    for person_id in sorted(set(before.profiles) | set(after.profiles)):
        old, new = before.profiles.get(person_id), after.profiles.get(person_id)
        if new is None:
            lines.append(f"- profile {person_id} deleted")
        elif old is None:
            lines.append(f"+ profile {person_id} created ({_shown(new)})")
        elif old != new:
            changed = sorted(name for name in set(old) | set(new) if old.get(name) != new.get(name))
            lines.append(f"~ profile {person_id} updated: {', '.join(changed)}")
    for event in after.events[len(before.events) :]:
        lines.append(f"+ event {event['name']} tracked for {event['person_id']}")
    for email in after.emails[len(before.emails) :]:
        lines.append(
            f"+ email {email.get('transactional_message_id')} sent (delivery {email['delivery_id']})"
        )
    return lines or ["(nothing changed)"]


Expectation = Callable[[Snapshot, Snapshot], bool]


class Demo:
    def __init__(
        self, stack: LocalStack, stopping: threading.Event, say: Callable[[str], None] = print
    ) -> None:
        self.stack = stack
        self.stopping = stopping
        self.say = say
        self.members = MemberAdmin(stack.table_name(), endpoint_url=stack.aws_endpoint)
        self.ids: dict[str, str] = {}
        self.step_number = 0

    def step(
        self, title: str, action: Callable[[], list[str] | None], expect: Callable[[], Expectation]
    ) -> bool:
        """Run one step, drain, print what changed (and what the action reports); False when asked to stop."""
        if self.stopping.is_set():
            return False
        self.step_number += 1
        self.say(f"\n{self.step_number}. {title}")
        before = snapshot(self.stack)
        notes = action() or []
        self.stack.drain(DRAIN_TIMEOUT_S)
        after = snapshot(self.stack)
        for line in [*changes(before, after), *notes]:
            self.say(f"   {line}")
        if not expect()(before, after):
            raise DemoFailed(f"step {self.step_number} ({title}) did not change Customer.io as expected")
        return True

    def run(self) -> None:
        self.say("\n== demo: members change; the pipeline keeps Customer.io in step ==")
        self.stack.drain(DRAIN_TIMEOUT_S)
        ids = self.ids
        steps: list[tuple[str, Callable[[], list[str] | None], Callable[[], Expectation]]] = [
            (
                "Ada signs up on the web: subscribed to email, so she gets a profile",
                lambda: self._create(
                    "ada", self.members.create_web_signup, email="ada@example.org", first_name="Ada"
                ),
                lambda: _created(ids["ada"]),
            ),
            (
                "Grace signs up by SMS: subscribed to SMS, so she gets a profile",
                lambda: self._create(
                    "grace", self.members.create_sms_signup, mobile="+15555550123", first_name="Grace"
                ),
                lambda: _created(ids["grace"]),
            ),
            (
                "Ada unsubscribes from email and SMS: she is muted, so her profile is deleted",
                lambda: self._update("ada", email_subscription_status=False, sms_status="stop"),
                lambda: _deleted(ids["ada"]),
            ),
            (
                "Ada resubscribes to the news topic: unmuted, her profile is re-created",
                lambda: self._update("ada", email_subscription_topics=["news"]),
                lambda: _both(_created(ids["ada"]), _tracked(ids["ada"], "promotions_resubscribe")),
            ),
            (
                "Two more members sign up on the web",
                lambda: self._create_pair("one", "two"),
                lambda: _both(_created(ids["one"]), _created(ids["two"])),
            ),
            (
                "An admin uploads a Mute Promotions file listing them and one unknown id",
                lambda: self._import([ids["one"], ids["two"], new_member_id()]),
                lambda: _both(_deleted(ids["one"]), _deleted(ids["two"])),
            ),
            (
                "A muted member forgets their password: transactional email needs no profile",
                lambda: [
                    f"intent {producer().request_password_reset(ids['one'], 'https://example.org/reset/demo')}"
                ],
                _emailed,
            ),
            (
                "Ada clicks unsubscribe in a Customer.io email: the signed webhook reaches her member "
                "record; with no SMS she is muted, so her profile is deleted",
                lambda: self._unsubscribe_in_customer_io("ada"),
                lambda: _deleted(ids["ada"]),
            ),
        ]
        for title, action, expect in steps:
            if not self.step(title, action, expect):
                return
        self.say(f"\n{FINISHED_LINE}: each step changed Customer.io as the mission says")

    def _create(
        self, name: str, create: Callable[[Mapping[str, Any]], Mapping[str, Any]], **fields: Any
    ) -> None:
        self.ids[name] = str(create(fields)["id"])
        self.say(f"   member {self.ids[name]} written to the member table")

    def _create_pair(self, first: str, second: str) -> None:
        for name in (first, second):
            self._create(name, self.members.create_web_signup, email=f"member.{name}@example.org")

    def _update(self, name: str, **changes: Any) -> None:
        self.members.update(self.ids[name], changes)
        self.say(f"   member {self.ids[name]}: {', '.join(sorted(changes))} changed")

    def _unsubscribe_in_customer_io(self, name: str) -> list[str]:
        """What the unsubscribe link (or the emulator page's button) does: POST /_emulator/unsubscribe."""
        emulator = self.stack.emulator
        if emulator is None:
            raise DemoFailed("the emulator is not running")
        member_id = self.ids[name]
        reply = consent.unsubscribe(emulator.state, emulator.webhooks, member_id)
        self.stack.drain(DRAIN_TIMEOUT_S)  # the webhook sent, then the consent and stream functions
        member = self.members.get(member_id) or {}
        status, muted = member.get("email_subscription_status"), member.get("promotions_muted_at") is not None
        return [
            f"Customer.io sent {reply.body.get('webhooks_queued', 0)} reporting webhook(s)",
            f"member {member_id}: email_subscription_status={status}, muted={muted}",
        ]

    def _import(self, member_ids: list[str]) -> list[str]:
        bucket = self.stack.bucket_name()
        key = "mute-promotions/demo.csv"
        body = "northstar_id\n" + "".join(f"{member_id}\n" for member_id in member_ids)
        s3 = self.stack.client("s3")
        etag = str(s3.put_object(Bucket=bucket, Key=key, Body=body.encode())["ETag"])
        self.stack.drain(DRAIN_TIMEOUT_S)
        import_id = import_id_for(bucket, key, etag)
        report = json.loads(s3.get_object(Bucket=bucket, Key=report_key(import_id))["Body"].read())
        return [f"import {import_id}: {report.get('status')}, counts {json.dumps(report.get('counts'))}"]


def _both(first: Expectation, second: Expectation) -> Expectation:
    return lambda before, after: first(before, after) and second(before, after)


def _tracked(member_id: str, name: str) -> Expectation:
    return lambda before, after: any(
        event["name"] == name and event["person_id"] == member_id
        for event in after.events[len(before.events) :]
    )


def _emailed() -> Expectation:
    return lambda before, after: len(after.emails) == len(before.emails) + 1


def _created(member_id: str) -> Expectation:
    return lambda before, after: member_id not in before.profiles and member_id in after.profiles


def _deleted(member_id: str) -> Expectation:
    return lambda before, after: member_id in before.profiles and member_id not in after.profiles


def run_demo(stack: LocalStack, stopping: threading.Event) -> bool:
    """Play the demo on a running stack (stopping between steps when `stopping` is set); False if a step
    went wrong, which is said in one line: the stack keeps running so the emulator page can be inspected."""
    try:
        Demo(stack, stopping).run()
    except (DemoFailed, TimeoutError) as error:
        print(f"demo stopped: {error}", flush=True)
        return False
    return True
