from __future__ import annotations

import itertools
import threading

import pytest

from cio_sync.adapters.customerio.pacing import TokenBucket
from tests.unit.customerio.fakes import FakeClock


def peak_in_any_second(times: list[float]) -> int:
    ordered = sorted(times)
    return max(sum(1 for other in ordered if start <= other < start + 1.0) for start in ordered)


@pytest.mark.parametrize("rate", [10.0, 100.0])
def test_never_more_than_the_rate_in_any_second(clock: FakeClock, rate: float) -> None:
    bucket = TokenBucket(rate, clock=clock, sleep=clock.sleep)
    granted = []
    for _ in range(int(rate * 3)):
        assert bucket.acquire()
        granted.append(clock())
    assert peak_in_any_second(granted) <= rate
    assert clock() - granted[0] < 3.0 * 1.03  # and not much slower than asked


def test_idle_time_does_not_bank_a_burst(clock: FakeClock) -> None:
    bucket = TokenBucket(10, clock=clock, sleep=clock.sleep)
    clock.advance(60)
    granted = []
    for _ in range(20):
        bucket.acquire()
        granted.append(clock())
    assert peak_in_any_second(granted) <= 10


def test_a_slot_after_the_deadline_is_neither_waited_for_nor_claimed(clock: FakeClock) -> None:
    bucket = TokenBucket(2, clock=clock, sleep=clock.sleep)
    assert bucket.acquire(deadline=clock() + 0.1)
    assert not bucket.acquire(deadline=clock() + 0.1)
    assert clock.sleeps == []
    assert bucket.acquire(deadline=clock() + 1.0)  # the refused slot was not used up
    assert clock.sleeps == [pytest.approx(0.51)]


def test_a_late_wake_up_does_not_let_the_next_request_catch_up(clock: FakeClock) -> None:
    def oversleep(seconds: float) -> None:
        clock.sleep(seconds + 0.08)  # a busy machine wakes the thread late

    bucket = TokenBucket(20, clock=clock, sleep=oversleep)
    granted = []
    for _ in range(5):
        bucket.acquire()
        granted.append(clock())
    gaps = [later - earlier for earlier, later in itertools.pairwise(granted)]
    assert min(gaps) >= 1.02 / 20


def test_a_late_thread_is_held_back_by_one_that_went_on_time(clock: FakeClock) -> None:
    bucket = TokenBucket(10, clock=clock, sleep=clock.sleep)
    assert bucket.reserve() == 0.0  # thread A: slot now, but it is descheduled for a while
    assert bucket.reserve() == pytest.approx(0.102)  # thread B
    clock.advance(0.102)
    assert bucket.release() == 0.0  # B goes on time
    clock.advance(0.008)
    assert bucket.release() == pytest.approx(0.094)  # A, late, must keep one interval after B
    clock.advance(0.094)
    assert bucket.release() == 0.0


def test_threads_share_one_schedule(clock: FakeClock) -> None:
    # Reservations alone: every thread gets its own slot, one interval apart.
    bucket = TokenBucket(50, clock=clock, sleep=lambda _: None)
    waits: list[float] = []
    lock = threading.Lock()

    def take() -> None:
        for _ in range(25):
            wait = bucket.reserve()
            assert wait is not None
            with lock:
                waits.append(wait)

    threads = [threading.Thread(target=take) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(round(wait / (1.02 / 50)) for wait in waits) == list(range(100))


@pytest.mark.parametrize("rate", [0, -1])
def test_nonsense_rates_are_refused(rate: float) -> None:
    with pytest.raises(ValueError, match="must be positive"):
        TokenBucket(rate)
