"""Dead letters: look at them without consuming them, and send them back to the queue they came from.

A dead letter is either parked by a function with its reason (the `failure_reason` message attribute), or
moved by SQS itself after maxReceiveCount receives (no reason recorded; the function's log has it). What
is shown of a body is its shape only.

What a letter shows is in `dlq_summary`; what sending it back means, in `dlq_redrive`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from botocore.exceptions import ClientError

from cio_sync.aws_limits import SQS_BATCH
from cio_sync_cli.dlq_redrive import redrive_request
from cio_sync_cli.dlq_summary import DeadLetter, dead_letter_from

# Operator names -> the template's logical ids.
DEAD_LETTER_QUEUES: Final[Mapping[str, str]] = {
    "track": "TrackDeadLetterQueue",
    "email": "EmailDeadLetterQueue",
    "import-file": "ImportFileDeadLetterQueue",
    "import-chunk": "ImportChunkDeadLetterQueue",
    "stream-failures": "StreamFailureQueue",
    "consent": "ConsentDeadLetterQueue",
}
STREAM_FAILURES: Final = "stream-failures"
PEEK_VISIBILITY_S: Final = 30  # hidden only while being listed, then made visible again at once
REDRIVE_VISIBILITY_S: Final = 60  # long enough to send and delete one receive's worth
RECEIVE_WAIT_S: Final = 1  # long polling asks every SQS server, so an empty answer means empty
STREAM_FAILURE_ADVICE: Final = (
    "stream-failures entries point at member stream records, not at messages, so they cannot be sent "
    "again. Fix the cause (the member-stream function's log), then run `cio-sync reconcile "
    "--from-failures`: it syncs exactly the members they name and removes the entries it repaired "
    "(docs/operations.md)"
)


class NoSourceQueue(LookupError):
    """No queue (or more than one) names this dead-letter queue in its RedrivePolicy."""

    def __init__(self, queue: str, found: int) -> None:
        super().__init__(
            f"{queue}: {found} queues redrive into it (need exactly 1), so there is nowhere to send it back"
        )


class NotRedrivable(ValueError):
    def __init__(self) -> None:
        super().__init__(STREAM_FAILURE_ADVICE)


@dataclass
class QueueListing:
    queue: str
    url: str
    visible: int
    in_flight: int
    letters: list[DeadLetter] = field(default_factory=list)

    @property
    def partial(self) -> bool:
        return len(self.letters) < self.visible


@dataclass
class RedriveOutcome:
    queue: str
    source_url: str
    planned: int
    moved: int = 0
    failed: int = 0
    errors: Counter[str] = field(default_factory=Counter)


class DeadLetterQueues:
    """Peek at and redrive the dead-letter queues named in `urls` (operator name -> queue URL)."""

    def __init__(self, sqs: Any, urls: Mapping[str, str], *, wait_s: int = RECEIVE_WAIT_S) -> None:
        self._sqs = sqs
        self._urls = dict(urls)
        self._wait_s = wait_s

    def url(self, queue: str) -> str:
        return self._urls[queue]

    def counts(self, queue: str) -> tuple[int, int]:
        """(visible, in flight), as SQS approximates them."""
        attributes = self._sqs.get_queue_attributes(
            QueueUrl=self._urls[queue],
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return (
            int(attributes.get("ApproximateNumberOfMessages", 0)),
            int(attributes.get("ApproximateNumberOfMessagesNotVisible", 0)),
        )

    def peek(self, queue: str, limit: int) -> QueueListing:
        """Up to `limit` dead letters, made visible again before returning.

        On a FIFO queue SQS returns no more of a message group while part of it is in flight, so a peek
        sees at most one receive's worth (10) per group; `partial` says when that happened.
        """
        url = self._urls[queue]
        visible, in_flight = self.counts(queue)
        listing = QueueListing(queue, url, visible, in_flight)
        handles: list[str] = []
        seen: set[str] = set()
        try:
            while len(listing.letters) < min(limit, visible):
                batch = self._receive(url, min(SQS_BATCH, limit - len(listing.letters)), PEEK_VISIBILITY_S)
                fresh = [message for message in batch if message["MessageId"] not in seen]
                if not fresh:
                    break  # empty, or the first ones came back: the listing outlived its visibility timeout
                for message in fresh:
                    seen.add(message["MessageId"])
                    handles.append(message["ReceiptHandle"])
                    listing.letters.append(dead_letter_from(queue, message))
        finally:
            self._make_visible(url, handles)
        return listing

    def source_of(self, queue: str) -> str:
        """The queue whose RedrivePolicy targets this dead-letter queue."""
        if queue == STREAM_FAILURES:
            raise NotRedrivable
        found = self._sqs.list_dead_letter_source_queues(QueueUrl=self._urls[queue]).get("queueUrls", [])
        if len(found) != 1:
            raise NoSourceQueue(queue, len(found))
        return str(found[0])

    def redrive(
        self,
        queue: str,
        *,
        lanes: int,
        limit: int | None = None,
        progress: Callable[[RedriveOutcome], None] | None = None,
    ) -> RedriveOutcome:
        """Send each dead letter back to its source queue, then delete it here.

        At most the number visible when it starts (or `limit`): a message that fails again and comes
        back while this runs waits for the next redrive instead of looping. A send SQS refuses leaves
        the dead letter where it is (visible again after REDRIVE_VISIBILITY_S).
        """
        url = self._urls[queue]
        source = self.source_of(queue)
        visible, _ = self.counts(queue)
        outcome = RedriveOutcome(queue, source, visible if limit is None else min(visible, limit))
        fifo = source.endswith(".fifo")
        while outcome.moved + outcome.failed < outcome.planned:
            wanted = min(SQS_BATCH, outcome.planned - outcome.moved - outcome.failed)
            batch = self._receive(url, wanted, REDRIVE_VISIBILITY_S)
            if not batch:
                break
            for message in batch:
                request = redrive_request(queue, message, fifo=fifo, lanes=lanes)
                try:
                    self._sqs.send_message(QueueUrl=source, **request)
                except ClientError as error:
                    outcome.failed += 1
                    outcome.errors[str(error.response.get("Error", {}).get("Code", "unknown"))] += 1
                    continue
                self._sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
                outcome.moved += 1
            if progress is not None:
                progress(outcome)
        return outcome

    def _receive(self, url: str, count: int, visibility_s: int) -> list[dict[str, Any]]:
        response = self._sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=count,
            VisibilityTimeout=visibility_s,
            WaitTimeSeconds=self._wait_s,
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        return list(response.get("Messages", []))

    def _make_visible(self, url: str, handles: Sequence[str]) -> None:
        for start in range(0, len(handles), SQS_BATCH):
            entries = [
                {"Id": str(index), "ReceiptHandle": handle, "VisibilityTimeout": 0}
                for index, handle in enumerate(handles[start : start + SQS_BATCH])
            ]
            # Best effort: a message deleted meanwhile has no handle to change, and the rest become
            # visible by themselves after PEEK_VISIBILITY_S anyway.
            self._sqs.change_message_visibility_batch(QueueUrl=url, Entries=entries)
