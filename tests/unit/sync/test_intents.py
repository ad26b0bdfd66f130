from __future__ import annotations

import json
from typing import Any

import pytest

from cio_sync.sync.intents import (
    Intent,
    MalformedIntent,
    SendEmail,
    SyncProfile,
    TrackEvent,
    deterministic_event_id,
    is_ulid,
    parse_intent,
    ulid_timestamp_ms,
)
from cio_sync_local.member_factory import MEMBER_ID

ULID = "01KBCDEFGHJKMNPQRSTVWXYZ01"

INTENTS: list[Intent] = [
    SyncProfile(ULID, MEMBER_ID),
    TrackEvent(
        ULID, MEMBER_ID, "promotions_resubscribe", {"nested": {"list": [1, 2.5, None, True]}}, 1764175075
    ),
    SendEmail(ULID, MEMBER_ID, "forgot_password", {"actionUrl": "https://example.org/reset"}),
    SendEmail(ULID, MEMBER_ID, "password_updated", {}),
]


@pytest.mark.parametrize("intent", INTENTS, ids=lambda intent: type(intent).__name__)
def test_intents_round_trip(intent: Intent) -> None:
    body = intent.to_json()
    message = json.loads(body)
    assert message["type"] == intent.TYPE
    assert message["version"] == 1
    assert parse_intent(body) == intent


def test_serialisation_is_stable() -> None:
    assert SyncProfile(ULID, MEMBER_ID).to_json() == (
        f'{{"intent_id":"{ULID}","member_id":"{MEMBER_ID}","type":"sync_profile","version":1}}'
    )


def valid(kind: str) -> dict[str, Any]:
    return {
        "sync_profile": {"type": "sync_profile", "version": 1, "intent_id": ULID, "member_id": MEMBER_ID},
        "track_event": {
            "type": "track_event",
            "version": 1,
            "intent_id": ULID,
            "member_id": MEMBER_ID,
            "name": "promotions_resubscribe",
            "data": {},
            "timestamp": 1764175075,
        },
        "send_email": {
            "type": "send_email",
            "version": 1,
            "intent_id": ULID,
            "member_id": MEMBER_ID,
            "kind": "password_updated",
            "data": {},
        },
    }[kind]


@pytest.mark.parametrize(
    ("kind", "changes", "reason"),
    [
        ("sync_profile", {"type": "explode"}, "type is missing or unknown"),
        ("sync_profile", {"type": None}, "type is missing or unknown"),
        ("sync_profile", {"version": 2}, "version must be 1"),
        ("sync_profile", {"version": True}, "version must be 1"),
        ("sync_profile", {"member_id": None}, "lacks member_id"),
        ("sync_profile", {"member_id": "someone@example.org"}, "member_id must be"),
        ("sync_profile", {"intent_id": ""}, "intent_id must be"),
        ("sync_profile", {"someone@example.org": 1}, "1 unexpected field(s)"),
        ("track_event", {"timestamp": "1764175075"}, "timestamp must be"),
        ("track_event", {"timestamp": 1.5}, "timestamp must be"),
        ("track_event", {"timestamp": True}, "timestamp must be"),
        ("track_event", {"timestamp": -1}, "timestamp must be"),
        ("track_event", {"name": ""}, "name must be"),
        ("track_event", {"name": "n" * 101}, "name must be"),
        ("track_event", {"data": ["someone@example.org"]}, "data must be a JSON object"),
        ("track_event", {"data": {"blob": "x" * 100_001}}, "data exceeds"),
        ("send_email", {"kind": "welcome"}, "kind must be one of"),
        ("send_email", {"data": None}, "lacks data"),
    ],
)
def test_malformed_intents_are_refused_without_quoting_them(
    kind: str, changes: dict[str, Any], reason: str
) -> None:
    message = valid(kind)
    for name, value in changes.items():
        if value is None and name != "type":
            del message[name]
        else:
            message[name] = value
    with pytest.raises(MalformedIntent) as error:
        parse_intent(json.dumps(message))
    assert reason in error.value.reason
    assert "someone@example.org" not in str(error.value)


@pytest.mark.parametrize("body", ["", "not json {", "[1, 2]", "null", '"sync_profile"'])
def test_bodies_that_are_not_json_objects_are_refused(body: str) -> None:
    with pytest.raises(MalformedIntent):
        parse_intent(body)


def test_constructors_refuse_what_parse_would_refuse() -> None:
    with pytest.raises(MalformedIntent):
        TrackEvent(ULID, MEMBER_ID, "event", {"when": object()}, 1)
    with pytest.raises(MalformedIntent):
        TrackEvent(ULID, MEMBER_ID, "event", {"nan": float("nan")}, 1)
    with pytest.raises(MalformedIntent):
        SendEmail(ULID, MEMBER_ID, "welcome", {})  # type: ignore[arg-type]


def test_deterministic_event_id_is_a_ulid_carrying_the_timestamp() -> None:
    ulid = deterministic_event_id(
        "shard-1/49590338271490256608559692538361571095921575989136588898", 1764175075123
    )
    assert is_ulid(ulid)
    assert len(ulid) == 26
    assert ulid_timestamp_ms(ulid) == 1764175075123
    assert ulid == deterministic_event_id(
        "shard-1/49590338271490256608559692538361571095921575989136588898", 1764175075123
    )


def test_deterministic_event_id_depends_on_the_seed_only_in_its_random_part() -> None:
    first, second = deterministic_event_id("a", 1000), deterministic_event_id("b", 1000)
    assert first[:10] == second[:10]
    assert first[10:] != second[10:]
    assert deterministic_event_id("a", 0) == "0000000000" + first[10:]


def test_deterministic_event_id_spans_the_whole_ulid_time_range() -> None:
    assert deterministic_event_id("seed", (1 << 48) - 1).startswith("7ZZZZZZZZZ")
    for bad in (-1, 1 << 48, True):
        with pytest.raises(ValueError, match="timestamp_ms"):
            deterministic_event_id("seed", bad)


def test_deterministic_event_id_matches_a_known_value() -> None:
    # sha256("seed")[:10] = 19b25856e1c150ca834c; time 1 ms (checked with base64.b32encode).
    assert deterministic_event_id("seed", 1) == "000000000136S5GNQ1R58CN0TC"


@pytest.mark.parametrize(
    "text", ["", "01KBCDEFGHJKMNPQRSTVWXYZ0", "81KBCDEFGHJKMNPQRSTVWXYZ01", "01KBCDEFGHJKMNPQRSTVWXYZ0I"]
)
def test_is_ulid_rejects_other_shapes(text: str) -> None:
    assert not is_ulid(text)
    with pytest.raises(ValueError, match="ULID"):
        ulid_timestamp_ms(text)
