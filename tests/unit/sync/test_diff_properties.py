"""Property tests for the diff: no-op writes are free, and intents follow eligibility and the mute."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from cio_sync.members.contract import MemberItem
from cio_sync.members.profile import profile_attributes
from cio_sync.members.subscriptions import is_profile_eligible
from cio_sync.sync.diff import diff
from cio_sync.sync.intents import TrackEvent, is_ulid, parse_intent
from tests.unit.members.strategies import apply_changes, changes, members

RECORD = "49590338271490256608559692538361571095921575989136588898"
AT_MS = 1764175075123


@given(item=members())
def test_the_diff_of_a_no_op_write_is_empty(item: MemberItem) -> None:
    assert diff(item, dict(item), RECORD, AT_MS) == []


@given(old=st.one_of(st.none(), members()), new=st.one_of(st.none(), members()))
def test_intents_follow_eligibility_and_the_mute(old: MemberItem | None, new: MemberItem | None) -> None:
    intents = diff(old, new, RECORD, AT_MS)
    kinds = [intent.TYPE for intent in intents]
    assert kinds == sorted(kinds, key=["sync_profile", "track_event", "send_email"].index)
    if is_profile_eligible(old) != is_profile_eligible(new) or (old is not None and new is None):
        assert kinds[:1] == ["sync_profile"]
    if (
        old is not None
        and new is not None
        and (old.get("promotions_muted_at") is None) != (new.get("promotions_muted_at") is None)
    ):
        assert kinds[:1] == ["sync_profile"]
    if new is not None and not is_profile_eligible(old) and not is_profile_eligible(new):
        mute_unchanged = old is None or (old.get("promotions_muted_at") is None) == (
            new.get("promotions_muted_at") is None
        )
        assert ("sync_profile" not in kinds) or not mute_unchanged
    for intent in intents:
        if isinstance(intent, TrackEvent):
            assert is_profile_eligible(new)
            assert old is not None
            assert old.get("promotions_muted_at") is not None
        assert is_ulid(intent.intent_id)
        assert parse_intent(intent.to_json()) == intent
    assert len({intent.intent_id for intent in intents}) == len(intents)
    assert diff(old, new, RECORD, AT_MS) == intents


@given(old=members(), write=changes())
def test_a_sync_happens_exactly_when_customer_io_must_change(old: MemberItem, write: dict[str, Any]) -> None:
    new = apply_changes(old, write)
    kinds = [intent.TYPE for intent in diff(old, new, RECORD, AT_MS)]
    eligible = is_profile_eligible(new)
    must_change = (
        is_profile_eligible(old) != eligible
        or (old.get("promotions_muted_at") is None) != (new.get("promotions_muted_at") is None)
        or (eligible and _by_day(profile_attributes(old)) != _by_day(profile_attributes(new)))
        or (eligible and _goes_back(profile_attributes(old), profile_attributes(new)))
    )
    assert ("sync_profile" in kinds) == must_change


def _by_day(payload: dict[str, Any]) -> dict[str, Any]:
    """Login and touch timestamps are due once a day (docs/pipeline.md, "Volatile timestamps")."""
    volatile = {"updated_at", "last_authenticated_at", "last_messaged_at"}
    return {k: v // 86400 if k in volatile and isinstance(v, int) else v for k, v in payload.items()}


def _goes_back(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """A volatile timestamp moved back (a writer's clock behind): due at once, or the profile is ahead."""
    volatile = {"updated_at", "last_authenticated_at", "last_messaged_at"}
    return any(
        isinstance(old.get(k), int) and isinstance(new.get(k), int) and new[k] < old[k] for k in volatile
    )
