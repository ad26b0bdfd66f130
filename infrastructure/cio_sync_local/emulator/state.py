"""What the emulated Customer.io workspace holds: people, events, deliveries, activity and the request log.

All mutation goes through `EmulatorState` under one lock, so concurrent requests see Customer.io-like
all-or-nothing updates per operation and tests can read a consistent snapshot in-process.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Literal

from cio_sync_local.emulator.records import (
    IDENTIFY_CONTROL_KEYS,
    PREFERENCES,
    Delivery,
    DeliveryStatus,
    IdentifyOutcome,
    JsonValue,
    Profile,
    StoredEvent,
    email_key,
    is_unsubscribed,
    removes_attribute,
    set_preference,
)
from cio_sync_local.emulator.requestlog import REQUEST_LOG_BODY_BYTES, REQUEST_LOG_SIZE, RequestLog

EmailIdentifier = Literal["off", "unique"]
"""Whether the workspace also identifies people by email ("unique") or by id only ("off", the default)."""
EMAIL_IDENTIFIER_MODES: tuple[EmailIdentifier, ...] = ("off", "unique")

ACTIVITY_LOG_SIZE = 10_000
"""How many activity entries (attribute update failures and the like) `/_emulator/activity` keeps."""
HISTORY_SIZE = 10_000
"""How many entries the history (everything that happened, deletes included: the page's timeline) keeps."""


class EmulatorState:
    """The workspace plus counters. Every public method takes the lock; callers never need to."""

    def __init__(
        self,
        clock: Callable[[], float] = time.time,
        *,
        email_identifier: EmailIdentifier = "off",
        request_log_size: int = REQUEST_LOG_SIZE,
        request_log_body_bytes: int = REQUEST_LOG_BODY_BYTES,
    ) -> None:
        if email_identifier not in EMAIL_IDENTIFIER_MODES:
            raise ValueError(f"email_identifier must be one of {', '.join(EMAIL_IDENTIFIER_MODES)}")
        self.lock = threading.RLock()
        self._clock = clock
        self.email_identifier: EmailIdentifier = email_identifier
        self.profiles: dict[str, Profile] = {}
        self._by_seq: dict[int, str] = {}
        self._by_cio_id: dict[str, str] = {}
        self.events: list[StoredEvent] = []
        self.event_ids: set[str] = set()
        self.emails: list[Delivery] = []
        self.activity: deque[dict[str, JsonValue]] = deque(maxlen=ACTIVITY_LOG_SIZE)
        self.history: deque[dict[str, JsonValue]] = deque(maxlen=HISTORY_SIZE)
        self.request_log = RequestLog(request_log_size, request_log_body_bytes)
        self.requests_by_status: Counter[int] = Counter()
        self.operations_applied = 0
        self.operations_unmodelled = 0
        self.duplicate_events_ignored = 0
        self.attribute_update_failures = 0
        self.suppressed: set[str] = set()
        self._delivery_counter = 0
        self._seq = 0

    @property
    def email_is_identifier(self) -> bool:
        return self.email_identifier == "unique"

    def reset(self) -> None:
        with self.lock:
            self.profiles.clear()
            self._by_seq.clear()
            self._by_cio_id.clear()
            self.events.clear()
            self.event_ids.clear()
            self.emails.clear()
            self.activity.clear()
            self.history.clear()
            self.request_log.clear()
            self.requests_by_status.clear()
            self.operations_applied = 0
            self.operations_unmodelled = 0
            self.duplicate_events_ignored = 0
            self.attribute_update_failures = 0
            self.suppressed.clear()
            self._delivery_counter = 0
            self._seq = 0

    # ---- people ------------------------------------------------------------------------------------

    def _create(self, person_id: str, now: float) -> Profile:
        self._seq += 1
        profile = Profile(
            person_id=person_id,
            attributes={},
            created=now,
            updated=now,
            seq=self._seq,
            cio_id=f"{self._seq:08x}",
        )
        self.profiles[person_id] = profile
        self._by_seq[profile.seq] = person_id
        self._by_cio_id[profile.cio_id] = person_id
        return profile

    def _forget(self, person_id: str) -> None:
        profile = self.profiles.pop(person_id, None)
        if profile is not None:
            self._by_seq.pop(profile.seq, None)
            self._by_cio_id.pop(profile.cio_id, None)

    def _rekey(self, profile: Profile, person_id: str) -> None:
        """Give an existing person a new id (Customer.io keeps their cio_id, attributes and history)."""
        del self.profiles[profile.person_id]
        profile.person_id = person_id
        self.profiles[person_id] = profile
        self._by_seq[profile.seq] = person_id
        self._by_cio_id[profile.cio_id] = person_id

    def email_owner(self, email: JsonValue) -> str | None:
        """The id of the person whose `email` attribute matches, ignoring case; None if nobody's does."""
        wanted = email_key(email)
        if wanted is None:
            return None
        with self.lock:
            for person_id, profile in self.profiles.items():
                if email_key(profile.attributes.get("email")) == wanted:
                    return person_id
        return None

    def merged_attribute_count(self, person_id: str, changes: Mapping[str, JsonValue]) -> int:
        """How many attributes the person would have after `changes`, for the 300-per-person limit."""
        with self.lock:
            profile = self.profiles.get(person_id)
            current = dict(profile.attributes) if profile else {}
        for name, value in changes.items():
            if name in IDENTIFY_CONTROL_KEYS:
                continue
            if removes_attribute(value):
                current.pop(name, None)
            else:
                current[name] = value
        return len(current)

    def identify(
        self,
        person_id: str,
        changes: Mapping[str, JsonValue],
        *,
        update_only: bool = False,
        timestamp: int | None = None,
        source: str = "identify",
    ) -> IdentifyOutcome:
        """Merge attributes into the person, creating them unless `update_only`.

        With a `timestamp` (`_timestamp` in v1, `timestamp` in v2), an attribute last written by a later
        update keeps its value, which is how Customer.io orders rapid updates that arrive out of order.

        When email is also an identifier, an `email` that belongs to someone else makes the update fail
        for an existing person (recorded as an attribute update failure, nothing applied); for a person
        who does not exist yet it updates the email's owner and gives them `person_id` (the Track
        document's identify description says both).
        """
        with self.lock:
            if person_id in self.suppressed:
                self._record_activity("suppressed_identify_ignored", person_id, self._clock(), source=source)
                return IdentifyOutcome.SUPPRESSED
            return self._identify(person_id, changes, update_only, timestamp, source)

    def _identify(
        self,
        person_id: str,
        changes: Mapping[str, JsonValue],
        update_only: bool,
        timestamp: int | None,
        source: str,
    ) -> IdentifyOutcome:
        with self.lock:
            now = self._clock()
            profile = self.profiles.get(person_id)
            if self.email_is_identifier and "email" in changes:
                owner = self.email_owner(changes["email"])
                if owner is not None and owner != person_id:
                    if profile is not None:
                        self._attribute_update_failure(person_id, owner, source, now)
                        return IdentifyOutcome.CONFLICT
                    profile = self.profiles[owner]
                    self._rekey(profile, person_id)
                    self._record_activity(
                        "identifier_reassigned",
                        person_id,
                        now,
                        source=source,
                        previous_id=owner,
                        reason="the email belongs to this person, who now has the id in the request",
                    )
            created = profile is None
            if profile is None:
                if update_only:
                    self._record_activity(
                        "failed_attribute_change",
                        person_id,
                        now,
                        source=source,
                        reason="_update is true and no person has this identifier",
                    )
                    return IdentifyOutcome.NOT_FOUND
                profile = self._create(person_id, now)
            set_at = timestamp if timestamp is not None else int(now)
            for name, value in changes.items():
                if name in IDENTIFY_CONTROL_KEYS:
                    continue
                # One timestamp for the whole subscription-centre object (the App API lists one).
                stamped = PREFERENCES if name.startswith(PREFERENCES + ".") else name
                if timestamp is not None:
                    if profile.attribute_timestamps.get(stamped, timestamp) > timestamp:
                        continue
                    profile.attribute_timestamps[stamped] = timestamp
                if stamped != name:
                    set_preference(profile.attributes, name.split(".")[1:], value)
                    profile.attribute_set_at[stamped] = set_at
                elif removes_attribute(value):
                    profile.attributes.pop(name, None)
                    profile.attribute_set_at.pop(name, None)
                else:
                    profile.attributes[name] = value
                    profile.attribute_set_at[name] = set_at
            profile.updated = now
            self.operations_applied += 1
            names = sorted(set(changes) - IDENTIFY_CONTROL_KEYS)
            self._remember("identify", person_id, now, created=created, attributes=names)
            return IdentifyOutcome.APPLIED

    def seed(self, people: Iterable[tuple[str, Mapping[str, JsonValue]]]) -> int:
        """Put people straight into the workspace, as if they had been there all along: no request is made,
        logged, counted or rate limited (benchmarks and tests that need a workspace of a given shape).

        Existing people get the attributes merged; `None` and `""` are left out. Returns how many.
        """
        count = 0
        with self.lock:
            now = self._clock()
            for person_id, attributes in people:
                profile = self.profiles.get(person_id) or self._create(person_id, now)
                for name, value in attributes.items():
                    if name in IDENTIFY_CONTROL_KEYS or removes_attribute(value):
                        continue
                    profile.attributes[name] = value
                    profile.attribute_set_at[name] = int(now)
                profile.updated = now
                count += 1
        return count

    def _attribute_update_failure(self, person_id: str, owner: str, source: str, now: float) -> None:
        self.attribute_update_failures += 1
        self._record_activity(
            "attribute_update_failure",
            person_id,
            now,
            source=source,
            identifier="email",
            conflicting_person_id=owner,
            reason="the email in the request belongs to another person; nothing was changed",
        )

    def _record_activity(self, kind: str, person_id: str, now: float, **details: JsonValue) -> None:
        self.activity.append({"type": kind, "person_id": person_id, "time": now, **details})
        self._remember(kind, person_id, now, **details)

    def _remember(self, kind: str, person_id: str | None, now: float, **details: JsonValue) -> None:
        """One entry of the history, with the lock held. Values are shared with the state, not copied."""
        self.history.append({"type": kind, "person_id": person_id, "time": now, **details})

    def delete(self, person_id: str) -> None:
        """Remove the person; deleting someone who does not exist is fine, as in Customer.io."""
        with self.lock:
            existed = person_id in self.profiles
            self._forget(person_id)
            self.operations_applied += 1
            self._remember("delete", person_id, self._clock(), existed=existed)

    # ---- what the person or the workspace's team does in Customer.io -------------------------------

    def unsubscribe(self, person_id: str) -> Profile | None:
        """An unsubscribe click: `unsubscribed` true, stamped with Customer.io's clock (an identify stamped
        earlier leaves it alone). None when there is no such person."""
        return self._set_by_customerio(person_id, "unsubscribed", True, "unsubscribed")

    def change_preferences(self, person_id: str, topics: Mapping[str, bool]) -> Profile | None:
        """A save on the hosted preference page: the subscription-centre topics, stamped likewise."""
        with self.lock:
            profile = self.profiles.get(person_id)
            current = profile.attributes.get(PREFERENCES) if profile is not None else None
            chosen = dict((current or {}).get("topics") or {}) if isinstance(current, dict) else {}
            chosen.update(topics)
            return self._set_by_customerio(
                person_id, PREFERENCES, {"topics": chosen}, "subscription_preferences_changed"
            )

    def _set_by_customerio(self, person_id: str, name: str, value: JsonValue, kind: str) -> Profile | None:
        with self.lock:
            profile = self.profiles.get(person_id)
            if profile is None:
                return None
            now = self._clock()
            profile.attributes[name] = value
            profile.attribute_timestamps[name] = max(int(now), profile.attribute_timestamps.get(name, 0))
            profile.attribute_set_at[name] = int(now)
            profile.updated = now
            self._record_activity(kind, person_id, now, source="emulator")
            return profile

    def suppress(self, person_id: str) -> None:
        """Track API suppress: the person is deleted and no identify or event re-creates them."""
        with self.lock:
            self._forget(person_id)
            self.suppressed.add(person_id)
            self.operations_applied += 1

    def unsuppress(self, person_id: str) -> None:
        """Track API unsuppress: the id may be used again (nobody is re-created by it)."""
        with self.lock:
            self.suppressed.discard(person_id)
            self.operations_applied += 1

    def add_event(
        self,
        person_id: str,
        name: str,
        data: Mapping[str, JsonValue],
        *,
        event_id: str | None,
        timestamp: int | None,
    ) -> bool:
        """Store an event; a repeated event id is ignored (False). An unknown person is created first."""
        with self.lock:
            now = self._clock()
            if event_id is not None and event_id in self.event_ids:
                self.duplicate_events_ignored += 1
                return False
            if person_id in self.suppressed:
                self._record_activity("suppressed_event_ignored", person_id, now)
                return False
            if person_id not in self.profiles:
                self._create(person_id, now)
            if event_id is not None:
                self.event_ids.add(event_id)
            self.events.append(
                StoredEvent(
                    person_id=person_id,
                    name=name,
                    data=dict(data),
                    event_id=event_id,
                    timestamp=timestamp,
                    received=now,
                )
            )
            self.operations_applied += 1
            self._remember("event", person_id, now, name=name, id=event_id, data=self.events[-1].data)
            return True

    def count_unmodelled(self) -> None:
        """A valid operation this emulator accepts but does not model (objects, devices, relationships)."""
        with self.lock:
            self.operations_unmodelled += 1

    # ---- transactional email -----------------------------------------------------------------------

    def add_delivery(
        self,
        request: Mapping[str, JsonValue],
        identifier: tuple[str, str],
        *,
        message_id: int | None,
        effective: Mapping[str, JsonValue],
    ) -> Delivery:
        """Queue a transactional email for the identified person, as Customer.io decides its fate.

        An unknown `id` (or, here, `email`) creates that person, as the App API documents; a `cio_id`
        never creates anyone. An unsubscribed person gets the message only if `send_to_unsubscribed`.
        """
        kind, value = identifier
        with self.lock:
            now = self._clock()
            person_id = self._delivery_person(kind, value, now)
            profile = self.profiles.get(person_id) if person_id is not None else None
            status: DeliveryStatus = "sent"
            reason: str | None = None
            if (
                profile is not None
                and is_unsubscribed(profile.attributes)
                and not effective.get("send_to_unsubscribed", True)
            ):
                status, reason = "suppressed", "unsubscribed"
            elif effective.get("queue_draft"):
                status = "draft"
            self._delivery_counter += 1
            delivery = Delivery(
                delivery_id=f"emu-delivery-{self._delivery_counter:08d}",
                queued_at=int(now),
                request=dict(request),
                person_id=person_id,
                message_id=message_id,
                effective=dict(effective),
                status=status,
                suppressed_reason=reason,
            )
            self.emails.append(delivery)
            self._remember("email", person_id, now, delivery=delivery.to_json())
            if status == "suppressed" and person_id is not None:
                self._record_activity(
                    "email_suppressed",
                    person_id,
                    now,
                    delivery_id=delivery.delivery_id,
                    reason="the person is unsubscribed and send_to_unsubscribed is false",
                )
            self.operations_applied += 1
            return delivery

    def _delivery_person(self, kind: str, value: str, now: float) -> str | None:
        if kind == "cio_id":
            return self._by_cio_id.get(value)
        if kind == "email" and self.email_is_identifier:
            owner = self.email_owner(value)
            if owner is not None:
                return owner
        if value not in self.profiles:
            self._create(value, now)
        return value

    # ---- App API reads -----------------------------------------------------------------------------

    def people_in_order(self, after_seq: int = 0) -> Iterator[Profile]:
        """Every person created after `after_seq`, oldest first (a stable order for the App API's paging).

        Walks the sequence numbers, so deletes leave no gaps in what is returned. Call with the lock held.
        """
        for seq in range(after_seq + 1, self._seq + 1):
            person_id = self._by_seq.get(seq)
            if person_id is not None:
                yield self.profiles[person_id]

    def find(self, kind: str, value: str) -> Profile | None:
        """The person with this identifier (`id`, `email` when it is an identifier, or `cio_id`)."""
        with self.lock:
            if kind == "id":
                return self.profiles.get(value)
            if kind == "cio_id":
                person_id = self._by_cio_id.get(value)
                return self.profiles.get(person_id) if person_id is not None else None
            if kind == "email":
                owner = self.email_owner(value)
                return self.profiles.get(owner) if owner is not None else None
            return None

    # ---- request log -------------------------------------------------------------------------------

    def record_request(
        self, method: str, path: str, status: int, operations: int, *, query: str = "", body: bytes = b""
    ) -> None:
        with self.lock:
            self.request_log.append(
                method, path, query=query, status=status, time=self._clock(), operations=operations, raw=body
            )
            self.requests_by_status[status] += 1

    # ---- views -------------------------------------------------------------------------------------

    def profile(self, person_id: str) -> Profile | None:
        with self.lock:
            return self.profiles.get(person_id)

    def profiles_json(self) -> dict[str, dict[str, JsonValue]]:
        with self.lock:
            return {person_id: dict(p.attributes) for person_id, p in self.profiles.items()}

    def events_json(self) -> list[dict[str, JsonValue]]:
        with self.lock:
            return [event.to_json() for event in self.events]

    def emails_json(self) -> list[dict[str, JsonValue]]:
        with self.lock:
            return [delivery.to_json() for delivery in self.emails]

    def requests_json(self) -> list[dict[str, JsonValue]]:
        """The request log, oldest first; each entry's `body` is shared with the log: do not modify it."""
        with self.lock:
            return [record.to_json() for record in self.request_log.records()]

    def history_json(self) -> list[dict[str, JsonValue]]:
        """Everything that happened, oldest first (the newest `HISTORY_SIZE`); shared values: read only."""
        with self.lock:
            return [dict(entry) for entry in self.history]

    def activity_json(self, person_id: str | None = None) -> list[dict[str, JsonValue]]:
        with self.lock:
            entries: Iterable[dict[str, JsonValue]] = self.activity
            return [dict(e) for e in entries if person_id is None or e["person_id"] == person_id]

    def counters_json(self) -> dict[str, JsonValue]:
        with self.lock:
            return {
                "requests_total": sum(self.requests_by_status.values()),
                "requests_by_status": {
                    str(status): n for status, n in sorted(self.requests_by_status.items())
                },
                "operations_applied": self.operations_applied,
                "operations_unmodelled": self.operations_unmodelled,
                "duplicate_events_ignored": self.duplicate_events_ignored,
                "attribute_update_failures": self.attribute_update_failures,
                "suppressed": len(self.suppressed),
                "profiles": len(self.profiles),
                "events": len(self.events),
                "emails": len(self.emails),
                "request_log": {
                    "kept": len(self.request_log),
                    "size": self.request_log.size,
                    "body_bytes": self.request_log.body_bytes,
                    "dropped": self.request_log.dropped,
                    "bodies_dropped": self.request_log.bodies_dropped,
                },
            }
