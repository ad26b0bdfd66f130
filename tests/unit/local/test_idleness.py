"""The idle check's verdicts, on fakes: what makes a check say busy, and what it costs in requests."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from cio_sync_local.idleness import NO_ROUND_IN_TIME, Idleness


@dataclass
class Mapping:
    polls: int = 0
    pending: str | None = None


@dataclass
class World:
    """A stream mapping polled by a thread of its own when woken, queues read on demand."""

    stream: Mapping = field(default_factory=Mapping)
    queue: Mapping = field(default_factory=Mapping)
    waiting: list[str] = field(default_factory=list)  # what the source queues report busy
    held: list[str] = field(default_factory=list)
    queue_reads: int = 0
    on_stream_poll: list[object] = field(default_factory=list)  # callables run inside a stream poll
    idleness: Idleness | None = None

    def build(self) -> Idleness:
        self.idleness = Idleness(
            watched=[self.stream, self.queue],
            streams=[self.stream],
            queues=self.read_queues,
            held=lambda: list(self.held),
            wake_streams=self.poll_stream,
            run_once=lambda: 0,
        )
        self.idleness.running = True
        return self.idleness

    def read_queues(self, first_only: bool) -> list[str]:
        self.queue_reads += 1
        return self.waiting[:1] if first_only else list(self.waiting)

    def poll_stream(self) -> None:
        def poll() -> None:
            for action in self.on_stream_poll:
                action()  # type: ignore[operator]
            self.stream.polls += 1
            assert self.idleness is not None
            self.idleness.polled()

        threading.Thread(target=poll).start()


def test_an_empty_pipeline_is_idle_after_two_stream_polls_and_one_read_of_each_queue() -> None:
    world = World()
    report = world.build().idle_report(10)
    assert report.idle, report.reasons
    assert world.stream.polls == 2
    assert world.queue.polls == 0  # queues are read, not polled
    assert world.queue_reads == 2  # the quick look, then the verdict's read


def test_a_waiting_message_is_busy_at_once_without_polling() -> None:
    world = World(waiting=["Queue: 1 waiting, 0 in flight, 0 delayed"])
    report = world.build().idle_report(10)
    assert not report.idle
    assert report.reasons == ("Queue: 1 waiting, 0 in flight, 0 delayed",)
    assert world.stream.polls == 0


def test_a_held_function_is_busy_at_once() -> None:
    """Held, its mapping does not poll: the check says so instead of waiting out its whole timeout."""
    world = World(held=["TrackFunction is held"])
    report = world.build().idle_report(10)
    assert report.reasons == ("TrackFunction is held",)


def test_records_a_poller_holds_are_busy() -> None:
    world = World(queue=Mapping(pending="2 records in a batching window"))
    assert world.build().idle_report(10).reasons == ("2 records in a batching window",)


def test_an_invocation_under_way_is_busy() -> None:
    idleness = World().build()
    with idleness.invoking():
        report = idleness.idle_report(10)
    assert not report.idle
    assert report.reasons == ("1 invocation(s) under way",)
    assert idleness.idle_report(10).idle


def test_an_invocation_that_begins_and_ends_during_the_check_is_no_verdict() -> None:
    """A message received and handled between the reads of two queues could have sent one to a queue read
    before it: the check must not call that idle, though every read it made was empty."""
    world = World()
    idleness = world.build()

    def an_invocation_runs() -> None:
        if world.stream.polls == 0:
            with idleness.invoking():
                pass

    world.on_stream_poll.append(an_invocation_runs)
    report = idleness.idle_report(10)
    assert not report.idle
    assert "records were delivered during the check" in report.reasons
    assert idleness.idle_report(10).idle


def test_a_stream_that_never_polls_leaves_the_check_without_a_verdict() -> None:
    world = World()
    world.poll_stream = lambda: None  # type: ignore[method-assign]
    idleness = world.build()
    report = idleness.idle_report(0.05)
    assert report.reasons == (NO_ROUND_IN_TIME,)
