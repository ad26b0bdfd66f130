"""The pending-decision store keeps the status a broken write replaced, reads items kept without it, and
names the decisions it cannot encode instead of failing on them."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from cio_sync.adapters.pending_decisions import DynamoPendingDecisions
from cio_sync.pipeline.member_stream import DecisionsNotKept, PendingDecision

TABLE = "idempotency"


class StubClient:
    """BatchWriteItem and BatchGetItem over a dict, as DynamoDB answers them."""

    def __init__(self) -> None:
        self.items: dict[str, dict[str, Any]] = {}

    def batch_write_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:
        for put in RequestItems[TABLE]:
            item = put["PutRequest"]["Item"]
            self.items[item["id"]["S"]] = item
        return {}

    def batch_get_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:
        keys = [key["id"]["S"] for key in RequestItems[TABLE]["Keys"]]
        return {"Responses": {TABLE: [self.items[key] for key in keys if key in self.items]}}


def test_the_status_a_broken_write_replaced_survives_the_round_trip() -> None:
    client = StubClient()
    store = DynamoPendingDecisions(client, TABLE, clock=lambda: 1_800_000_000.0)
    kept = [
        PendingDecision("a" * 24, "t1", {}, email_status_before=True),
        PendingDecision("b" * 24, "t2", {"email_subscription_status": False}),
    ]
    store.keep(kept)
    assert client.items["rules#" + "a" * 24 + "#t1"]["email_status_before"] == {"BOOL": True}
    assert "email_status_before" not in client.items["rules#" + "b" * 24 + "#t2"]  # as items kept before
    assert sorted(store.find([("a" * 24, "t1"), ("b" * 24, "t2")]), key=lambda d: d.token) == kept


def test_a_decision_json_cannot_hold_is_named_and_the_others_are_kept() -> None:
    """Issue 21: a Decimal or a set in the outputs raised TypeError out of the stream batch (retried for
    the stream's day), and no decision of the batch was kept. Now the others are kept and the refused
    one is named, so its record alone is parked."""
    client = StubClient()
    store = DynamoPendingDecisions(client, TABLE, clock=lambda: 1_800_000_000.0)
    good = PendingDecision("a" * 24, "t1", {"email_subscription_status": False})
    bad = PendingDecision("b" * 24, "t2", {"email_opt_out_at": Decimal(5), "promotions_muted_at": {1}})
    with pytest.raises(DecisionsNotKept) as refused:
        store.keep([bad, good])
    assert refused.value.refused == [bad]
    assert store.find([("a" * 24, "t1"), ("b" * 24, "t2")]) == [good]
