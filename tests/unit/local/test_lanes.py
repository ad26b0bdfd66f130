"""A FIFO message group is claimed by one invocation at a time across a mapping's pollers."""

from __future__ import annotations

import threading

from cio_sync_local.lanes import LaneLocks


def test_a_held_group_waits_and_a_free_one_does_not() -> None:
    lanes = LaneLocks()
    entered = threading.Event()
    release = threading.Event()
    order: list[str] = []

    def first() -> None:
        with lanes.claim({"lane-1"}, timeout_s=60) as claimed:
            assert claimed
            order.append("first")
            entered.set()
            assert release.wait(60)
            order.append("first done")

    def second() -> None:
        with lanes.claim({"lane-1", "lane-2"}, timeout_s=60) as claimed:
            assert claimed
            order.append("second")

    one = threading.Thread(target=first)
    one.start()
    assert entered.wait(60)
    with lanes.claim({"lane-3"}, timeout_s=0) as claimed:  # another lane: no wait at all
        assert claimed
    two = threading.Thread(target=second)
    two.start()
    while lanes.waits < 1:  # the second claim is waiting for lane-1 (an event, not a timing)
        threading.Event().wait(0.01)
    assert lanes.held() == {"lane-1"}  # it claimed nothing while waiting
    release.set()
    one.join(60)
    two.join(60)
    assert order == ["first", "first done", "second"]
    assert lanes.held() == set()


def test_a_claim_that_times_out_claims_nothing() -> None:
    lanes = LaneLocks()
    with lanes.claim({"lane-1"}, timeout_s=1) as first:
        assert first
        with lanes.claim({"lane-1", "lane-2"}, timeout_s=0) as second:
            assert second is False
        assert lanes.held() == {"lane-1"}
    assert lanes.held() == set()
