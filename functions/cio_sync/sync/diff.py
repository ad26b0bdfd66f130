"""From one stream record (old image, new image) to the ordered intents it calls for.

"Did the profile change?" is answered by comparing the computed payloads and eligibility, not raw
attributes, so a write that touches nothing Customer.io sees costs no Customer.io call.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from cio_sync.members.contract import InvalidMember, is_member_id
from cio_sync.members.profile import ProfileAttributes, ProfileLimitError, profile_attributes
from cio_sync.members.raw_writes import DELETION_REQUESTED
from cio_sync.members.subscriptions import MUTED_AT, is_profile_eligible
from cio_sync.sync.intents import Intent, SendEmail, SyncProfile, TrackEvent, deterministic_event_id

RESUBSCRIBE_EVENT: Final = "promotions_resubscribe"
# Attributes that change on every login or touch of an item (docs/pipeline.md, "Volatile timestamps").
VOLATILE_ATTRIBUTES: Final = frozenset({"updated_at", "last_authenticated_at", "last_messaged_at"})
DEFAULT_VOLATILE_WINDOW_S: Final = 24 * 3600
PASSWORD_UPDATED_AT: Final = "password_updated_at"  # noqa: S105 - an attribute name


class _Unbuildable:
    """Stands in for a payload that cannot be built; never equal to anything, so it forces a sync.

    The track function then fails loudly on that member (dead-letter queue and alarm) instead of the
    stream function failing the record and blocking its shard.
    """

    def __eq__(self, other: object) -> bool:
        return False

    def __hash__(self) -> int:
        return id(self)


def _payload(item: Mapping[str, Any]) -> ProfileAttributes | _Unbuildable:
    try:
        return profile_attributes(item)
    except (ProfileLimitError, InvalidMember, KeyError, TypeError, ValueError):
        return _Unbuildable()


def _comparable(payload: ProfileAttributes | _Unbuildable, window_s: int) -> object:
    """The payload as far as a sync is due: volatile timestamps count by the window they fall in."""
    if isinstance(payload, _Unbuildable) or window_s <= 0:
        return payload
    return {
        name: value // window_s if name in VOLATILE_ATTRIBUTES and isinstance(value, int) else value
        for name, value in payload.items()
    }


def profile_changed(
    old: Mapping[str, Any] | None,
    new: Mapping[str, Any] | None,
    volatile_window_s: int = DEFAULT_VOLATILE_WINDOW_S,
) -> bool:
    """True when Customer.io's copy of the member must change: eligibility flips or the payload differs.

    A change confined to volatile timestamps (a login, a touch) is due only when one of them enters a new
    window (by default once a day) or goes back; otherwise it rides along with the member's next real change.
    """
    old_eligible, new_eligible = is_profile_eligible(old), is_profile_eligible(new)
    if old_eligible != new_eligible:
        return True
    if not new_eligible or old is None or new is None:
        return False
    before, after = _payload(old), _payload(new)
    return _comparable(before, volatile_window_s) != _comparable(after, volatile_window_s) or _goes_back(
        before, after
    )


def _goes_back(before: ProfileAttributes | _Unbuildable, after: ProfileAttributes | _Unbuildable) -> bool:
    """A volatile timestamp moved back (a writer whose clock runs behind): left to ride along, the profile
    would stay ahead of the item, which the lag allowed never is (docs/pipeline.md)."""
    if isinstance(before, _Unbuildable) or isinstance(after, _Unbuildable):
        return False
    for name in VOLATILE_ATTRIBUTES:
        old_value, new_value = before.get(name), after.get(name)
        if isinstance(old_value, int) and isinstance(new_value, int) and new_value < old_value:
            return True
    return False


def diff(
    old: Mapping[str, Any] | None,
    new: Mapping[str, Any] | None,
    record_id: str,
    at_ms: int,
    volatile_window_s: int = DEFAULT_VOLATILE_WINDOW_S,
) -> list[Intent]:
    """Intents for the write old -> new, in the order they must run.

    `record_id` identifies the stream record (its event id) and `at_ms` is its approximate creation
    time; both feed the intent ids, so the same record always yields the same ids.
    """
    if old is None and new is None:
        return []
    if old is not None and new is not None and old == new:
        return []
    member_id = str((new if new is not None else old or {})["id"])
    intents: list[Intent] = []

    def intent_id(kind: str) -> str:
        """Seeded by record, position and kind: unique within the record, identical on replay."""
        return deterministic_event_id(f"{record_id}/{len(intents)}/{kind}", at_ms)

    old_muted = None if old is None else old.get(MUTED_AT)
    new_muted = None if new is None else new.get(MUTED_AT)
    # Muted or not, not the mute time: re-stamping a muted member changes nothing Customer.io holds.
    mute_changed = old is not None and new is not None and (old_muted is None) != (new_muted is None)
    # A deletion request must reach Customer.io (a suppression) even when the member was already muted.
    deletion_requested = (
        new is not None and bool(new.get(DELETION_REQUESTED)) and not (old or {}).get(DELETION_REQUESTED)
    )

    if new is None:
        # A REMOVE is a purge (`members delete --purge`): suppress the person, so nothing re-creates them.
        intents.append(SyncProfile(intent_id(SyncProfile.TYPE), member_id, erase=True))
    elif mute_changed or deletion_requested or profile_changed(old, new, volatile_window_s):
        # The profile's creation (a sign-up, or a member created ineligible becoming eligible): the id may
        # have been purged (and suppressed) before.
        created = old is None or not is_profile_eligible(old)
        intents.append(SyncProfile(intent_id(SyncProfile.TYPE), member_id, created=created))
    if old_muted is not None and new is not None and new_muted is None and is_profile_eligible(new):
        # Only for a member who now has a profile: an event for an unknown id would create a person.
        intents.append(
            TrackEvent(intent_id(TrackEvent.TYPE), member_id, RESUBSCRIBE_EVENT, {}, timestamp=at_ms // 1000)
        )
    if _password_updated(old, new):
        intents.append(SendEmail(password_email_id(record_id, at_ms), member_id, "password_updated", {}))
    return intents


def password_email_id(record_id: str, at_ms: int) -> str:
    """Seeded by the record alone, not its position: a record parked on one delivery (its email after a
    resync) and diffed on another (perhaps first) gives its one email one id, so it is sent once."""
    return deterministic_event_id(f"{record_id}/{SendEmail.TYPE}", at_ms)


def _password_updated(old: Mapping[str, Any] | None, new: Mapping[str, Any] | None) -> bool:
    """A MODIFY that changed `password_updated_at` of a member we can email."""
    if old is None or new is None or not isinstance(new.get("email"), str) or not new.get("email"):
        return False
    updated_at = new.get(PASSWORD_UPDATED_AT)
    return updated_at is not None and updated_at != old.get(PASSWORD_UPDATED_AT)


def resync(member_id: str, record_id: str, at_ms: int) -> SyncProfile:
    """A sync for a record whose images cannot be diffed (they break the contract): the track function
    reads the member's current item and makes Customer.io follow it, or parks it with the reason."""
    return SyncProfile(deterministic_event_id(f"{record_id}/0/{SyncProfile.TYPE}", at_ms), member_id)


def parked_intents(
    member_id: str,
    old: Mapping[str, Any] | None,
    new: Mapping[str, Any] | None,
    record_id: str,
    at_ms: int,
) -> list[Intent]:
    """What a record parked for breaking the contract still calls for: a resync of the member, and the
    password-updated email, which depends only on `password_updated_at` and `email` (never on a broken
    topic list). Ids as `diff` gives them."""
    if not is_member_id(member_id):
        return []
    intents: list[Intent] = [resync(member_id, record_id, at_ms)]
    if _password_updated(old, new):
        intents.append(SendEmail(password_email_id(record_id, at_ms), member_id, "password_updated", {}))
    return intents
