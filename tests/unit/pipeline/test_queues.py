from typing import Any

from cio_sync.adapters.sqs import SQS_BATCH_BYTES, SqsQueues
from cio_sync.pipeline.messages import TrackMessage
from cio_sync.sync.intents import SyncProfile

MEMBER = "5f1e2d3c4b5a69788796a5b4"


class FakeSqs:
    def __init__(self) -> None:
        self.batches: list[list[dict[str, Any]]] = []

    def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        self.batches.append(Entries)
        return {"Successful": [{"Id": e["Id"]} for e in Entries], "Failed": []}


def test_batches_respect_the_total_size_limit_and_keep_order() -> None:
    sqs = FakeSqs()
    # Ten messages of ~60 KB each: too many bytes for one SendMessageBatch.
    messages = [
        TrackMessage(
            f"lane-{n:03d}", tuple(SyncProfile(f"{n}-{i:05d}-" + "x" * 40, MEMBER) for i in range(600))
        )
        for n in range(10)
    ]
    assert SqsQueues(sqs, "https://q/track.fifo", None).publish_track(messages) == []
    assert len(sqs.batches) > 1
    assert all(sum(len(e["MessageBody"].encode()) for e in batch) <= SQS_BATCH_BYTES for batch in sqs.batches)
    assert [e["MessageGroupId"] for batch in sqs.batches for e in batch] == [m.lane for m in messages]


def test_at_most_ten_entries_a_batch() -> None:
    sqs = FakeSqs()
    messages = [TrackMessage(f"lane-{n:03d}", (SyncProfile(f"i{n}", MEMBER),)) for n in range(25)]
    SqsQueues(sqs, "https://q/track.fifo", None).publish_track(messages)
    assert [len(batch) for batch in sqs.batches] == [10, 10, 5]
