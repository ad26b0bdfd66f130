"""`make soak`: random member traffic while Customer.io and Lambda misbehave, then proof nothing was lost.

`python -m cio_sync_local.soak --minutes M --seed S` runs the in-process local stack for M minutes (at most
ten): members sign up and change through the model and by raw writes, admins upload small Mute Promotions
files, members ask for deletion and for password resets and change passwords, while the emulator's faults
change every few seconds (5xx, 429 above a rate limit, latency, dropped connections) and the pump crashes
handlers after their Customer.io call and delivers records twice. Then every fault stops, the pipeline is
drained, and the books must balance: nothing transient dead-lettered, every email sent exactly once, every
resubscription tracked exactly once, and every member where the invariant says. Any mismatch exits 1.

Resubscription events are only exact for members whose next mute waits for the event (a member muted
again before the track function sends is skipped by design), so a *cohort* of members cycles mute ->
unmute -> event -> mute, each step waiting for the last; every other member churns freely.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from cio_sync.members.contract import utc_now_iso
from cio_sync.members.errors import ConcurrentWriteError, MemberNotFound
from cio_sync.producer_api import producer
from cio_sync_cli.member_writes import MemberAdmin
from cio_sync_local.adversary import RAW_VALUES, Bursts, Poison
from cio_sync_local.invariant import check_stack, plain
from cio_sync_local.invoker import InjectedCrash, InvocationResult
from cio_sync_local.pump import Faults, Pump, PumpListener
from cio_sync_local.raw_table import raw_update
from cio_sync_local.soak_checks import (
    OLD_RECEIVE_LIMIT,
    RESUBSCRIBE_EVENT,
    Ledger,
    Observed,
    classify_dead_letters,
    mismatches,
    summarise,
)
from cio_sync_local.stack import LocalStack

MAX_MINUTES: Final = 10.0
DEFAULT_MINUTES: Final = 5.0
DRAIN_TIMEOUT_S: Final = 300.0
# Short, so a message whose handler crashed comes back soon; yet longer than a handler runs on a loaded
# machine: at 2 s a slow import chunk came back while it ran, and its queue's 5 receives dead-lettered it.
VISIBILITY_TIMEOUT_S: Final = 10
# Backoffs of failed messages run this much faster, as the short visibility timeout does.
TIME_SCALE: Final = 0.01
DEAD_LETTER_QUEUES: Final = (
    "TrackDeadLetterQueue",
    "EmailDeadLetterQueue",
    "ImportFileDeadLetterQueue",
    "ImportChunkDeadLetterQueue",
    "StreamFailureQueue",
)
# Writes general members may receive (valid under the member contract), through the model or raw.
CHANGES: Final[tuple[dict[str, Any], ...]] = (
    {"email_subscription_status": False},
    {"email_subscription_topics": ["news"]},
    {"email_subscription_topics": ["lifestyle", "clubs"]},
    {"sms_status": "stop"},
    {"sms_status": "active"},
    {"sms_status": "pending"},
    {"sms_status": "undeliverable"},
    {"mobile": "+15550009999"},
    {"first_name": "Renamed"},
    {"addr_city": "Springfield", "country": "US"},
    {"email_subscription_status": False, "sms_status": "stop"},
)
UNSUBSCRIBE_BOTH: Final = {"email_subscription_status": False, "sms_status": "stop"}
TOPIC_SETS: Final = (["news"], ["lifestyle"], ["clubs", "news"], ["scholarships"], ["community", "lifestyle"])
# The emulator's weather, one after another; every phase also resets what the others set.
CALM: Final[dict[str, Any]] = {
    "fail_ratio": 0.0,
    "fail_status": 503,
    "latency_ms": 0,
    "drop_ratio": 0.0,
    "rate_limit_per_s": None,
}
OUTAGE: Final[dict[str, Any]] = {"fail_ratio": 1.0, "fail_status": 503}
RATE_LIMITED: Final[dict[str, Any]] = {"rate_limit_per_s": 1, "latency_ms": 20}
# The outage lasts until a message has been received more often than the old receive limit of 5 allowed
# (so it would have been dead-lettered), the 1/s phase until it drew a 429: events, not seconds, so a busy
# machine neither cuts them short nor a quiet one waits for nothing. A phase whose event has not come
# within this bound ends anyway, and the summary's guard says so.
PHASE_EVENT_BOUND_S: Final = 180.0
WEATHER: Final[tuple[dict[str, Any], ...]] = (
    {"fail_ratio": 0.2, "fail_status": 503},
    # Low enough that batched traffic goes over it and gets 429s, as a busy account would.
    RATE_LIMITED,
    {"fail_ratio": 0.15, "fail_status": 500, "latency_ms": 120},
    {"drop_ratio": 0.12},
    {"fail_ratio": 0.1, "fail_status": 502, "drop_ratio": 0.05, "rate_limit_per_s": 30},
    # An outage: every request fails, for longer than the five receives a message used to be allowed.
    OUTAGE,
    {},
)
OPERATION_WEIGHTS: Final = {
    "signup": 6,
    "update": 14,
    "raw": 10,
    "import": 3,
    "deletion": 3,
    "forgot": 6,
    "password": 5,
    "cohort": 14,
    "rename": 4,
    "burst": 4,
    "poison": 1,
}
PAUSE_S: Final = 0.03
EVENT_WAIT_S: Final = 0.2
# Handlers log at ERROR when they dead-letter on purpose (a reset for a member without email); the soak
# counts those itself, and its output is the summary.
LOG_LEVEL: Final = "CRITICAL"
STREAM_FUNCTION: Final = "MemberStreamFunction"
_DESERIALIZER: Final = TypeDeserializer()


class SoakFailed(RuntimeError):
    """The soak could not run to its end (the stack would not drain, a write kept failing)."""


@dataclass(frozen=True)
class SoakConfig:
    minutes: float = DEFAULT_MINUTES
    seed: int = 0
    general_members: int = 30
    max_general_members: int = 120
    cohort_members: int = 12
    crash_after_call: float = 0.08
    duplicate_delivery: float = 0.1
    burst_members: int = 6
    poison_members: int = 3
    # A fixed number of steps instead of minutes (each weather phase gets steps / phases): the same
    # workload on a fast or a slow machine, for the short soak in `make test`.
    steps: int | None = None
    # How often the whole WEATHER cycle runs: one round already meets every fault once.
    weather_rounds: int = 2
    drain_timeout_s: float = DRAIN_TIMEOUT_S

    @property
    def seconds(self) -> float:
        return min(self.minutes, MAX_MINUTES) * 60

    @property
    def phases(self) -> int:
        return len(WEATHER) * self.weather_rounds


@dataclass
class CohortMember:
    """One step at a time: a mute must be seen in the table, an unmute's event in Customer.io."""

    member_id: str
    state: str = "active"  # active -> muting -> muted -> unmuting -> active
    unmutes: int = 0  # unmute transitions that took effect: each owes one resubscribe event
    unmute_written_raw: bool = False


class PumpFaultCounter(PumpListener):
    """Counts the pump's injected crashes and duplicate deliveries as a listener of the pump, and the most
    receives any SQS message had (an outage's backoff keeps messages coming back), in all and since
    `new_phase()`."""

    def __init__(self, pump: Pump) -> None:
        self.crashes = 0
        self.duplicates = 0
        self.max_receive_count = 0
        self.phase_max_receive_count = 0
        pump.add_listener(self)

    def new_phase(self) -> None:
        self.phase_max_receive_count = 0

    def invoked(self, function: str, event: dict[str, Any], result: InvocationResult) -> None:
        for record in event.get("Records", []):
            receives = (record.get("attributes") or {}).get("ApproximateReceiveCount")
            if receives is not None:
                self.max_receive_count = max(self.max_receive_count, int(receives))
                self.phase_max_receive_count = max(self.phase_max_receive_count, int(receives))
        if isinstance(result.error, InjectedCrash):
            self.crashes += 1

    def duplicated(self, function: str, records: int) -> None:
        self.duplicates += 1


class Soak:
    def __init__(self, stack: LocalStack, config: SoakConfig, say: Callable[[str], None]) -> None:
        self.stack = stack
        self.config = config
        self.say = say
        self.random = random.Random(config.seed)  # noqa: S311 - a reproducible workload, not a secret
        self.repo = MemberAdmin(stack.table_name(), endpoint_url=stack.aws_endpoint)
        self.ledger = Ledger()
        self.general: list[str] = []
        self.cohort: list[CohortMember] = []
        self._rate_limited_before = 0  # the emulator's 429 count when the phase began
        if stack.pump is None or stack.emulator is None:
            raise SoakFailed("the local stack is not running")
        self.pump = stack.pump
        self.emulator = stack.emulator
        self.pump_faults = PumpFaultCounter(stack.pump)
        self._serializer = TypeSerializer()
        pump = stack.pump
        self.bursts = Bursts(
            read=self.repo_raw,
            raw_update=self.raw_update,
            hold_stream=lambda: pump.hold(STREAM_FUNCTION),
            choose=self.random.choice,
        )
        self.poison = Poison(put_raw=self.put_raw, raw_update=self.raw_update, choose=self.random.choice)

    # -- writes

    def sign_up(self, *, web: bool) -> str:
        unique = uuid.uuid4().hex[:12]
        if web:
            member = self.repo.create_web_signup(
                {"email": f"soak-{unique}@example.org", "first_name": "Soak"}
            )
        else:
            member = self.repo.create_sms_signup({"mobile": f"+1555{uuid.uuid4().int % 10**7:07d}"})
        self.ledger.has_email[member["id"]] = bool(member.get("email"))
        self.ledger.writes["signup"] += 1
        return str(member["id"])

    def raw_update(self, member_id: str, changes: Mapping[str, Any]) -> None:
        """A write as another service makes it: straight to the table, no rules applied."""
        raw_update(self.stack.client("dynamodb"), self.stack.table_name(), member_id, changes)

    def put_raw(self, item: Mapping[str, Any]) -> None:
        """A whole item as another service may store it (a legacy id, say): no rules, no contract."""
        self.stack.client("dynamodb").put_item(
            TableName=self.stack.table_name(),
            Item={name: self._serializer.serialize(value) for name, value in item.items()},
        )

    def repo_raw(self, member_id: str) -> dict[str, Any] | None:
        """The item as stored (consistent), whatever it holds."""
        found = self.stack.client("dynamodb").get_item(
            TableName=self.stack.table_name(), Key={"id": {"S": member_id}}, ConsistentRead=True
        )
        item = found.get("Item")
        if item is None:
            return None
        return {name: plain(_DESERIALIZER.deserialize(value)) for name, value in item.items()}

    def upload_import(self, member_ids: Sequence[str]) -> None:
        rows = [*member_ids, uuid.uuid4().hex[:24], "not-an-id"]
        self.random.shuffle(rows)
        body = ("northstar_id\n" + "\n".join(rows) + "\n").encode()
        key = f"mute-promotions/soak-{self.ledger.imports:04d}-{uuid.uuid4().hex[:8]}.csv"
        self.stack.client("s3").put_object(Bucket=self.stack.bucket_name(), Key=key, Body=body)
        self.ledger.imports += 1
        self.ledger.writes["import"] += 1

    def forgot_password(self, member_id: str) -> None:
        url = f"https://example.org/reset?token={uuid.uuid4().hex}"
        intent_id = producer().request_password_reset(member_id, url)
        self.ledger.resets[url] = member_id
        if not self.ledger.has_email[member_id]:
            self.ledger.reset_intents_without_email.add(intent_id)
        self.ledger.writes["forgot"] += 1

    def password_update(self, member_id: str) -> None:
        self.repo.update(member_id, {"password_updated_at": utc_now_iso()})
        if self.ledger.has_email[member_id]:
            self.ledger.password_updates[member_id] += 1
        else:
            self.ledger.password_updates_without_email += 1
        self.ledger.writes["password"] += 1

    def any_member(self) -> str:
        members = self.general + [member.member_id for member in self.cohort]
        return self.random.choice(members)

    def step(self) -> None:
        names = list(OPERATION_WEIGHTS)
        kind = self.random.choices(names, weights=[OPERATION_WEIGHTS[name] for name in names])[0]
        try:
            if kind == "signup" and len(self.general) < self.config.max_general_members:
                self.general.append(self.sign_up(web=self.random.random() < 0.7))
            elif kind == "update":
                self.repo.update(self.random.choice(self.general), self.random.choice(CHANGES))
                self.ledger.writes["update"] += 1
            elif kind == "raw":
                self.raw_update(self.random.choice(self.general), self.random.choice(CHANGES))
                self.ledger.writes["raw"] += 1
            elif kind == "import":
                self.upload_import(self.random.sample(self.general, k=self.random.randint(1, 4)))
            elif kind == "deletion":
                self.repo.request_deletion(self.random.choice(self.general))
                self.ledger.writes["deletion"] += 1
            elif kind == "forgot":
                self.forgot_password(self.any_member())
            elif kind == "password":
                self.password_update(self.any_member())
            elif kind == "cohort":
                self.advance(self.random.choice(self.cohort))
            elif kind == "rename":
                member = self.random.choice(self.cohort)
                self.repo.update(member.member_id, {"first_name": f"Cohort{self.random.randint(0, 999)}"})
                self.ledger.writes["update"] += 1
            elif kind in ("burst", "poison"):
                self.adversary(kind)
        except ConcurrentWriteError:
            self.ledger.writes["conflicts"] += (
                1  # the stream's write-back won a race; the write is retried later
            )

    def adversary(self, kind: str) -> None:
        """A burst of racing raw writes to one burst member, or a write that breaks the contract."""
        if kind == "poison":
            self.poison.write()
        else:
            fields = sorted(RAW_VALUES)
            self.bursts.burst(
                self.random.randint(2, 4), lambda: self.random.sample(fields, k=self.random.randint(1, 3))
            )
        self.ledger.writes[kind] += 1

    # -- the cohort's cycle

    def advance(self, member: CohortMember) -> None:
        item = self.repo.get(member.member_id)
        if item is None:
            raise MemberNotFound(member.member_id)
        muted = item.get("promotions_muted_at") is not None
        if member.state == "active":
            self._mute(member)
            member.state = "muting"
        elif member.state == "muting" and muted:
            member.state = "muted"
        elif member.state == "muted":
            self._unmute(member, item)
            member.state = "unmuting"
        elif member.state == "unmuting":
            if member.unmute_written_raw and not muted:
                member.unmutes += 1  # the stream applied the rules to the raw write
                member.unmute_written_raw = False
            if not member.unmute_written_raw and self._events_of(member.member_id) >= member.unmutes:
                member.state = "active"

    def _mute(self, member: CohortMember) -> None:
        how = self.random.choice(["model", "raw", "admin", "import", "deletion"])
        if how == "model":
            self.repo.update(member.member_id, UNSUBSCRIBE_BOTH)
        elif how == "raw":
            self.raw_update(member.member_id, UNSUBSCRIBE_BOTH)
        elif how == "admin":
            self.repo.admin_mute(member.member_id)
        elif how == "deletion":
            self.repo.request_deletion(member.member_id)
        else:
            self.upload_import([member.member_id])
            return
        self.ledger.writes["cohort_mute"] += 1

    def _unmute(self, member: CohortMember, item: Mapping[str, Any]) -> None:
        """Choosing email topics resubscribes (and so unmutes) whatever muted the member."""
        current = set(item.get("email_subscription_topics") or [])
        topics = self.random.choice([chosen for chosen in TOPIC_SETS if set(chosen) != current])
        if self.random.random() < 0.5:
            self.raw_update(member.member_id, {"email_subscription_topics": topics})
            member.unmute_written_raw = True
        else:
            written = self.repo.update(member.member_id, {"email_subscription_topics": topics})
            if written.get("promotions_muted_at") is not None:
                raise SoakFailed(f"cohort member {member.member_id} stayed muted after resubscribing")
            member.unmutes += 1
        self.ledger.writes["cohort_unmute"] += 1

    def _events_of(self, member_id: str) -> int:
        return sum(
            1
            for event in self.emulator.state.events_json()
            if event["person_id"] == member_id and event["name"] == RESUBSCRIBE_EVENT
        )

    # -- weather

    def set_weather(self, number: int) -> None:
        weather = WEATHER[number % len(WEATHER)]
        self.emulator.set_faults(**{**CALM, **weather, "seed": self.config.seed + number})
        self.pump_faults.new_phase()
        self._rate_limited_before = int(self.emulator.stats()["rate_limited"])
        self.ledger.weather.append(weather)
        self.say(f"soak: weather {number}: {json.dumps(weather, sort_keys=True) if weather else 'calm'}")

    # -- the run

    def run(self) -> dict[str, Any]:
        config = self.config
        for number in range(config.general_members):
            self.general.append(self.sign_up(web=number % 3 != 0))
        self.cohort = [CohortMember(self.sign_up(web=True)) for _ in range(config.cohort_members)]
        burst_ids = [self.sign_up(web=True) for _ in range(config.burst_members)]
        self.poison.members.extend(self.sign_up(web=True) for _ in range(config.poison_members))
        self.stack.drain(config.drain_timeout_s)
        for member_id in burst_ids:
            self.bursts.add(member_id)
        started = time.monotonic()
        for number in range(config.phases):
            self.set_weather(number)
            phase_started = time.monotonic()
            # Every weather meets a burst of racing writes and a poison item, whatever the random steps do.
            self.adversary("burst")
            self.adversary("poison")
            self.provoke(WEATHER[number % len(WEATHER)])
            steps = 2
            while not self._phase_over(number, phase_started, steps, started):
                if config.steps is not None and steps >= self._steps_per_phase:
                    # Its share of the steps done, a phase waits for its event without adding work: on
                    # a busy machine an outage lasted longer and its steps piled up CPU-bound work.
                    time.sleep(EVENT_WAIT_S)
                    continue
                self.step()
                steps += 1
                time.sleep(PAUSE_S)
        self.say("soak: faults off, draining")
        self.emulator.set_faults(**CALM)
        self.pump.faults = Faults()
        self.stack.drain(config.drain_timeout_s)
        for member in self.cohort:  # raw unmutes decided by the stream after the loop stopped
            if member.state == "unmuting":
                self.advance(member)
        self.stack.drain(config.drain_timeout_s)
        return self.account(time.monotonic() - started)

    @property
    def _steps_per_phase(self) -> int:
        return max(1, (self.config.steps or 0) // self.config.phases)

    def _phase_over(self, number: int, phase_started: float, steps: int, started: float) -> bool:
        """A phase lasts its share of the steps (or of the minutes) and until its event, if it has one."""
        config = self.config
        if not self._phase_event_seen(WEATHER[number % len(WEATHER)]):
            if time.monotonic() - phase_started < PHASE_EVENT_BOUND_S:
                return False
            self.say(f"soak: weather {number} ended without its event after {PHASE_EVENT_BOUND_S:g} s")
        if config.steps is not None:
            return steps >= self._steps_per_phase
        return time.monotonic() >= started + config.seconds * (number + 1) / config.phases

    def provoke(self, weather: Mapping[str, Any]) -> None:
        """Work that brings the phase's event soon, whatever the random steps do: a reset queued in the
        outage's first second (a message to outlive the old receive limit; most other work waits in the
        stream meanwhile), and profile changes to several members at once under the 1/s limit."""
        if weather is OUTAGE:
            self.forgot_password(self.random.choice([m for m in self.general if self.ledger.has_email[m]]))
        elif weather is RATE_LIMITED:
            for member_id in self.random.sample(self.general, k=6):
                self.raw_update(member_id, {"first_name": f"Rated{self.random.randint(0, 999)}"})
                self.ledger.writes["raw"] += 1

    def _phase_event_seen(self, weather: Mapping[str, Any]) -> bool:
        if weather is OUTAGE:
            return self.pump_faults.phase_max_receive_count > OLD_RECEIVE_LIMIT
        if weather is RATE_LIMITED:
            return int(self.emulator.stats()["rate_limited"]) > self._rate_limited_before
        return True

    def observe(self, seconds: float) -> Observed:
        """Read what the run left: the emulator's books, the table, every dead-letter queue."""
        sqs = self.stack.client("sqs")
        addresses = {
            str(item["email"]): member_id
            for member_id, has_email in self.ledger.has_email.items()
            if has_email
            and member_id not in self.poison.ids
            and (item := self.repo.get(member_id)) is not None
        }
        violations = check_stack(
            self.stack.client("dynamodb"),
            self.stack.table_name(),
            self.stack.emulator_url,
            ignore_profiles={self.stack.environment["CUSTOMER_IO_APP_IDENTIFIER_ID"]},
            skip=self.poison.ids,  # they break the contract on purpose: the invariant makes no claim
        )
        return Observed(
            seed=self.config.seed,
            seconds=seconds,
            ledger=self.ledger,
            emulator_stats=self.emulator.stats(),
            emails=self.emulator.state.emails_json(),
            events=self.emulator.state.events_json(),
            requests=self.emulator.state.requests_json(),
            addresses=addresses,
            dead_letters={
                queue: list(_drain_queue(sqs, self.stack.queue_url(queue))) for queue in DEAD_LETTER_QUEUES
            },
            cohort_unmutes={member.member_id: member.unmutes for member in self.cohort},
            violations=violations,
            bursts=self.bursts.bursts,
            burst_writes=sum(member.writes for member in self.bursts.members),
            burst_mismatches=self.bursts.mismatches(),
            poison_ids=frozenset(self.poison.ids),
            poison_written=self.poison.written,
            failed_invocations=sum(poller["failed_invocations"] for poller in self.pump.stats().values()),
            crashes=self.pump_faults.crashes,
            duplicates=self.pump_faults.duplicates,
            max_receive_count=self.pump_faults.max_receive_count,
        )

    def account(self, seconds: float) -> dict[str, Any]:
        """Every figure the soak prints, and the mismatches that fail it (soak_checks)."""
        seen = self.observe(seconds)
        dead = classify_dead_letters(
            seen.dead_letters, self.ledger.reset_intents_without_email, seen.poison_ids
        )
        return {**summarise(seen, dead), "mismatches": mismatches(seen, dead)}


def _drain_queue(sqs: Any, queue_url: str) -> Iterator[dict[str, Any]]:
    """Every message on the queue, each once (hidden for the rest of the run after it is read)."""
    for _ in range(1000):
        messages = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=10,
            MessageAttributeNames=["All"],
            VisibilityTimeout=600,
            WaitTimeSeconds=0,
        ).get("Messages", [])
        if not messages:
            return
        yield from messages


def soak(config: SoakConfig, say: Callable[[str], None]) -> dict[str, Any]:
    """Start a stack with the pump's faults, run the soak on it, stop it; returns the summary."""
    faults = Faults(
        crash_after_call=config.crash_after_call,
        duplicate_delivery=config.duplicate_delivery,
        seed=config.seed,
    )
    # Metrics off: nothing reads them, and serialising one per invocation was a share of the soak's CPU.
    environment = {"POWERTOOLS_LOG_LEVEL": LOG_LEVEL, "POWERTOOLS_METRICS_DISABLED": "true"}
    with LocalStack(
        aws_port=0,
        cio_port=0,
        faults=faults,
        visibility_timeout_s=VISIBILITY_TIMEOUT_S,
        time_scale=TIME_SCALE,
        environment=environment,
        # Every request body kept, so what the pipeline sent can be judged, not what the emulator kept.
        emulator_options={"request_log_size": 1_000_000, "request_log_body_bytes": 1 << 30},
    ) as stack:
        return Soak(stack, config, say).run()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cio_sync_local.soak", description=__doc__)
    parser.add_argument("--minutes", type=float, default=DEFAULT_MINUTES, help=f"at most {MAX_MINUTES:g}")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if not 0 < args.minutes <= MAX_MINUTES:
        parser.error(f"--minutes must be more than 0 and at most {MAX_MINUTES:g}")
    config = SoakConfig(minutes=args.minutes, seed=args.seed)

    def say(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    # Powertools writes its metrics to stdout (CloudWatch's format); stdout is for the summary.
    try:
        with open(os.devnull, "w", encoding="utf-8") as null, contextlib.redirect_stdout(null):
            summary = soak(config, say)
    except (SoakFailed, TimeoutError) as error:
        say(f"soak FAILED: {error}")
        return 2
    print(json.dumps(summary, indent=2, sort_keys=True))
    for mismatch in summary["mismatches"]:
        say(f"MISMATCH: {mismatch}")
    return 1 if summary["mismatches"] else 0


if __name__ == "__main__":
    sys.exit(main())
