"""A Customer.io workspace for the profile sweep's unit tests: people in creation order, paged by cursor."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cio_sync.customerio.errors import CustomerIoError
from cio_sync.customerio.people import (
    EVERYONE_WITH_AN_ID,
    MAX_SEARCH_LIMIT,
    UNSUBSCRIBED_WITH_AN_ID,
    PeoplePage,
    Person,
    StoredProfile,
    as_stored,
)
from cio_sync.members.contract import MemberItem
from cio_sync.members.errors import UnreadableMembers
from cio_sync.members.subscriptions import ELIGIBILITY_FIELDS, apply_subscription_rules


@dataclass
class FakeDirectory:
    """`people`: id -> attributes (as the Track API stored them), in creation order."""

    people: dict[str, dict[str, Any]] = field(default_factory=dict)
    stamps: dict[str, dict[str, int]] = field(
        default_factory=dict
    )  # id -> attribute -> when Customer.io set it
    email_identifier: bool = False
    searches: list[tuple[str | None, int]] = field(default_factory=list)
    email_searches: list[str] = field(default_factory=list)
    opt_out_searches: list[tuple[str | None, int]] = field(default_factory=list)
    attribute_requests: list[list[str]] = field(default_factory=list)
    fail_on_search: dict[int, CustomerIoError] = field(default_factory=dict)  # n-th search (from 1) -> error

    def cio_id(self, person_id: str) -> str:
        return f"{list(self.people).index(person_id) + 1:08x}"

    def search_people(
        self,
        filter_: Mapping[str, Any],
        *,
        start: str | None = None,
        limit: int = MAX_SEARCH_LIMIT,
        deadline: float | None = None,
    ) -> PeoplePage:
        if filter_ == UNSUBSCRIBED_WITH_AN_ID:
            return self._unsubscribed(start, limit)
        if filter_ != EVERYONE_WITH_AN_ID:
            email = filter_["attribute"]["value"]
            self.email_searches.append(email)
            holders = [pid for pid, attrs in self.people.items() if attrs.get("email") == email]
            return PeoplePage(tuple(self._person(pid) for pid in holders[:limit]), None)
        self.searches.append((start, limit))
        error = self.fail_on_search.pop(len(self.searches), None)
        if error is not None:
            raise error
        ids = list(self.people)
        offset = int(start) if start else 0
        page = ids[offset : offset + limit]
        more = offset + limit < len(ids)
        return PeoplePage(tuple(self._person(pid) for pid in page), str(offset + limit) if more else None)

    def _unsubscribed(self, start: str | None, limit: int) -> PeoplePage:
        """The opt-out walk's search: people whose `unsubscribed` is stored `true`, paged like the rest."""
        self.opt_out_searches.append((start, limit))
        ids = [pid for pid, attrs in self.people.items() if as_stored(attrs.get("unsubscribed")) == "true"]
        offset = int(start) if start else 0
        more = offset + limit < len(ids)
        people = tuple(self._person(pid) for pid in ids[offset : offset + limit])
        return PeoplePage(people, str(offset + limit) if more else None)

    def _person(self, person_id: str) -> Person:
        email = self.people[person_id].get("email")
        return Person(
            person_id, self.cio_id(person_id), has_email_identifier=self.email_identifier and bool(email)
        )

    def people_attributes(
        self, person_ids: Sequence[str], *, deadline: float | None = None
    ) -> dict[str, dict[str, str]]:
        self.attribute_requests.append(list(person_ids))
        return {
            pid: {name: as_stored(value) for name, value in self.people[pid].items()}
            for pid in person_ids
            if pid in self.people
        }

    def people_profiles(
        self, person_ids: Sequence[str], *, deadline: float | None = None
    ) -> dict[str, StoredProfile]:
        attributes = self.people_attributes(person_ids, deadline=deadline)
        return {
            pid: StoredProfile(found, dict(self.stamps.get(pid, {}))) for pid, found in attributes.items()
        }


@dataclass
class FakeMembers:
    items: dict[str, MemberItem] = field(default_factory=dict)
    unreadable: set[str] = field(default_factory=set)
    reads: list[list[str]] = field(default_factory=list)
    scans: int = 0

    def scan_eligibility(self) -> Iterator[MemberItem]:
        """The table side's scan: every readable item, only the fields eligibility reads."""
        self.scans += 1
        for mid, item in list(self.items.items()):
            if mid not in self.unreadable:
                yield {name: item.get(name) for name in ELIGIBILITY_FIELDS}

    def get_many(self, member_ids: Sequence[str]) -> dict[str, MemberItem]:
        self.reads.append(list(member_ids))
        found = {
            mid: dict(self.items[mid])
            for mid in member_ids
            if mid in self.items and mid not in self.unreadable
        }
        bad = sorted(mid for mid in member_ids if mid in self.unreadable)
        if bad:
            raise UnreadableMembers(found, bad)
        return found


@dataclass
class FakeConsent:
    """MemberConsent over a FakeMembers' items: a conditional write that the stream's rules then complete
    (as the stream function does after any writer), logged in `writes`."""

    members: FakeMembers
    now: str = "2026-12-01T00:00:00.000000Z"
    writes: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def read(self, member_id: str) -> Mapping[str, Any] | None:
        item = self.members.items.get(member_id)
        return dict(item) if item is not None else None

    def write(self, member_id: str, updated_at: str | None, changes: Mapping[str, Any]) -> bool:
        old = self.members.items.get(member_id)
        if old is None or old.get("updated_at") != updated_at:
            return False
        new = apply_subscription_rules(old, {**old, **changes, "updated_at": self.now}, self.now)
        self.members.items[member_id] = new
        self.writes.append((member_id, dict(changes)))
        return True
