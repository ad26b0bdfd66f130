"""What a profile sweep found and did, by reason, and the set of deletes its brake held for an operator.

A set of its own so an operator can approve exactly what a run would have deleted: its digest is the same
for the same ids in any order, so a later walk that finds the same set may queue it, and one that finds
another set queues nothing and shows the new one.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field
from typing import Final

# What the sweep queues a sync for, by reason. The first three end in a delete (the track function finds
# the member missing or not eligible), the last two in an identify.
NO_MEMBER: Final = "no_member"
MUTED: Final = "muted"
NOT_SUBSCRIBED: Final = "not_subscribed"
DRIFTED: Final = "drifted"
MISSING: Final = "missing"  # an eligible member with no profile: the identify re-creates it
DELETE_REASONS: Final = (NO_MEMBER, MUTED, NOT_SUBSCRIBED)
# What it leaves alone, by reason.
PLACEHOLDER: Final = "placeholder"
NOT_A_MEMBER_ID: Final = "not_a_member_id"
UNMANAGED: Final = "unmanaged"  # no cio-sync mark: another system's person, or made before the mark
MEMBER_UNREADABLE: Final = "member_unreadable"
PROFILE_CANNOT_BE_BUILT: Final = "profile_cannot_be_built"
EMAIL_COLLISION: Final = "email_collision"
DELETE_LIMIT: Final = "delete_limit"
# Members whose consent the read-back wrote (or, in a dry run, would write): its examples' reason.
CONSENT_READ_BACK: Final = "consent_read_back"
EXAMPLES: Final = 10
_DIGEST_MODULUS: Final = 2**80


@dataclass
class DeleteSet:
    """Deletes decided in one walk: their count and an order-free digest (`<count>-<20 hex>`); the ids
    themselves only while `keep` allows (a brake never needs more than its limit in memory)."""

    keep: int | None = None  # None: every id
    count: int = 0
    _sum: int = 0
    chosen: list[tuple[str, str]] = field(default_factory=list)  # (member id, reason)
    reasons: Counter[str] = field(default_factory=Counter)

    def add(self, member_id: str, reason: str) -> None:
        self.count += 1
        self.reasons[reason] += 1
        digest = hashlib.sha256(member_id.encode("utf-8")).digest()
        self._sum = (self._sum + int.from_bytes(digest[:10], "big")) % _DIGEST_MODULUS
        if self.keep is None or len(self.chosen) < self.keep:
            self.chosen.append((member_id, reason))

    @property
    def digest(self) -> str:
        return f"{self.count}-{self._sum:020x}"


@dataclass
class SweepOutcome:
    """What a sweep found and did: counts by reason, and the first ids of each (member ids; `cio_id:...`
    for profiles that are not members')."""

    run_id: str
    dry_run: bool
    scanned: int = 0
    pages: int = 0
    fixed: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)
    withheld: Counter[str] = field(default_factory=Counter)  # deletes held for an operator, by reason
    held_deletes: str | None = None  # the held set's digest: `cio-sync reconcile --approve-deletes` it
    drifted_attributes: Counter[str] = field(default_factory=Counter)
    consent: Counter[str] = field(default_factory=Counter)  # the read-back's results, by result
    consent_changes: Counter[str] = field(default_factory=Counter)  # attributes it wrote, by name
    waiting: int = 0  # decided, not yet queued (they go in full messages)
    messages: int = 0
    failed_messages: int = 0
    failed_members: int = 0
    complete: bool = False
    stopped_because: str | None = None
    next_start: str | None = None
    email_identifier: bool = False  # the workspace identifies people by email too
    opt_out_pages: int = 0  # search pages of the opt-out walk (unsubscribed people only)
    opt_out_walk: str = "not run"  # "done", "not run", "stopped: <why>"
    members_scanned: int = 0  # the member half: items read by the table scan
    member_scan: str = "not run"  # "done", "not run: <why>", "stopped: <why>"

    @property
    def orphans(self) -> int:
        """Managed profiles of member ids with no member, queued or held back by the brake."""
        return self.fixed[NO_MEMBER] + self.withheld[NO_MEMBER]

    @property
    def deletes(self) -> int:
        return sum(self.fixed[reason] for reason in DELETE_REASONS)

    @property
    def ok(self) -> bool:
        """Walked to the end, every sync was taken by the queue, and an opt-out walk or member scan begun
        was finished."""
        stopped = self.member_scan.startswith("stopped") or self.opt_out_walk.startswith("stopped")
        return self.complete and self.failed_messages == 0 and not stopped

    def note(self, reason: str, example: str, limit: int) -> None:
        shown = self.examples.setdefault(reason, [])
        if len(shown) < limit:
            shown.append(example)

    def to_dict(self) -> dict[str, object]:
        return {
            "run_id": self.run_id,
            "dry_run": self.dry_run,
            "scanned": self.scanned,
            "pages": self.pages,
            "fixed": dict(sorted(self.fixed.items())),
            "fixed_total": sum(self.fixed.values()),
            "skipped": dict(sorted(self.skipped.items())),
            "orphans": self.orphans,
            "deletes": self.deletes,
            "withheld": dict(sorted(self.withheld.items())),
            "held_deletes": self.held_deletes,
            "drifted_attributes": dict(sorted(self.drifted_attributes.items())),
            "consent": dict(sorted(self.consent.items())),
            "consent_changes": dict(sorted(self.consent_changes.items())),
            "examples": {reason: list(ids) for reason, ids in sorted(self.examples.items())},
            "messages": self.messages,
            "failed_messages": self.failed_messages,
            "failed_members": self.failed_members,
            "complete": self.complete,
            "stopped_because": self.stopped_because,
            "next_start": self.next_start,
            "email_identifier": self.email_identifier,
            "opt_out_pages": self.opt_out_pages,
            "opt_out_walk": self.opt_out_walk,
            "members_scanned": self.members_scanned,
            "member_scan": self.member_scan,
        }
