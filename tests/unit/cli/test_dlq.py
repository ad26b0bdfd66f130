"""Dead letters: body shapes without personal data, redrive requests, and the peek/redrive loops."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pytest
from botocore.exceptions import ClientError

from cio_sync.imports.chunk import ChunkMessage
from cio_sync.pipeline.messages import decode_intents, encode_intents, lane_of
from cio_sync.sync.intents import SendEmail, SyncProfile, TrackEvent
from cio_sync_cli.confirm import confirm
from cio_sync_cli.dlq import DeadLetterQueues, NoSourceQueue, NotRedrivable
from cio_sync_cli.dlq_redrive import PARKED_GROUP, redrive_request
from cio_sync_cli.dlq_summary import NO_REASON, dead_letter_from, summarize_body
from cio_sync_cli.errors import CommandError

ADA = "5f0c8e2a9b1d4c3e2f1a0b9c"
BOB = "6a1b2c3d4e5f60718293a4b5"
SECRETS = ("ada@example.org", "https://", "token", "Lovelace", "promotions_resubscribe", "ada-lovelace")


def track_body() -> str:
    return encode_intents(
        [
            SyncProfile(intent_id="i1", member_id=ADA),
            TrackEvent(
                intent_id="i2",
                member_id=ADA,
                name="promotions_resubscribe",
                data={"email": "ada@example.org", "last_name": "Lovelace"},
                timestamp=1_795_000_000,
            ),
            SyncProfile(intent_id="i3", member_id=BOB),
        ]
    )


def email_body() -> str:
    return SendEmail(
        intent_id="forgot-password:1",
        member_id=ADA,
        kind="forgot_password",
        data={"url": "https://example.org/reset?token=abc"},
    ).to_json()


def upload_body(key: str = "mute-promotions/ada-lovelace.csv") -> str:
    record = {
        "eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": "imports"}, "object": {"key": key, "eTag": "abc", "size": 10}},
    }
    return json.dumps({"Records": [record]})


def assert_no_secrets(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text


def test_track_bodies_show_intent_types_and_member_ids_only() -> None:
    summary = summarize_body("track", track_body())
    assert summary == f"3 intent(s): sync_profile x2, track_event x1; member(s) {ADA}, {BOB}"
    assert_no_secrets(summary)


def test_long_member_lists_are_cut() -> None:
    ids = [f"{index:024x}" for index in range(1, 9)]
    body = encode_intents(
        [SyncProfile(intent_id=f"i{i}", member_id=member_id) for i, member_id in enumerate(ids)]
    )
    assert summarize_body("track", body).endswith(f"{ids[4]} (+3 more)")


def test_email_bodies_never_show_the_reset_url() -> None:
    summary = summarize_body("email", email_body())
    assert summary == f"1 intent(s): send_email(forgot_password) x1; member(s) {ADA}"
    assert_no_secrets(summary)


def test_a_parked_member_without_intents_is_named() -> None:
    summary = summarize_body("track", json.dumps({"member_id": ADA}))
    assert summary.startswith(f"member {ADA}, no intents")


def test_import_bodies_show_import_ids_not_file_names() -> None:
    chunk = ChunkMessage("imp1", chunk=3, partition=1, rows=((2, ADA), (3, BOB)), mute_at="t", dry_run=True)
    assert (
        summarize_body("import-chunk", chunk.to_json())
        == "import imp1 chunk 3 (partition 1): 2 rows, dry run"
    )
    upload = summarize_body("import-file", upload_body())
    assert upload.startswith("upload: import ")
    assert_no_secrets(upload)
    assert summarize_body("import-file", json.dumps({"Event": "s3:TestEvent"})).startswith("S3 test event")
    assert (
        summarize_body("import-file", upload_body("elsewhere/x.csv"))
        == "S3 notification naming no import upload"
    )


def test_stream_failures_show_their_position() -> None:
    parked = json.dumps(
        {
            "eventID": "e1",
            "eventName": "MODIFY",
            "eventSourceARN": "arn",
            "sequenceNumber": "42",
            "reason": "x",
        }
    )
    assert summarize_body("stream-failures", parked) == "stream record MODIFY at sequence 42 (event e1)"
    member = json.dumps({**json.loads(parked), "member_id": "5f0c8e2a9b1d4c3e2f1a0b9c"})
    assert summarize_body("stream-failures", member) == (
        "stream record MODIFY of member 5f0c8e2a9b1d4c3e2f1a0b9c at sequence 42 (event e1)"
    )
    hashed = json.dumps({**json.loads(parked), "member_id": "sha256:0123456789abcdef"})
    assert summarize_body("stream-failures", hashed) == (
        "stream record MODIFY (key hashed) at sequence 42 (event e1)"
    )
    destination = json.dumps(
        {
            "requestContext": {"condition": "RetryAttemptsExhausted"},
            "DDBStreamBatchInfo": {
                "shardId": "shard-1",
                "startSequenceNumber": "10",
                "endSequenceNumber": "12",
                "batchSize": 3,
            },
        }
    )
    assert summarize_body("stream-failures", destination) == (
        "stream batch: shard shard-1, sequence 10 to 12 (3 records, RetryAttemptsExhausted)"
    )


@pytest.mark.parametrize(
    ("queue", "body"),
    [
        ("track", "ada@example.org is not json"),
        ("email", json.dumps({"email": "ada@example.org"})),
        ("import-chunk", json.dumps({"rows": "ada@example.org"})),
        ("import-file", json.dumps(["ada@example.org"])),
        ("stream-failures", json.dumps({"NewImage": {"email": "ada@example.org"}})),
        ("stream-failures", json.dumps(["ada@example.org"])),
    ],
)
def test_unreadable_bodies_show_only_their_size(queue: str, body: str) -> None:
    assert summarize_body(queue, body) == f"unreadable body ({len(body)} bytes)"


def sqs_message(
    body: str, *, reason: str | None = None, group: str | None = None, **attributes: str
) -> dict[str, Any]:
    message: dict[str, Any] = {
        "MessageId": "m-1",
        "ReceiptHandle": "handle-1",
        "Body": body,
        "Attributes": {"ApproximateReceiveCount": "6", "SentTimestamp": "1795000000123", **attributes},
    }
    if group is not None:
        message["Attributes"]["MessageGroupId"] = group
    if reason is not None:
        message["MessageAttributes"] = {"failure_reason": {"StringValue": reason, "DataType": "String"}}
    return message


def test_a_dead_letter_carries_its_reason_or_says_there_is_none() -> None:
    parked = dead_letter_from("track", sqs_message(track_body(), reason="gave up after 5 receives: 500"))
    assert (parked.message_id, parked.receive_count, parked.sent_at) == ("m-1", 6, "2026-11-18T11:06:40Z")
    assert parked.failure_reason == "gave up after 5 receives: 500"
    moved = dead_letter_from("email", sqs_message(email_body()))
    assert moved.failure_reason == NO_REASON
    assert_no_secrets(json.dumps(moved.to_dict()))


def test_redrive_requests_drop_the_reason_and_keep_the_fifo_group() -> None:
    message = sqs_message(track_body(), reason="r", group="lane-007")
    message["MessageAttributes"]["trace"] = {"StringValue": "t", "DataType": "String", "StringListValues": []}
    request = redrive_request("track", message, fifo=True, lanes=16, new_deduplication_id=lambda: "fresh")
    assert request == {
        "MessageBody": track_body(),
        "MessageAttributes": {"trace": {"StringValue": "t", "DataType": "String"}},
        "MessageGroupId": "lane-007",
        "MessageDeduplicationId": "fresh",
    }


def test_parked_track_messages_go_back_to_their_members_lane() -> None:
    message = sqs_message(track_body(), reason="r", group=PARKED_GROUP)
    request = redrive_request("track", message, fifo=True, lanes=16)
    assert request["MessageGroupId"] == lane_of(ADA, 16)
    assert len(request["MessageDeduplicationId"]) == 32


def test_a_parked_member_is_redriven_as_a_sync_of_that_member() -> None:
    message = sqs_message(json.dumps({"member_id": ADA}), reason="profile breaks a limit", group=PARKED_GROUP)
    request = redrive_request("track", message, fifo=True, lanes=4)
    assert decode_intents(request["MessageBody"]) == [SyncProfile(intent_id="redrive:m-1", member_id=ADA)]
    assert request["MessageGroupId"] == lane_of(ADA, 4)


def test_standard_queues_get_the_body_back_unchanged() -> None:
    assert redrive_request("email", sqs_message(email_body(), reason="r"), fifo=False, lanes=16) == {
        "MessageBody": email_body()
    }
    unreadable = sqs_message("junk", group=PARKED_GROUP)
    assert redrive_request("track", unreadable, fifo=True, lanes=16)["MessageGroupId"] == PARKED_GROUP


class FakeSqs:
    """Just enough SQS for the loops: a list of messages, receives that hide them, refusals on demand."""

    def __init__(self, bodies: list[str], sources: list[str], refuse_sends: int = 0) -> None:
        self.messages = [
            sqs_message(body) | {"MessageId": f"m-{i}", "ReceiptHandle": f"h-{i}"}
            for i, body in enumerate(bodies)
        ]
        self.hidden: set[str] = set()
        self.sent: list[dict[str, Any]] = []
        self.made_visible: list[str] = []
        self._sources = sources
        self._refuse = refuse_sends
        self.repeat_first = False

    def get_queue_attributes(self, **_: Any) -> dict[str, Any]:
        visible = [m for m in self.messages if m["ReceiptHandle"] not in self.hidden]
        return {
            "Attributes": {
                "ApproximateNumberOfMessages": str(len(visible)),
                "ApproximateNumberOfMessagesNotVisible": "0",
            }
        }

    def receive_message(self, MaxNumberOfMessages: int, **_: Any) -> dict[str, Any]:
        if self.repeat_first and self.hidden:
            return {"Messages": [self.messages[0]]}  # as if the visibility timeout ran out
        batch = [m for m in self.messages if m["ReceiptHandle"] not in self.hidden][:MaxNumberOfMessages]
        self.hidden.update(m["ReceiptHandle"] for m in batch)
        return {"Messages": batch}

    def change_message_visibility_batch(self, QueueUrl: str, Entries: list[Mapping[str, Any]]) -> None:
        for entry in Entries:
            self.hidden.discard(entry["ReceiptHandle"])
            self.made_visible.append(entry["ReceiptHandle"])

    def list_dead_letter_source_queues(self, **_: Any) -> dict[str, Any]:
        return {"queueUrls": self._sources}

    def send_message(self, **request: Any) -> None:
        if self._refuse:
            self._refuse -= 1
            raise ClientError({"Error": {"Code": "KMS.AccessDenied"}}, "SendMessage")
        self.sent.append(request)

    def delete_message(self, QueueUrl: str, ReceiptHandle: str) -> None:
        self.messages = [m for m in self.messages if m["ReceiptHandle"] != ReceiptHandle]


def queues(sqs: FakeSqs) -> DeadLetterQueues:
    return DeadLetterQueues(sqs, {"email": "https://q/email-dlq", "stream-failures": "https://q/f"}, wait_s=0)


def test_peek_lists_and_makes_every_message_visible_again() -> None:
    sqs = FakeSqs([email_body()] * 25, ["https://q/email"])
    listing = queues(sqs).peek("email", limit=100)
    assert [letter.message_id for letter in listing.letters] == [f"m-{i}" for i in range(25)]
    assert (listing.visible, listing.partial, sqs.hidden) == (25, False, set())
    assert sorted(sqs.made_visible) == sorted(f"h-{i}" for i in range(25))


def test_peek_respects_the_limit_and_stops_when_messages_come_back() -> None:
    sqs = FakeSqs([email_body()] * 25, ["https://q/email"])
    limited = queues(sqs).peek("email", limit=12)
    assert (len(limited.letters), limited.partial) == (12, True)
    sqs.repeat_first = True
    repeated = queues(sqs).peek("email", limit=100)
    assert len(repeated.letters) == 10
    assert sqs.hidden == set()


def test_redrive_sends_back_and_deletes_and_leaves_refused_ones() -> None:
    sqs = FakeSqs([email_body()] * 12, ["https://q/email"], refuse_sends=2)
    progress: list[int] = []
    outcome = queues(sqs).redrive("email", lanes=16, progress=lambda o: progress.append(o.moved + o.failed))
    assert (outcome.planned, outcome.moved, outcome.failed) == (12, 10, 2)
    assert outcome.errors == {"KMS.AccessDenied": 2}
    assert progress == [10, 12]
    assert all(request["QueueUrl"] == "https://q/email" for request in sqs.sent)
    assert len(sqs.messages) == 2  # the refused ones are still dead letters


def test_redrive_needs_exactly_one_source_queue() -> None:
    with pytest.raises(NoSourceQueue, match="0 queues redrive into it"):
        queues(FakeSqs([email_body()], [])).redrive("email", lanes=16)
    with pytest.raises(NotRedrivable, match="reconcile"):
        queues(FakeSqs([], [])).redrive("stream-failures", lanes=16)


def test_redrive_asks_unless_told_and_refuses_without_a_terminal() -> None:
    confirm("redrive?", what="redrive changes queues", ask=lambda: "y\n", interactive=True)
    with pytest.raises(CommandError, match="cancelled"):
        confirm("redrive?", what="redrive changes queues", ask=lambda: "\n", interactive=True)
    with pytest.raises(CommandError, match="redrive changes queues: pass --yes"):
        confirm("redrive?", what="redrive changes queues", interactive=False)
