"""Erasure that sticks: which members the track function suppresses in Customer.io, or unsuppresses.

A deleted profile can be re-created by any other source that identifies the id (an integration, a form);
a suppressed one cannot, as Northstar did it. Decided from the item read at send time and the intents
alone, so a replay decides the same and each operation is idempotent in Customer.io.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from cio_sync.members.contract import MemberItem
from cio_sync.sync.intents import Intent, SyncProfile

DELETION_REQUESTED = "deletion_requested_at"


def erasures(
    intents: Sequence[Intent], members: Mapping[str, MemberItem], eligible: Mapping[str, bool]
) -> dict[str, bool]:
    """Member id -> True to suppress (after the delete), False to unsuppress (before the identify).

    Suppressed: a member whose item carries a deletion request and who has no profile, and a missing
    member whose sync says the item was purged (a stream REMOVE); any other missing member (an orphan
    profile the sweep found) is only deleted. Unsuppressed: a member who requested deletion and is
    eligible again, so signed up since, and a member whose profile is created (`created`: a new item, or
    one created ineligible that became eligible; the id may have been purged before): their identify would
    otherwise be refused. Decided on the profile's creation, not the item's, at one unsuppress per member
    becoming eligible, because nothing records which ids a purge suppressed.
    """
    decided: dict[str, bool] = {}
    for intent in intents:
        member_id = intent.member_id
        if member_id not in eligible:
            continue  # parked
        member = members.get(member_id)
        if member is None:
            if isinstance(intent, SyncProfile) and intent.erase:
                decided[member_id] = True
        elif member.get(DELETION_REQUESTED):
            decided[member_id] = not eligible[member_id]
        elif isinstance(intent, SyncProfile) and (intent.created or intent.erase) and eligible[member_id]:
            # A new item under an id purged before, or a purge's sync that finds the member there again
            # (signed up since, perhaps after a stalled invocation's late suppress): unsuppress.
            decided.setdefault(member_id, False)
    return decided
