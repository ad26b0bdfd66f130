"""`cio-sync dlq list|redrive` against moto: parked and SQS-moved dead letters, peeking, redriving."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cio_sync.adapters.sqs import SqsQueues
from cio_sync.imports.chunk import ChunkMessage
from cio_sync.pipeline.messages import decode_intents, encode_intents, lane_of
from cio_sync.sync.intents import SendEmail, SyncProfile, TrackEvent
from cio_sync_cli.dlq_redrive import PARKED_GROUP
from cio_sync_cli.dlq_summary import NO_REASON
from tests.integration.ops.conftest import LANES, Cli, Resources, assert_one_line_error

ADA = "5f0c8e2a9b1d4c3e2f1a0b9c"
BOB = "6a1b2c3d4e5f60718293a4b5"
PERSONAL = ("ada@example.org", "https://", "reset-token", "promotions_resubscribe", "Lovelace")
DEAD_LETTER_QUEUES = (
    "TrackDeadLetterQueue",
    "EmailDeadLetterQueue",
    "ImportChunkDeadLetterQueue",
    "StreamFailureQueue",
)


def track_body() -> str:
    event = TrackEvent(
        intent_id="evt-1",
        member_id=ADA,
        name="promotions_resubscribe",
        data={"email": "ada@example.org", "last_name": "Lovelace"},
        timestamp=1_795_000_000,
    )
    return encode_intents([SyncProfile(intent_id="sync-1", member_id=ADA), event])


def email_body() -> str:
    return SendEmail(
        intent_id="forgot-password:1",
        member_id=BOB,
        kind="forgot_password",
        data={"url": "https://example.org/reset?t=reset-token"},
    ).to_json()


CHUNK = ChunkMessage(
    "imp-1", chunk=2, partition=0, rows=((2, ADA),), mute_at="2026-11-26T16:00:00Z", dry_run=False
)


@pytest.fixture
def dead_letters(resources: Resources) -> Resources:
    """One of each: parked by a function (with a reason) and moved by SQS (without one)."""
    queues = SqsQueues(
        resources.sqs, resources.urls["TrackQueue"], None, resources.urls["StreamFailureQueue"]
    )
    queues.dead_letter_to(
        resources.urls["TrackDeadLetterQueue"], track_body(), "gave up after 5 receives: 503"
    )
    resources.move_to_dead_letters("EmailQueue", MessageBody=email_body())
    resources.move_to_dead_letters(
        "ImportChunkQueue",
        MessageBody=CHUNK.to_json(),
        MessageGroupId=CHUNK.group_id,
        MessageDeduplicationId=CHUNK.deduplication_id,
    )
    record = {
        "eventID": "e-1",
        "eventName": "MODIFY",
        "eventSourceARN": "arn",
        "dynamodb": {"SequenceNumber": "77"},
    }
    queues.record_stream_failure(record, "image is not a member item")
    return resources


def test_list_shows_every_dead_letter_without_personal_data_or_consuming_it(
    dead_letters: Resources, cli: Cli
) -> None:
    result = cli("dlq", "list")
    assert result.code == 0
    out = result.out
    assert "track (ops-track-dlq.fifo): 1 message(s)" in out
    assert "reason: gave up after 5 receives: 503" in out
    assert f"body:   2 intent(s): sync_profile x1, track_event x1; member(s) {ADA}" in out
    assert f"body:   1 intent(s): send_email(forgot_password) x1; member(s) {BOB}" in out
    assert f"reason: {NO_REASON}" in out
    assert "body:   import imp-1 chunk 2 (partition 0): 1 rows" in out
    assert "body:   stream record MODIFY at sequence 77 (event e-1)" in out
    assert "reason: image is not a member item" in out
    assert "import-file (ops-import-file-dlq): empty" in out
    for secret in PERSONAL:
        assert secret not in out + result.err
    # Peeking consumed nothing: every dead letter is visible again at once.
    assert [dead_letters.visible(queue) for queue in DEAD_LETTER_QUEUES] == [1, 1, 1, 1]


def test_list_one_queue_as_json(dead_letters: Resources, cli: Cli) -> None:
    result = cli("dlq", "list", "--queue", "email", "--json")
    rows = [json.loads(line) for line in result.out.splitlines()]
    assert len(rows) == 1
    assert rows[0]["queue"] == "email"
    assert (rows[0]["failure_reason"], rows[0]["receive_count"] >= 2) == (NO_REASON, True)
    assert rows[0]["sent_at"].endswith("Z")


def test_list_shows_when_a_fifo_group_hides_the_rest(resources: Resources, cli: Cli) -> None:
    queues = SqsQueues(resources.sqs, None, None)
    for index in range(12):
        body = encode_intents([SyncProfile(intent_id=f"s{index}", member_id=ADA)])
        queues.dead_letter_to(resources.urls["TrackDeadLetterQueue"], body, f"reason {index}")
    out = cli("dlq", "list", "--queue", "track").out
    assert "showing 10 of ~12" in out
    assert resources.visible("TrackDeadLetterQueue") == 12


def test_redrive_without_yes_and_without_a_terminal_sends_nothing(dead_letters: Resources, cli: Cli) -> None:
    result = cli("dlq", "redrive")
    assert result.code == 1
    assert result.err.strip().splitlines()[-1] == (
        "cio-sync: redrive changes queues: pass --yes to confirm (no terminal to ask on)"
    )
    assert [dead_letters.visible(queue) for queue in DEAD_LETTER_QUEUES] == [1, 1, 1, 1]


def only_message(resources: Resources, logical_id: str) -> dict[str, Any]:
    messages = resources.bodies(logical_id)
    assert len(messages) == 1
    return messages[0]


def test_redrive_sends_each_dead_letter_back_to_its_source(dead_letters: Resources, cli: Cli) -> None:
    result = cli("dlq", "redrive", "--yes")
    assert result.code == 0
    assert "track: 1 redriven to ops-track.fifo" in result.out
    assert "email: 1 redriven to ops-email" in result.out
    assert "import-chunk: 1 redriven to ops-import-chunk.fifo" in result.out
    assert "stream-failures: 1 entr(ies) not redriven" in result.err
    assert "cio-sync reconcile" in result.err

    track = only_message(dead_letters, "TrackQueue")
    assert decode_intents(track["Body"]) == decode_intents(track_body())
    assert track["Attributes"]["MessageGroupId"] == lane_of(ADA, LANES)  # not the parking group
    assert "failure_reason" not in track.get("MessageAttributes", {})
    assert only_message(dead_letters, "EmailQueue")["Body"] == email_body()
    chunk = only_message(dead_letters, "ImportChunkQueue")
    assert (chunk["Body"], chunk["Attributes"]["MessageGroupId"]) == (CHUNK.to_json(), CHUNK.group_id)

    visible = [dead_letters.visible(queue) for queue in DEAD_LETTER_QUEUES]
    assert visible == [0, 0, 0, 1]  # the stream failure stays: it cannot be redriven


def test_redrive_one_queue_with_a_limit(resources: Resources, cli: Cli) -> None:
    queues = SqsQueues(resources.sqs, None, None)
    for index in range(3):
        body = encode_intents([SyncProfile(intent_id=f"s{index}", member_id=ADA)])
        queues.dead_letter_to(resources.urls["TrackDeadLetterQueue"], body, "r")
    result = cli("dlq", "redrive", "--queue", "track", "--limit", "2", "--yes")
    assert (result.code, result.out.strip()) == (0, "track: 2 redriven to ops-track.fifo")
    assert resources.visible("TrackDeadLetterQueue") == 1
    assert [m["Attributes"]["MessageGroupId"] for m in resources.bodies("TrackQueue")] != [PARKED_GROUP] * 2


def test_redriving_stream_failures_explains_what_to_do_instead(dead_letters: Resources, cli: Cli) -> None:
    assert_one_line_error(cli("dlq", "redrive", "--queue", "stream-failures", "--yes"), "reconcile")


def test_nothing_to_redrive(resources: Resources, cli: Cli) -> None:
    result = cli("dlq", "redrive", "--yes")
    assert (result.code, result.out) == (0, "")
    assert "nothing to redrive" in result.err


def test_a_dead_letter_queue_without_a_source_is_one_line(
    resources: Resources, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The stream-failure queue is no queue's DLQ: named as the email DLQ, nothing redrives into it.
    monkeypatch.setenv("EMAIL_DEAD_LETTER_QUEUE_URL", resources.urls["StreamFailureQueue"])
    resources.sqs.send_message(QueueUrl=resources.urls["StreamFailureQueue"], MessageBody="{}")
    assert_one_line_error(
        cli("dlq", "redrive", "--queue", "email", "--yes"), "email: 0 queues redrive into it"
    )


def test_no_dead_letter_queues_configured_is_one_line(aws: None, cli: Cli) -> None:
    assert_one_line_error(cli("dlq", "list"), "names no dead-letter queue")
