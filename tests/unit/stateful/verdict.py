"""The verdict on a quiet pipeline: the table against the oracle's items, Customer.io against the table
(`cio_sync_local.invariant`), what was parked and why, and each password email once (sent or parked)."""

from __future__ import annotations

import json
import re
from collections import Counter
from typing import Any, Final

from cio_sync_local.invariant import violations

from . import oracle
from .fake_customerio import FakeCustomerIo
from .wiring import PLACEHOLDER, Functions
from .world import Table

MEMBERS: Final = ("5f0c8e2a9b1d4c3e2f1a0b01", "5f0c8e2a9b1d4c3e2f1a0b02", "5f0c8e2a9b1d4c3e2f1a0b03")
POISON: Final = "5f0c8e2a9b1d4c3e2f1a0bff"  # rule inputs that break the contract land here
FOREIGN: Final = "64b7f0c2a1d3e4f5a6b7c8d9"  # another system's person (a MongoDB id like ours)
PERSON_ID = re.compile(r"[0-9a-f]{24}")
OVER_BUDGET: Final = "ran past its time budget"


class Verdict:
    """Mixed into the state machine: the checks, over the state it keeps."""

    expected: dict[str, oracle.Item | None]
    table: Table
    cio: FakeCustomerIo
    fn: Functions
    tainted: set[str]  # rule inputs break the contract now: no claim about the profile
    ever_tainted: set[str]
    unbuildable: set[str]
    should_park: set[str]
    emails_due: Counter[str]

    def verdict(self) -> list[str]:
        problems: list[str] = []
        checked: dict[str, Any] = {}
        for member in (*MEMBERS, POISON):
            item, raw = self.expected.get(member), self.table.items.get(member)
            if member in self.tainted:
                continue
            if (item is None) != (raw is None):
                problems.append(
                    f"{member}: exists in the table: {raw is not None}, by the rules: {item is not None}"
                )
                continue
            if item is not None and raw is not None:
                differ = sorted(
                    n
                    for n in set(item) | set(raw)
                    # `model_write` is a model write's marker, not a contract attribute (member-contract.md)
                    if n not in {"updated_at", "model_write", oracle.LAST_VALID} and item.get(n) != raw.get(n)
                )
                if differ:
                    problems.append(f"{member}: item differs from the rules at {', '.join(differ)}")
                item = {**item, "updated_at": raw.get("updated_at")}
            checked[member] = item
        skip = [
            m
            for m in checked
            if m in self.unbuildable and checked[m] is not None and not buildable(checked[m])
        ]
        skip += sorted(self.tainted)
        stamps = {person_id: person.stamps for person_id, person in self.cio.people.items()}
        problems += violations(
            checked, self.cio.profiles(), ignore_profiles=[PLACEHOLDER, FOREIGN], skip=skip, stamps=stamps
        )
        if FOREIGN not in self.cio.people:
            problems.append("another system's person was deleted")
        problems += self._parks() + self._emails()
        problems += [f"{m}: a sync undid an opt-out" for m in sorted(set(self.cio.undone_opt_outs))]
        return problems

    def _parks(self) -> list[str]:
        # A record run past its time budget is parked by design (a fault the machine injects).
        parked = {s for s, reason in self.fn.publisher.parked if not reason.startswith(OVER_BUDGET)}
        problems = [
            f"stream parked record {s}, which keeps the contract" for s in sorted(parked - self.should_park)
        ]
        problems += [f"stream did not park record {s}" for s in sorted(self.should_park - parked)]
        allowed = self.ever_tainted | self.unbuildable
        for body, reason in self.fn.track_queue.dead:
            members = set(PERSON_ID.findall(body)) - allowed
            if members:
                problems.append(f"track parked {sorted(members)}: {reason[:80]}")
        return problems

    def _emails(self) -> list[str]:
        problems: list[str] = []
        sent = Counter(email.intent_id for email in self.cio.emails)
        unknown = Counter(email.intent_id for email in self.cio.emails if email.outcome_unknown)
        problems += [
            f"email {key.split('|')[2]} sent {n} times"
            for key, n in sent.items()
            if n > unknown[key] + self.fn.unrecorded[key] + 1
        ]
        # Each password update's intent is sent or parked. Both, when a send's outcome was unknown (a
        # timeout after Customer.io acted) and the member was gone by the retry: it cannot know it went.
        sent_ids = {tuple(key.split("|")[:2]) for key in sent if key.endswith("|password_updated")}
        parked_ids: set[tuple[str, str]] = set()
        for body, reason in self.fn.email_queue.dead:
            intent = json.loads(body)
            if intent["kind"] == "password_updated":
                # a redelivered stream record queues the same intent again: counted once
                parked_ids.add((intent["member_id"], intent["intent_id"]))
                if "does not exist" not in reason and "no email address" not in reason:
                    problems.append(f"email parked: {reason[:80]}")
            elif "does not exist" not in reason and "no email" not in reason and "expired" not in reason:
                problems.append(f"email parked: {reason[:80]}")
        # Both sent and parked only when the send's outcome was unknown, or its delivery id went unsaved
        # (EmailSentUnrecorded): a later receive may find the member gone and park it.
        both = {
            key
            for key in sent_ids & parked_ids
            if unknown[f"{key[0]}|{key[1]}|password_updated"]
            + self.fn.unrecorded[f"{key[0]}|{key[1]}|password_updated"]
        }
        if (sent_ids & parked_ids) - both:
            problems.append(f"emails both sent and parked: {sorted((sent_ids & parked_ids) - both)}")
        accounted = Counter(member for member, _ in sent_ids | parked_ids)
        for member in (*MEMBERS, POISON):
            if accounted[member] != self.emails_due[member]:
                problems.append(
                    f"{member}: {self.emails_due[member]} password updates, "
                    f"{accounted[member]} password emails sent or parked"
                )
        return problems


def buildable(item: Any) -> bool:
    """docs/member-contract.md, "Profile payload": values other than free text within 1000 bytes, and the
    attributes in their contract formats."""
    free = {"first_name", "last_name", "addr_city", "addr_state", "addr_zip"}
    for name, value in item.items():
        if isinstance(value, str) and name not in free and len(value.encode()) > 1000:
            return False
    mobile = item.get("mobile")
    if mobile is not None and not re.fullmatch(r"\+[1-9][0-9]{1,14}", str(mobile)):
        return False
    created = item.get("created_at")
    return created is None or bool(
        re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?(Z|\+00:00)", created)
    )
