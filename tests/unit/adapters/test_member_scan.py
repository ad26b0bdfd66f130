"""The sweep's table scan (adapters/member_scan.py) with a stand-in client: segments side by side, pages
followed to the end, the projection asked for, unreadable items left out, throttling a TransientFailure."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from cio_sync.adapters import member_scan
from cio_sync.adapters.member_scan import ScanMembers
from cio_sync.adapters.member_table import MemberRepository
from cio_sync.failures import TransientFailure
from cio_sync.members.subscriptions import ELIGIBILITY_FIELDS


def raw(member_id: str, **extra: Any) -> dict[str, Any]:
    return {"id": {"S": member_id}, "email_subscription_status": {"BOOL": True}, **extra}


class StandIn:
    """Pages per segment; a page's LastEvaluatedKey is the next page's index."""

    def __init__(self, pages: dict[int, list[list[dict[str, Any]]]], fail: ClientError | None = None) -> None:
        self.pages = pages
        self.fail = fail
        self.requests: list[dict[str, Any]] = []

    def scan(self, **request: Any) -> dict[str, Any]:
        self.requests.append(request)
        if self.fail is not None:
            raise self.fail
        segment_pages = self.pages[request["Segment"]]
        index = int(request.get("ExclusiveStartKey", {"n": {"N": "0"}})["n"]["N"])
        reply: dict[str, Any] = {"Items": segment_pages[index]}
        if index + 1 < len(segment_pages):
            reply["LastEvaluatedKey"] = {"n": {"N": str(index + 1)}}
        return reply


def scanner(client: StandIn, segments: int) -> ScanMembers:
    repository = MemberRepository("members-scan-test", region="us-east-1")
    return ScanMembers(repository, ELIGIBILITY_FIELDS, segments=segments, client=client)


def ids(items: Iterator[dict[str, Any]]) -> list[str]:
    return [str(item["id"]) for item in items]


def test_every_segment_is_read_to_its_last_page_with_the_projection() -> None:
    a, b, c, d = (f"{n:024x}" for n in range(1, 5))
    client = StandIn({0: [[raw(a)], [raw(b)]], 1: [[raw(c), raw(d, promotions_muted_at={"NULL": True})]]})
    items = list(scanner(client, 2).scan_eligibility())
    assert sorted(str(item["id"]) for item in items) == [a, b, c, d]
    assert all(item["email_subscription_status"] is True for item in items)
    assert len(client.requests) == 3
    assert {(r["Segment"], r["TotalSegments"]) for r in client.requests} == {(0, 2), (1, 2)}
    first = client.requests[0]
    assert sorted(first["ExpressionAttributeNames"].values()) == sorted(ELIGIBILITY_FIELDS)
    assert first["TableName"] == "members-scan-test"
    assert [r.get("ExclusiveStartKey") for r in client.requests if r["Segment"] == 0] == [
        None,
        {"n": {"N": "1"}},
    ]


def test_an_item_the_model_cannot_read_is_left_out() -> None:
    good, bad = f"{1:024x}", f"{2:024x}"
    client = StandIn({0: [[raw(bad, email_subscription_status={"S": "yes"}), raw(good)]]})
    assert ids(scanner(client, 1).scan_eligibility()) == [good]


def test_throttling_is_a_transient_failure() -> None:
    throttled = ClientError({"Error": {"Code": "ProvisionedThroughputExceededException"}}, "Scan")
    with pytest.raises(TransientFailure, match="ProvisionedThroughputExceededException"):
        list(scanner(StandIn({0: [[]]}, fail=throttled), 1).scan_eligibility())


def test_the_segments_first_pages_make_one_client_between_them(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every segment asks for the client at once on its first page; one is made (a client is a session's
    worth of parsing, and the scan runs in the sweep's cold start)."""
    made: list[StandIn] = []
    asked = threading.Barrier(4, timeout=5)

    def make_client(service: str, **_options: Any) -> StandIn:
        assert service == "dynamodb"
        time.sleep(0.1)  # a slow start widens a race: with the lock it only delays, never fails the test
        made.append(StandIn({segment: [[raw(f"{segment:024x}")]] for segment in range(4)}))
        return made[-1]

    def first_page(self: ScanMembers, segment: int, start_key: Any) -> Any:
        with contextlib.suppress(threading.BrokenBarrierError):
            asked.wait()  # all four segments are inside _page before any asks for the client
        return original_page(self, segment, start_key)

    original_page = ScanMembers._page
    monkeypatch.setattr(member_scan, "aws_client", make_client)
    monkeypatch.setattr(ScanMembers, "_page", first_page)
    repository = MemberRepository("members-scan-test", region="us-east-1")
    items = list(ScanMembers(repository, ELIGIBILITY_FIELDS, segments=4).scan_eligibility())
    assert len(items) == 4
    assert len(made) == 1
