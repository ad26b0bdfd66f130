"""The sweep's per-profile comparison: an eligible member's profile read once (attributes and their
timestamps), its consent read back into the table (`consent_readback`), then compared with the member's
payload as Customer.io stores it, and which drifts an identify can fix.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from cio_sync.customerio.people import MAX_ATTRIBUTE_IDS, StoredProfile, as_stored, chunks, email_filter
from cio_sync.members.contract import InvalidMember, MemberItem
from cio_sync.members.profile import ProfileAttributes, ProfileLimitError, profile_attributes
from cio_sync.pipeline.consent_identify import holds_opt_out
from cio_sync.pipeline.consent_readback import ConsentReadBack, read_back, without_opt_out
from cio_sync.pipeline.sweep_outcome import (
    CONSENT_READ_BACK,
    EMAIL_COLLISION,
    PROFILE_CANNOT_BE_BUILT,
    SweepOutcome,
)
from cio_sync.pipeline.sweep_ports import PeopleDirectory
from cio_sync.sync.diff import DEFAULT_VOLATILE_WINDOW_S, VOLATILE_ATTRIBUTES

EMAIL_HOLDERS_LIMIT = 10


def compared_members(
    directory: PeopleDirectory,
    eligible: Sequence[str],
    found: Mapping[str, MemberItem],
    outcome: SweepOutcome,
    *,
    consent: ConsentReadBack | None,
    check_attributes: bool,
    volatile_window_s: int,
    deadline: float | None,
    examples: int,
) -> list[str]:
    """Read eligible members' profiles (100 a request), bring the table in line with the consent each holds,
    then return those whose profile differs from their payload and an identify can fix.

    The read-back comes first, member by member: a member whose consent it changed is not re-identified
    (the write's own sync follows, from the item as it then is), so no identify built before the write can
    carry `unsubscribed: false` over the opt-out it just read.
    """
    drifted: list[str] = []
    if consent is not None:  # those the opt-out walk wrote are done: their write's own sync follows
        eligible = [member_id for member_id in eligible if not consent.decided.get(member_id)]
    for batch in chunks(eligible, MAX_ATTRIBUTE_IDS):
        stored = directory.people_profiles(batch, deadline=deadline)
        for member_id in batch:
            profile = stored.get(member_id)
            if profile is None:
                continue  # deleted since the page was read: nothing to compare
            if consent is not None and member_id in consent.decided:
                profile = without_opt_out(profile)  # the opt-out walk decided its `unsubscribed`
            if consent is not None and counted_read_back(
                member_id, profile, found[member_id], consent=consent, outcome=outcome, examples=examples
            ):
                continue
            if check_attributes and _drifted(
                directory,
                member_id,
                profile.attributes,
                found=found,
                outcome=outcome,
                volatile_window_s=volatile_window_s,
                deadline=deadline,
                examples=examples,
            ):
                drifted.append(member_id)
    return drifted


def counted_read_back(
    member_id: str,
    profile: StoredProfile,
    member: MemberItem,
    *,
    consent: ConsentReadBack,
    outcome: SweepOutcome,
    examples: int,
) -> bool:
    """Counted by result; True when the member's consent was (or, in a dry run, would be) written."""
    results, changes = read_back(member_id, profile, member, consent.policy, consent.writer)
    outcome.consent.update(results)
    outcome.consent_changes.update(list(changes))
    written = bool(changes)
    if written:
        outcome.note(CONSENT_READ_BACK, member_id, examples)
    return written


def _drifted(
    directory: PeopleDirectory,
    member_id: str,
    attributes: Mapping[str, str],
    *,
    found: Mapping[str, MemberItem],
    outcome: SweepOutcome,
    volatile_window_s: int,
    deadline: float | None,
    examples: int,
) -> bool:
    try:
        expected = profile_attributes(found[member_id])
    except (ProfileLimitError, InvalidMember, TypeError, ValueError, KeyError):
        # The track function parks such a member with its reason; the sweep only reports it.
        outcome.skipped[PROFILE_CANNOT_BE_BUILT] += 1
        outcome.note(PROFILE_CANNOT_BE_BUILT, member_id, examples)
        return False
    wrong = drifted_attributes(expected, attributes, volatile_window_s)
    if not wrong:
        return False
    if "email" in wrong and outcome.email_identifier and _email_taken(directory, expected, deadline):
        outcome.skipped[EMAIL_COLLISION] += 1
        outcome.note(EMAIL_COLLISION, member_id, examples)
        return False
    outcome.drifted_attributes.update(wrong)
    return True


def drifted_attributes(
    expected: ProfileAttributes, stored: Mapping[str, str], volatile_window_s: int = DEFAULT_VOLATILE_WINDOW_S
) -> list[str]:
    """Names of the payload's attributes the profile does not hold as Customer.io would store them.

    A null in the payload means the attribute is absent. Attributes the payload does not name (set by
    other sources, Customer.io's own `cio_id`) are not compared. A volatile timestamp may lag the item's
    within its window, as the pipeline lets it (docs/pipeline.md, "Volatile timestamps").
    """
    wrong: list[str] = []
    for name, value in expected.items():
        if name == "id":
            continue
        have = stored.get(name)
        if value is None:
            if have not in (None, ""):
                wrong.append(name)
            continue
        if have == as_stored(value) or holds_opt_out(name, have):
            continue  # an opt-out Customer.io holds is never undone by an identify (consent_identify)
        if name in VOLATILE_ATTRIBUTES and _lags_within_window(have, value, volatile_window_s):
            continue
        wrong.append(name)
    return sorted(wrong)


def _lags_within_window(stored: str | None, expected: object, window_s: int) -> bool:
    if stored is None or not stored.isdigit() or not isinstance(expected, int) or window_s <= 0:
        return False
    have = int(stored)
    return have <= expected and have // window_s == expected // window_s


def _email_taken(directory: PeopleDirectory, expected: ProfileAttributes, deadline: float | None) -> bool:
    """Another person holds the member's email: in an email-identifier workspace, identify cannot fix it."""
    email = expected.get("email")
    if not isinstance(email, str) or not email:
        return False
    page = directory.search_people(email_filter(email), limit=EMAIL_HOLDERS_LIMIT, deadline=deadline)
    return any(person.id != expected["id"] for person in page.people)
