"""The sweep's second half: eligible members with no profile (a sign-up lost with dropped stream records, a
delete Customer.io applied after a later identify), found by scanning the table against the profiles the
walk listed.

Only after a walk of the whole workspace: a member is missing only if no page listed them. A member who
signs up after their page was listed is found "missing" too; the identify that follows is harmless.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Final

from cio_sync.members.contract import is_member_id
from cio_sync.members.subscriptions import is_profile_eligible
from cio_sync.pipeline.sweep_outcome import SweepOutcome
from cio_sync.pipeline.sweep_ports import MemberScanner

# The deadline is looked at once per this many items (a clock read per item would cost more than the test).
DEADLINE_EVERY: Final = 1000


class ListedProfiles:
    """Member ids of the profiles a walk listed, held as integers (~70 bytes each: 4.4 million in ~300 MB)."""

    def __init__(self) -> None:
        self._ids: set[int] = set()

    def add(self, member_id: str) -> None:
        self._ids.add(int(member_id, 16))

    def __contains__(self, member_id: str) -> bool:
        return int(member_id, 16) in self._ids

    def __len__(self) -> int:
        return len(self._ids)


def missing_members(
    scanner: MemberScanner,
    listed: ListedProfiles,
    outcome: SweepOutcome,
    *,
    deadline: float | None,
    reserve_s: float,
    clock: Callable[[], float],
) -> Iterator[str]:
    """Eligible members the walk listed no profile for; stops (and says so) when the deadline nears."""
    for count, item in enumerate(scanner.scan_eligibility()):
        if deadline is not None and count % DEADLINE_EVERY == 0 and clock() > deadline - reserve_s:
            outcome.member_scan = "stopped: deadline"
            return
        outcome.members_scanned += 1
        member_id = item.get("id")
        if not isinstance(member_id, str) or not is_member_id(member_id):
            continue
        if member_id not in listed and is_profile_eligible(item):
            yield member_id
    outcome.member_scan = "done"
