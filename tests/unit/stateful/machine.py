"""Every actor production has, as rules of one Hypothesis state machine over the pipeline in process.

Writers (raw writes of other services with clocks ahead or behind, contract breakers, huge values; model
writes through the repository; import chunks; the sweep), Customer.io's faults and Lambda's (a timeout
mid-batch, a record run past its time budget, a message received again while its first invocation still
runs, a redrive) interleave freely.
At the end everything is drained (faults stop, every retry runs), the sweep runs once, and the oracle
(tests/unit/stateful/oracle.py, from docs/member-contract.md alone) judges the table and Customer.io.

Every history issue 21 names, and every one the machine found since, is fixed: no rule is narrowed to
avoid a known failure (a new finding is fixed, or held by a precondition named for it here, and said in
docs/benchmarks.md). Parks by design (a 207 item error Customer.io
calls invalid, a member whose retryable failure repeats alone) are redriven by an operator at the end and
must then converge; an email whose delivery id could not be saved may go again (docs/operations.md).
"""

from __future__ import annotations

import copy
import re
from collections import Counter
from typing import Any, Final

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, precondition, rule

from cio_sync.customerio.reporting import ReportingEvent
from cio_sync.imports.chunk import ChunkMessage
from cio_sync.members.contract import InvalidMember
from cio_sync.members.errors import MemberNotFound
from cio_sync.observability import metrics
from cio_sync.pipeline.messages import lane_of
from cio_sync.pipeline.producer import Producer

from . import oracle
from .fake_customerio import TRACK_FAULTS, FakeCustomerIo
from .verdict import FOREIGN, MEMBERS, PERSON_ID, POISON, Verdict, buildable
from .wiring import PLACEHOLDER, Functions, LambdaTimeout
from .world import Clock, SimClaims, SimConsent, SimRepository, Step, Table, TableReader, after, iso

LEGACY_KEY: Final = "someone@example.org"  # a legacy writer keyed by email
MUTE_TIME: Final = "2026-11-20T08:00:00.000000Z"
VALUES: Final[dict[str, list[Any]]] = {
    "email_subscription_status": [True, False, None],
    "email_subscription_topics": [[], ["news"], ["community", "clubs"], ["clubs", "community", "news"]],
    "sms_status": ["active", "less", "pending", "stop", "undeliverable", "unknown", None],
    "sms_subscription_topics": [[], ["general"], ["general", "voting"]],
    "promotions_muted_at": [None, MUTE_TIME],
    "mobile": ["+15555550123", "+447700900123", None],
    "email": ["ada@example.org", "grace@example.org", None],
    "first_name": ["Ada", "<b>Grace</b> Hopper", "Ada &amp; Co", "<!-- x > y -->Lin", None],
    "sms_paused": [True, False],
    "birthdate": ["2000-02-29", None],
    # A day apart, and two in one day: a login that enters a new day, rides along, or goes back.
    "last_authenticated_at": [
        "2026-11-25T09:00:00.000000Z",
        "2026-11-26T08:00:00.000000Z",
        "2026-11-26T10:30:00.000000Z",
    ],
    "source_detail": ["x" * 1000, "campaign"],
}
RULE_INPUT_BREAKERS: Final = (
    {"sms_status": ["active"]},
    {"email_subscription_topics": ["news", "retired"]},
    {"email_subscription_status": "yes"},
    {"email_subscription_status": False, "sms_status": ["active"]},  # a valid part beside a broken one
)
NON_RULE_BREAKERS: Final = (
    {"mobile": "5555550123"},
    {"source_detail": "y" * 1013},
    {"created_at": "2020-01-01"},
)
SKEWS: Final = (-3600, -1, 0, 0, 0, 1, 3600)
# Parked by design for an operator to redrive (docs/pipeline.md): a 207 item error Customer.io calls invalid,
# and a member whose retryable failure repeats alone (batch isolation).
REDRIVABLE: Final = re.compile(r"Customer\.io batch item rejected|fails alone after")
STATUS: Final = "email_subscription_status"


class PipelineMachine(RuleBasedStateMachine, Verdict):
    """One workspace, one table, the five functions; the oracle follows every write in write order."""

    def __init__(self) -> None:
        super().__init__()
        metrics.clear_metrics()
        self.clock = Clock()
        self.expected: dict[str, oracle.Item | None] = {}
        self.tainted: set[str] = set()  # rule inputs break the contract now: no claim about the profile
        self.ever_tainted: set[str] = set()
        self.unbuildable: set[str] = set()
        self.should_park: set[str] = set()
        self.versions: dict[str, set[str]] = {}  # each item's versions so far (`_version`)
        self.emails_due: Counter[str] = Counter()
        self.sweep_needed = False
        self.model_step: Step = lambda item: item
        self.table = Table(self.clock, self._observe)
        self.cio = FakeCustomerIo(self.clock, PLACEHOLDER)
        self.cio.apply({"action": "identify", "identifiers": {"id": FOREIGN}, "attributes": {"x": 1}})
        self.repository = SimRepository(self.table, self._model_step_for)
        self.fn = Functions(self.table, self.cio, self.repository, seed=7)
        self.claims = SimClaims(self.table, self._import_step, self._raw_delete)
        self.producer = Producer(self.fn.publisher, 16, clock=self.clock)
        self.stalled: list[tuple[list[Any], dict[str, Any]]] = []
        self.imports = 0
        self.requests = 0
        self.reports = 0
        self.redrives = 0
        self.rejected: set[str] = set()  # members parked by a 207 item error (redriven at the end)
        self.consent = SimConsent(self.table, self._consent_step)

    # --- the oracle's view of each write ---------------------------------------------------------

    def _observe(
        self, key: str, step: Step | None, old: oracle.Item | None, new: oracle.Item | None, record: Any
    ) -> None:
        sequence = str(record["dynamodb"]["SequenceNumber"])
        if new is not None:
            self.versions.setdefault(key, set()).add(_version(new))
        if not PERSON_ID.fullmatch(key) or not oracle.rule_inputs_valid(new):  # a repair is not parked
            self.should_park.add(sequence)
        if new is not None and not oracle.rule_inputs_valid(new):
            self.tainted.add(key)
            self.ever_tainted.add(key)
        elif new is not None and step is not None:
            self.tainted.discard(key)  # repaired: judged again from here on
        if new is not None and not buildable(new):
            self.unbuildable.add(key)
        if step is None:
            return
        before = self.expected.get(key)
        after = step(before)
        self.expected[key] = after
        if oracle.password_email_due(before, after):
            self.emails_due[key] += 1
        person = self.cio.people.get(key)
        if (
            person is not None
            and after is not None
            and after.get(oracle.OPT_IN_AT) != (before or {}).get(oracle.OPT_IN_AT)
        ):
            person.opted_out = False  # an opt-in after Customer.io's opt-out: a sync may undo it now

    def _now(self) -> str:
        """A write's time as the stream stamps the rules' `now`: its record's whole second."""
        return iso(int(self.clock.now))

    def _model_step_for(self, read: oracle.Item, wrote: oracle.Item) -> Step:
        """The model write in flight, write by write; the stamps the model made on what it read stand where
        the rules stamp the same (docs/member-contract.md)."""
        stamps = {n: wrote[n] for n in oracle.STAMPS if wrote.get(n) is not None and wrote[n] != read.get(n)}
        step = self.model_step
        return lambda item: oracle.keep_writer_stamps(item, step(item), stamps)

    def _import_step(self, mute_at: str, now: str) -> Step:
        stamp = self._now()
        return lambda item: oracle.written(item, {oracle.MUTED: mute_at, "updated_at": now}, stamp)

    def _consent_step(self, changes: dict[str, Any]) -> Step:
        now = self._now()
        return lambda item: oracle.written(item, changes, now)

    def _raw_delete(self, key: str) -> None:
        if key in self.table.items:
            self.table.land(key, None, lambda _item: None)

    # --- writers ---------------------------------------------------------------------------------

    @initialize(
        kinds=st.lists(st.sampled_from(["web", "sms", "none"]), min_size=3, max_size=3), settled=st.booleans()
    )
    def members_sign_up(self, kinds: list[str], settled: bool) -> None:
        """The members there are at the start; `settled`: the pipeline has synced them already."""
        for member, kind in zip(MEMBERS, kinds, strict=True):
            if kind != "none":
                self.sign_up(member, kind == "sms", [])
        if settled:
            self._drain_queues()

    @rule(member=st.sampled_from(MEMBERS), sms=st.booleans(), topics=st.sampled_from([[], ["news"]]))
    def sign_up(self, member: str, sms: bool, topics: list[str]) -> None:
        """Web or SMS sign-up: another service puts the whole item."""
        if member in self.table.items:
            return
        now = self._now()
        item: oracle.Item = {"id": member, "created_at": now, "updated_at": now, oracle.MUTED: None}
        if sms:
            item.update({"mobile": "+15555550123", "sms_status": "active"})
        else:
            item.update({"email": "ada@example.org", "email_subscription_topics": [*topics, "community"]})
        self.table.land(member, item, lambda old: oracle.apply_rules(None, item, now) if old is None else old)

    @rule(member=st.sampled_from((*MEMBERS, POISON)), data=st.data(), skew=st.sampled_from(SKEWS))
    def raw_write(self, member: str, data: st.DataObject, skew: int) -> None:
        raw = self.table.items.get(member)
        if raw is None:
            return
        names = data.draw(st.lists(st.sampled_from(sorted(VALUES)), min_size=1, max_size=3, unique=True))
        changes = self._visible(raw, self.expected.get(member) or {}, names, data)
        if changes:
            self._raw_update(member, changes, skew)

    @rule(
        member=st.sampled_from(MEMBERS),
        name=st.sampled_from(["first_name", "last_name", "addr_city"]),
        pathological=st.booleans(),
        size=st.sampled_from([2_000, 60_000, 300_000]),
    )
    def huge_write(self, member: str, name: str, pathological: bool, size: int) -> None:
        if member not in self.table.items or member in self.tainted:
            return
        value = "<a" * (size // 2) + ">" if pathological else "é" * (size // 2)
        self._raw_update(member, {name: value}, 0)

    @rule(breaker=st.integers(0, len(RULE_INPUT_BREAKERS) - 1))
    def break_rule_inputs(self, breaker: int) -> None:
        if POISON not in self.table.items:
            now = self._now()
            item: oracle.Item = {
                "id": POISON,
                "email": "p@example.org",
                "email_subscription_topics": ["news"],
                "created_at": now,
                "updated_at": now,
                oracle.MUTED: None,
            }
            self.table.land(POISON, item, lambda _old: oracle.apply_rules(None, item, now))
        self._raw_update(POISON, RULE_INPUT_BREAKERS[breaker], 0)

    @rule(member=st.sampled_from(MEMBERS), breaker=st.integers(0, len(NON_RULE_BREAKERS) - 1))
    def break_other_attribute(self, member: str, breaker: int) -> None:
        if member in self.table.items:
            self._raw_update(member, NON_RULE_BREAKERS[breaker], 0)

    @rule()
    def legacy_key_write(self) -> None:
        now = self._now()
        self.table.land(LEGACY_KEY, {"id": LEGACY_KEY, "updated_at": now}, None)

    @rule(member=st.sampled_from(MEMBERS))
    def raw_delete(self, member: str) -> None:
        self._raw_delete(member)

    @rule(
        member=st.sampled_from((*MEMBERS, POISON)),
        data=st.data(),
        kind=st.sampled_from(["update", "update", "password", "admin_mute", "deletion"]),
    )
    def model_write(self, member: str, data: st.DataObject, kind: str) -> None:
        """The CLI's and the auth flow's writes, through the product's MemberRepository (an item whose rule
        inputs break the contract is refused with InvalidMember: the caller's clear error, nothing written;
        a legacy value in any other field holds back nothing)."""
        raw = self.table.items.get(member)
        if raw is None:
            return
        self.clock.sleep(1)  # a real clock moves between two writes (the deletion's mute must be new)
        now = self.clock.iso()  # the model's clock; the rules' `now` is the record's time (its second)
        try:
            self._model_write(member, raw, data, kind, now)
        except (InvalidMember, MemberNotFound):  # MemberNotFound: an item the model cannot read
            if member not in self.tainted:
                raise

    def _model_write(self, member: str, raw: oracle.Item, data: st.DataObject, kind: str, now: str) -> None:
        second = self._now()
        if kind == "admin_mute":
            self.model_step = lambda item: None if item is None else oracle.admin_mute(item, now, second)
            self.repository.admin_mute(member)
            return
        if kind == "deletion":
            self.model_step = lambda item: (
                None if item is None else oracle.deletion_request(item, now, second)
            )
            self.repository.request_deletion(member)
            return
        if kind == "password":
            changes: dict[str, Any] = {"password_updated_at": now}
        else:
            names = data.draw(st.lists(st.sampled_from(sorted(VALUES)), min_size=1, max_size=2, unique=True))
            # A model write need not restate the email status: it is judged write by write, like raw ones.
            changes = self._visible(raw, self.expected.get(member) or {}, names, data, guard=False)
            if not changes:
                return
        self.model_step = lambda item: oracle.model_written(item, changes, second)
        self.repository.update(member, changes)

    @rule(member=st.sampled_from(MEMBERS), data=st.data())
    def password_update(self, member: str, data: st.DataObject) -> None:
        """The auth flow's password change (a model write): the member must get one email for it."""
        self.model_write(member, data, "password")

    @rule(member=st.sampled_from(MEMBERS))
    def forgot_password(self, member: str) -> None:
        self.requests += 1
        self.producer.request_password_reset(member, "https://example.org/reset?token=t", f"r{self.requests}")

    @rule(
        rows=st.lists(st.sampled_from(MEMBERS), min_size=1, max_size=3),
        redeliver=st.booleans(),
        delete_mid=st.none() | st.sampled_from(MEMBERS),
    )
    def import_chunk(self, rows: list[str], redeliver: bool, delete_mid: str | None) -> None:
        self.imports += 1
        message = ChunkMessage(
            f"import-{self.imports}",
            0,
            0,
            tuple((n + 2, m) for n, m in enumerate(rows)),
            self.clock.iso(),
            dry_run=False,
        )
        if delete_mid is not None:
            self.claims.delete_first.add(delete_mid)
        self.fn.import_chunk(self.claims, message.to_json())
        if redeliver:
            self.fn.import_chunk(self.claims, message.to_json())
        self.claims.delete_first.clear()

    @rule(member=st.sampled_from(MEMBERS))
    def opt_out_in_customerio(self, member: str) -> None:
        """A person unsubscribes inside Customer.io; its reporting webhook queues the event for the consent
        function (which writes the table later, `reporting_webhook_delivers`)."""
        self.clock.sleep(1)  # a second after any write Customer.io heard of: "after email_opt_in_at"
        if not self.cio.opt_out(member):
            return
        self.reports += 1
        event = ReportingEvent(
            f"ev{self.reports}",
            "customer",
            "unsubscribed",
            int(self.clock.now),
            member,
            None,
            int(self.clock.now),
        )
        self.fn.consent_queue.send(event.to_message(), member, event.event_id)

    @rule()
    def reporting_webhook_delivers(self) -> None:
        """The consent function, through its real handler, on the queued reporting events."""
        messages = self.fn.consent_queue.receive()
        if messages:
            failed = set(self.fn.consent(messages, self.consent))
            for message in messages:
                if message.message_id not in failed:
                    self.fn.consent_queue.delete(message.receipt)

    # --- the functions ----------------------------------------------------------------------------

    @rule(count=st.integers(1, 8), crash_after=st.none() | st.integers(0, 1))
    def stream(self, count: int, crash_after: int | None) -> None:
        table = self.table
        batch = table.records[table.cursor : table.cursor + count]
        if not batch:
            return
        self.fn.publisher.crash_after = crash_after
        try:
            response = self.fn.stream(batch)
        except LambdaTimeout:
            return  # Lambda retries the whole batch
        finally:
            self.fn.publisher.crash_after = None
        failed = [failure["itemIdentifier"] for failure in response["batchItemFailures"]]
        sequences = [record["dynamodb"]["SequenceNumber"] for record in batch]
        table.cursor += sequences.index(failed[0]) if failed else len(batch)

    @rule(back=st.integers(1, 4))
    def stream_redelivers(self, back: int) -> None:
        start = max(0, self.table.cursor - back)
        if start < self.table.cursor:
            self.fn.stream(self.table.records[start : self.table.cursor])

    @rule(crash=st.booleans())
    def track(self, crash: bool) -> None:
        messages = self.fn.track_queue.receive()
        if not messages:
            return
        self.cio.interrupt = LambdaTimeout() if crash else None
        try:
            failed = set(self.fn.track(messages))
        except LambdaTimeout:
            return  # nothing deleted: the messages come back after their visibility timeout
        finally:
            self.cio.interrupt = None
        for message in messages:
            if message.message_id not in failed:
                self.fn.track_queue.delete(message.receipt)

    @rule()
    def track_stalls(self) -> None:
        """An invocation reads its members, then stalls past its messages' visibility timeout."""
        messages = self.fn.track_queue.receive()
        if messages:
            self.stalled.append((messages, copy.deepcopy(self.table.items)))

    @precondition(lambda self: bool(self.stalled))
    @rule()
    def stalled_track_resumes(self) -> None:
        messages, snapshot = self.stalled.pop(0)
        # What it read may be gone (a delete applied meanwhile): like a batch applied late, only the sweep
        # repairs a profile it re-creates (Customer.io has no conditional write).
        self.sweep_needed = self.sweep_needed or snapshot != self.table.items
        failed = set(self.fn.track(messages, TableReader(self.table, snapshot)))
        for message in messages:
            if message.message_id not in failed:
                self.fn.track_queue.delete(message.receipt)

    @rule()
    def email(self) -> None:
        messages = self.fn.email_queue.receive()
        if messages:
            failed = set(self.fn.email(messages))
            for message in messages:
                if message.message_id not in failed:
                    self.fn.email_queue.delete(message.receipt)

    @rule(check_attributes=st.booleans())
    def sweep(self, check_attributes: bool) -> None:
        self.fn.sweep(check_attributes)

    @rule()
    def redrive_track_dead_letters(self) -> None:
        """An operator redrives the track function's dead letters (the member may have changed since)."""
        for body, _reason in self.fn.track_queue.dead:
            ids = PERSON_ID.findall(body)
            self.redrives += 1  # each redrive is a new message (SQS would not deduplicate it away)
            self.fn.track_queue.send(body, lane_of(ids[0] if ids else "", 16), f"redrive-{self.redrives}")
        self.fn.track_queue.dead.clear()

    # --- faults and time ---------------------------------------------------------------------------

    @rule(fault=st.sampled_from(TRACK_FAULTS), times=st.integers(1, 6))
    def customerio_track_fault(self, fault: str, times: int) -> None:
        self.cio.track_faults.extend([fault] * times)
        self.sweep_needed = self.sweep_needed or fault == "late"

    @rule(fault=st.sampled_from(["429", "500", "timeout-before", "timeout-after"]))
    def customerio_app_fault(self, fault: str) -> None:
        self.cio.app_faults.append(fault)

    @rule(member=st.sampled_from(MEMBERS), remove=st.booleans())
    def someone_edits_customerio(self, member: str, remove: bool) -> None:
        """A person edited or deleted in Customer.io itself (CSV upload, UI): only the sweep repairs it."""
        if member not in self.cio.people:
            return
        if remove:
            self.cio.people.pop(member)
        else:
            stamp = int(self.clock.now)
            self.cio.apply(
                {
                    "action": "identify",
                    "identifiers": {"id": member},
                    "attributes": {"last_name": "Edited"},
                    "timestamp": stamp,
                }
            )
        self.sweep_needed = True

    @rule(nth=st.integers(1, 3), point=st.sampled_from(["start", "io", "end"]))
    def record_budget_runs_out(self, nth: int, point: str) -> None:
        """The next stream invocation's `nth` record runs past its time budget (the handler's timer fires
        before its rules ran, as its write-back returns, or as its work ends): it is parked, its member
        resynced, and its rules' decision must stand (issue 21, F5; review 41)."""
        self.fn.budget_runs_out = (nth, point)

    @rule()
    def customerio_applies_late(self) -> None:
        self.cio.apply_late()

    @rule(times=st.integers(1, 4))
    def idempotency_save_fails(self, times: int) -> None:
        """Saving the delivery id fails (an AWS error), `times` tries in a row (4: every try of a receive)."""
        self.fn.claims.failing_records += times

    @rule(seconds=st.sampled_from([1, 1, 30, 61, 900, 86_400]))
    def time_passes(self, seconds: int) -> None:
        self.clock.sleep(seconds)

    # --- helpers ---------------------------------------------------------------------------------

    def _raw_update(self, member: str, changes: dict[str, Any], skew: int) -> None:
        raw = self.table.items[member]
        stamp = self.clock.iso(skew)
        changes = _restated(raw, self.expected.get(member) or {}, changes)
        # Every writer gives updated_at a new value, and never restores a version the item held
        # (docs/member-contract.md: cio-sync could not tell the two apart).
        while stamp == raw.get("updated_at") or _version(
            oracle.update(raw, {**changes, "updated_at": stamp})
        ) in (self.versions.get(member, set())):
            stamp = after(stamp, stamp)
        changes = {**changes, "updated_at": stamp}
        now = self._now()
        self.table.land(member, oracle.update(raw, changes), lambda item: oracle.written(item, changes, now))

    def _visible(
        self,
        raw: oracle.Item,
        expected: oracle.Item,
        names: list[str],
        data: st.DataObject,
        guard: bool = True,
    ) -> dict[str, Any]:
        """A write the stream can see (docs/pipeline.md, "Racing raw writes"): each attribute it sets changes
        in the table; while a topic pick waits for the rules, a write states its email status itself."""
        pick_pending = (
            guard
            and raw.get("email_subscription_status") is not True
            and expected.get("email_subscription_status") is True
        )
        write: dict[str, Any] = {}
        for name in names:
            choices = [value for value in VALUES[name] if value != raw.get(name)]
            if name == "email_subscription_status" and pick_pending:
                choices = [True, False]
            if choices:
                write[name] = copy.deepcopy(data.draw(st.sampled_from(choices)))
        mutes = write.get(oracle.MUTED) is not None
        if pick_pending and not mutes and "email_subscription_status" not in write:
            write["email_subscription_status"] = data.draw(st.booleans())
        if pick_pending and mutes and write.get("email_subscription_status") is False:
            del write["email_subscription_status"]
        return write

    # --- quiescence and the verdict ----------------------------------------------------------------

    def teardown(self) -> None:
        """Idle: faults stop, every retry runs. Checked before the sweep (unless Customer.io applied a batch
        late, which only the sweep can repair), then after one sweep with attribute checks."""
        self.drain()
        problems = [] if self.sweep_needed else self.verdict()
        if not problems:
            self.fn.sweep(True)
            self.drain()
            problems = self.verdict()
        assert problems == [], "\n".join(problems)

    def drain(self) -> None:
        """Every invocation and retry runs; the faults already injected play out (each is finite), and
        what Customer.io holds back is applied last of all, after everything else."""
        while self.stalled:
            self.stalled_track_resumes()
        self._drain_queues()
        for _ in range(200):  # an operator redrives what Customer.io rejected (a 207 item error, by design)
            rejected = [body for body, reason in self.fn.track_queue.dead if REDRIVABLE.search(reason)]
            if not rejected:
                break
            self.rejected.update(m for body in rejected for m in PERSON_ID.findall(body))
            self.redrive_track_dead_letters()
            self._drain_queues()
        self.cio.apply_late(len(self.cio.late))

    def _drain_queues(self) -> None:
        for _ in range(2_000):
            if self.table.cursor < len(self.table.records):
                self.stream(100, None)
                continue
            queues = (self.fn.track_queue, self.fn.email_queue, self.fn.consent_queue)
            if not any(queue.messages for queue in queues):
                return
            handled = sum(len(queue.messages) for queue in queues)
            self.track(False)
            self.email()
            self.reporting_webhook_delivers()
            if handled == sum(len(queue.messages) for queue in queues):
                later = [m.visible_at for q in queues for m in q.messages if m.visible_at > self.clock.now]
                self.clock.now = min(later, default=self.clock.now + 1)
        raise AssertionError("the pipeline did not become idle")


def _restated(raw: oracle.Item, expected: oracle.Item, changes: dict[str, Any]) -> dict[str, Any]:
    """docs/pipeline.md, "Racing raw writes": while a topic pick waits for the rules, a write whose image
    still shows `email_subscription_status: false` may have written it again, and the product takes it so
    (never messaging someone who may have opted out): the oracle judges such a write as stating it, unless
    it mutes. `_visible` draws the status for `raw_write`; this covers the writers that do not."""
    pending = raw.get(STATUS) is False and expected.get(STATUS) is True
    if pending and STATUS not in changes and changes.get(oracle.MUTED) is None:
        return {**changes, STATUS: False}
    return changes


# What names a version of an item (docs/member-contract.md, "updated_at"): its times and subscription fields.
VERSION_NAMES: Final = (
    "updated_at",
    "created_at",
    "model_write",
    "email_subscription_status",
    "email_subscription_topics",
    "sms_status",
    "sms_subscription_topics",
    oracle.MUTED,
    "email_opt_in_at",
    "email_opt_out_at",
)


def _version(item: oracle.Item) -> str:
    return repr([item.get(name) for name in VERSION_NAMES])
