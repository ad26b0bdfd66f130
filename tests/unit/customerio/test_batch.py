from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cio_sync.customerio.batch import (
    MAX_ITEM_BYTES,
    MAX_REQUEST_BYTES,
    Delete,
    Event,
    Identify,
    Operation,
    Suppression,
    batch_item,
    pack,
    plan,
)
from cio_sync.customerio.errors import InvalidRequest, PayloadTooLarge
from cio_sync.customerio.payloads import encode
from tests.unit.customerio.openapi_check import check_track_request

EVENT_ID = "01J0000000000000000000000A"


def sized_identify(member_id: str, item_bytes: int) -> Identify:
    """An identify whose encoded batch item is exactly `item_bytes` long."""
    base = len(encode(batch_item(Identify(member_id, {"pad": ""}))))
    return Identify(member_id, {"pad": "x" * (item_bytes - base)})


def test_items_have_the_shapes_of_the_openapi_document() -> None:
    operations: list[Operation] = [
        Identify("m-1", {"email_subscription_status": True, "removed": None, "source": "web"}, timestamp=17),
        Delete("m-2"),
        Event("m-3", "promotions_resubscribe", {"channel": "email"}, EVENT_ID, 1_700_000_000),
    ]
    packing = plan(operations)
    assert packing.requests == ((0, 1, 2),)
    body = packing.body(packing.requests[0])
    check_track_request("POST", "/api/v2/batch", body)
    items = json.loads(body)["batch"]
    assert items[0] == {
        "type": "person",
        "identifiers": {"id": "m-1"},
        "action": "identify",
        "attributes": {"email_subscription_status": True, "removed": None, "source": "web"},
        "timestamp": 17,
    }
    assert items[1] == {"type": "person", "identifiers": {"id": "m-2"}, "action": "delete"}
    assert items[2]["id"] == EVENT_ID
    assert items[2]["attributes"] == {"channel": "email"}


def test_suppress_and_unsuppress_are_person_actions_of_the_openapi_document() -> None:
    packing = plan([Suppression("m-1", suppress=True), Suppression("m-2", suppress=False)])
    body = packing.body(packing.requests[0])
    check_track_request("POST", "/api/v2/batch", body)
    assert json.loads(body)["batch"] == [
        {"type": "person", "identifiers": {"id": "m-1"}, "action": "suppress"},
        {"type": "person", "identifiers": {"id": "m-2"}, "action": "unsuppress"},
    ]


def test_an_item_of_exactly_the_limit_is_sent_and_one_byte_more_is_refused_alone() -> None:
    at_limit = sized_identify("m-1", MAX_ITEM_BYTES)
    over = sized_identify("m-2", MAX_ITEM_BYTES + 1)
    packing = plan([at_limit, over, Delete("m-3")])
    assert len(packing.encoded[0]) == MAX_ITEM_BYTES
    assert packing.requests == ((0, 2),)
    assert isinstance(packing.refused[1], PayloadTooLarge)
    assert not packing.refused[1].retryable
    assert "m-2" in packing.refused[1].message
    assert "x" * 10 not in packing.refused[1].message
    assert pack([at_limit, over, Delete("m-3")]) == [[at_limit, Delete("m-3")]]


def test_requests_split_just_below_the_body_limit() -> None:
    item_bytes = 20_000
    operations = [sized_identify(f"m-{index:03}", item_bytes) for index in range(60)]
    packing = plan(operations)
    sizes = [len(packing.body(request)) for request in packing.requests]
    assert all(size < MAX_REQUEST_BYTES for size in sizes)
    per_request = (MAX_REQUEST_BYTES - 13) // (item_bytes + 1)  # 12 bytes of wrapper, one comma per item
    assert [len(request) for request in packing.requests] == [per_request, per_request, 60 - 2 * per_request]
    assert [index for request in packing.requests for index in request] == list(range(60))


def test_a_body_of_exactly_the_limit_is_not_allowed() -> None:
    wrapper = len(b'{"batch":[]}')
    first = sized_identify("m-1", MAX_ITEM_BYTES)
    fill = MAX_REQUEST_BYTES - wrapper - MAX_ITEM_BYTES * 15 - 15  # 16 items, 15 commas: exactly the limit
    operations = [first] * 15 + [sized_identify("m-2", fill)]
    packing = plan(operations)
    assert len(packing.requests) == 2
    shrunk = [*operations[:15], sized_identify("m-2", fill - 1)]
    assert len(plan(shrunk).requests) == 1
    assert len(plan(shrunk).body(plan(shrunk).requests[0])) == MAX_REQUEST_BYTES - 1


def test_an_operation_that_is_not_json_is_refused_alone() -> None:
    packing = plan([Identify("m-1", {"score": float("nan")}), Delete("m-2")])
    assert isinstance(packing.refused[0], InvalidRequest)
    assert packing.requests == ((1,),)


@pytest.mark.parametrize(
    "event_id", ["not-a-ulid", "81J0000000000000000000000A", "01J000000000000000000000I0"]
)
def test_an_event_whose_id_is_not_a_ulid_is_refused_alone(event_id: str) -> None:
    packing = plan([Event("m-1", "name", {}, event_id, 1), Delete("m-2")])
    assert isinstance(packing.refused[0], InvalidRequest)
    assert "not a ULID" in packing.refused[0].message
    assert packing.requests == ((1,),)


def test_empty_input_packs_to_nothing() -> None:
    assert pack([]) == []


@pytest.mark.parametrize(
    "build",
    [
        lambda: Identify("", {}),
        lambda: Delete(""),
        lambda: Event("m-1", "", {}, EVENT_ID, 1),
    ],
)
def test_malformed_operations_are_refused_at_construction(build: object) -> None:
    with pytest.raises(ValueError, match=r"Customer\.io"):
        build()  # type: ignore[operator]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=120, max_value=MAX_ITEM_BYTES + 500), min_size=1, max_size=60))
def test_packing_is_in_order_within_limits_and_uses_the_fewest_ordered_requests(sizes: list[int]) -> None:
    operations = [sized_identify(f"m-{index}", size) for index, size in enumerate(sizes)]
    packing = plan(operations)
    sent = [index for request in packing.requests for index in request]
    assert sent == [index for index, size in enumerate(sizes) if size <= MAX_ITEM_BYTES]
    assert set(packing.refused) == {index for index, size in enumerate(sizes) if size > MAX_ITEM_BYTES}
    for request in packing.requests:
        assert len(packing.body(request)) < MAX_REQUEST_BYTES
    # Greedy in order is optimal for ordered packing: no request could have taken the next one's first item.
    for current, following in zip(packing.requests, packing.requests[1:], strict=False):
        assert len(packing.body([*current, following[0]])) >= MAX_REQUEST_BYTES
