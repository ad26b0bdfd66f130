"""The pump plays Lambda's event source mappings: partial batches, FIFO order, redrive, stream retries."""

from __future__ import annotations

import base64
import threading
import time
from typing import Any

import pytest

from cio_sync_local import pump as pump_module
from cio_sync_local.pump import Faults, Pump
from tests.integration.local.conftest import MiniStack, Recorder, body_of, member_id_of

pytestmark = pytest.mark.integration

SETTLE_S = 20.0


def test_sqs_partial_batch_failure_redelivers_only_the_failed_message(mini_stack: MiniStack) -> None:
    recorder = Recorder(identify=body_of, fail=lambda record, seen: body_of(record) == "b" and seen == 0)
    for body in ("a", "b", "c"):
        mini_stack.send("Queue", body)
    pump = mini_stack.pump({"QueueFunction": recorder})

    assert pump.wait_idle(SETTLE_S).idle
    assert (recorder.deliveries("a"), recorder.deliveries("b"), recorder.deliveries("c")) == (1, 2, 1)
    redelivery = recorder.events[-1]["Records"]
    assert [(body_of(r), r["attributes"]["ApproximateReceiveCount"]) for r in redelivery] == [("b", "2")]
    assert sorted(recorder.succeeded) == ["a", "b", "c"]
    assert mini_stack.receive_all("DeadLetters") == []


def test_a_message_that_keeps_failing_moves_to_the_dead_letter_queue_after_max_receive_count(
    mini_stack: MiniStack,
) -> None:
    recorder = Recorder(identify=body_of, fail=lambda record, _seen: body_of(record) == "poison")
    mini_stack.send("Queue", "poison")
    mini_stack.send("Queue", "fine")
    pump = mini_stack.pump({"QueueFunction": recorder})

    assert pump.wait_idle(SETTLE_S).idle
    assert recorder.deliveries("poison") == 2  # maxReceiveCount in the mini template
    assert recorder.succeeded == ["fine"]
    assert [message["Body"] for message in mini_stack.receive_all("DeadLetters")] == ["poison"]


def test_fifo_group_order_holds_across_a_partial_failure(mini_stack: MiniStack) -> None:
    recorder = Recorder(identify=body_of, fail=lambda record, seen: body_of(record) == "g1-2" and seen == 0)
    for index in range(1, 5):
        mini_stack.send("OrderedQueue", f"g1-{index}", group="g1")
        mini_stack.send("OrderedQueue", f"g2-{index}", group="g2")
    pump = mini_stack.pump({"OrderedFunction": recorder})

    assert pump.wait_idle(SETTLE_S).idle
    done = recorder.succeeded
    assert [body for body in done if body.startswith("g1")] == ["g1-1", "g1-2", "g1-3", "g1-4"]
    assert [body for body in done if body.startswith("g2")] == ["g2-1", "g2-2", "g2-3", "g2-4"]
    assert recorder.deliveries("g1-2") == 2
    assert recorder.deliveries("g1-3") == 2  # failed with g1-2 (same group), delivered again after it
    assert recorder.deliveries("g2-3") == 1
    first_batch = recorder.events[0]["Records"]
    assert all(record["attributes"]["MessageGroupId"] in {"g1", "g2"} for record in first_batch)


def test_stream_retries_from_the_first_failed_sequence_number(mini_stack: MiniStack) -> None:
    for index in range(5):
        mini_stack.put(f"m{index}", name=f"n{index}")
    recorder = Recorder(
        identify=member_id_of, fail=lambda record, seen: member_id_of(record) == "m2" and seen == 0
    )
    pump = mini_stack.pump({"StreamFunction": recorder})

    assert pump.wait_idle(SETTLE_S).idle
    batches = [[member_id_of(record) for record in event["Records"]] for event in recorder.events]
    assert batches == [["m0", "m1", "m2", "m3", "m4"], ["m2", "m3", "m4"]]
    assert recorder.succeeded == ["m0", "m1", "m3", "m4", "m2", "m3", "m4"]
    assert mini_stack.stream_failures() == []


def test_stream_bisects_on_function_errors_and_sends_the_poison_record_to_the_destination(
    mini_stack: MiniStack,
) -> None:
    for member_id in ("before", "poison", "after"):
        mini_stack.put(member_id)
    recorder = Recorder(
        identify=member_id_of,
        fail=lambda record, _seen: member_id_of(record) == "poison",
        raise_on_failure=True,
    )
    pump = mini_stack.pump({"StreamFunction": recorder})

    assert pump.wait_idle(SETTLE_S).idle
    assert recorder.succeeded == ["before", "after"]
    # The whole batch fails; after `before` succeeds alone, `poison` gets 1 try + MaximumRetryAttempts (2).
    assert recorder.deliveries("poison") == 1 + 1 + 2
    sizes = [len(event["Records"]) for event in recorder.events]
    assert sizes[:3] == [3, 1, 2]  # halved after the first function error
    (failure,) = mini_stack.stream_failures()
    poison_sequence = next(
        record["dynamodb"]["SequenceNumber"]
        for event in recorder.events
        for record in event["Records"]
        if member_id_of(record) == "poison"
    )
    info = failure["DDBStreamBatchInfo"]
    assert (info["startSequenceNumber"], info["endSequenceNumber"], info["batchSize"]) == (
        poison_sequence,
        poison_sequence,
        1,
    )
    assert info["streamArn"] == mini_stack.stream_arn
    assert failure["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert failure["requestContext"]["functionArn"] == mini_stack.description.functions["StreamFunction"].arn
    assert failure["responseContext"]["functionError"] == "Unhandled"


def test_a_put_that_changes_nothing_is_not_delivered(mini_stack: MiniStack) -> None:
    mini_stack.put("same", name="x")
    mini_stack.put("same", name="x")
    mini_stack.put("same", name="y")
    recorder = Recorder(identify=member_id_of)
    pump = mini_stack.pump({"StreamFunction": recorder})

    assert pump.wait_idle(SETTLE_S).idle
    names = [record["eventName"] for event in recorder.events for record in event["Records"]]
    assert names == ["INSERT", "MODIFY"]
    assert pump.stats()["StreamFunction/Stream"]["noop_records_dropped"] == 1


def test_stream_records_have_the_shape_lambda_delivers(mini_stack: MiniStack) -> None:
    mini_stack.client("dynamodb").put_item(
        TableName=mini_stack.table_name,
        Item={"id": {"S": "shape"}, "blob": {"B": b"\x00\x01"}, "count": {"N": "3"}, "tags": {"SS": ["a"]}},
    )
    recorder = Recorder(identify=member_id_of)
    pump = mini_stack.pump({"StreamFunction": recorder})

    assert pump.wait_idle(SETTLE_S).idle
    (record,) = recorder.events[0]["Records"]
    assert set(record) == {
        "eventID",
        "eventName",
        "eventVersion",
        "eventSource",
        "awsRegion",
        "dynamodb",
        "eventSourceARN",
    }
    assert (record["eventSource"], record["eventName"], record["awsRegion"]) == (
        "aws:dynamodb",
        "INSERT",
        "us-east-1",
    )
    assert record["eventSourceARN"] == mini_stack.stream_arn
    dynamodb = record["dynamodb"]
    assert set(dynamodb) == {
        "ApproximateCreationDateTime",
        "Keys",
        "NewImage",
        "SequenceNumber",
        "SizeBytes",
        "StreamViewType",
    }
    assert isinstance(dynamodb["ApproximateCreationDateTime"], int)
    assert dynamodb["Keys"] == {"id": {"S": "shape"}}
    assert dynamodb["NewImage"]["blob"] == {"B": base64.b64encode(b"\x00\x01").decode()}
    assert dynamodb["NewImage"]["count"] == {"N": "3"}
    assert dynamodb["StreamViewType"] == "NEW_AND_OLD_IMAGES"
    context = recorder.contexts[0]
    assert context.function_name == mini_stack.description.functions["StreamFunction"].name
    assert 0 < recorder.remaining_ms[0] <= 5000  # as the handler saw it, within the mini template's 5 s


def test_sqs_records_have_the_shape_lambda_delivers(mini_stack: MiniStack) -> None:
    mini_stack.client("sqs").send_message(
        QueueUrl=mini_stack.queue_url("Queue"),
        MessageBody="plain",
        MessageAttributes={"reason": {"DataType": "String", "StringValue": "why"}},
    )
    mini_stack.send("OrderedQueue", "ordered", group="lane-1")
    plain, ordered = Recorder(identify=body_of), Recorder(identify=body_of)
    pump = mini_stack.pump({"QueueFunction": plain, "OrderedFunction": ordered})

    assert pump.wait_idle(SETTLE_S).idle
    (record,) = plain.events[0]["Records"]
    expected_keys = {"messageId", "receiptHandle", "body", "attributes", "messageAttributes", "md5OfBody"}
    expected_keys |= {"md5OfMessageAttributes", "eventSource", "eventSourceARN", "awsRegion"}
    assert set(record) == expected_keys
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"] == mini_stack.description.queues["Queue"].arn
    assert set(record["attributes"]) == {
        "ApproximateReceiveCount",
        "SentTimestamp",
        "SenderId",
        "ApproximateFirstReceiveTimestamp",
    }
    assert record["messageAttributes"] == {
        "reason": {"stringValue": "why", "stringListValues": [], "binaryListValues": [], "dataType": "String"}
    }
    (fifo_record,) = ordered.events[0]["Records"]
    attributes: dict[str, Any] = fifo_record["attributes"]
    assert attributes["MessageGroupId"] == "lane-1"
    assert attributes["MessageDeduplicationId"] == "ordered"
    assert attributes["SequenceNumber"].isdigit()


def test_an_invalid_partial_batch_response_fails_the_whole_batch(mini_stack: MiniStack) -> None:
    calls: list[list[str]] = []

    def handler(event: dict[str, Any], _context: Any) -> dict[str, Any]:
        calls.append([body_of(record) for record in event["Records"]])
        if len(calls) == 1:
            return {"batchItemFailures": [{"itemIdentifier": "not-in-this-batch"}]}
        return {"batchItemFailures": []}

    mini_stack.send("Queue", "only")
    pump = mini_stack.pump({"QueueFunction": handler})

    assert pump.wait_idle(SETTLE_S).idle
    assert calls == [["only"], ["only"]]


def test_drain_waits_for_a_message_in_its_visibility_timeout(mini_stack: MiniStack) -> None:
    sqs, queue_url = mini_stack.client("sqs"), mini_stack.queue_url("Queue")
    receipts: list[str] = []

    def fail_first_and_hold_it(record: dict[str, Any], seen: int) -> bool:
        """Fail the first delivery and keep it in flight for 5 minutes: decided inside the invocation,
        so the check below cannot race the queue's own 1 s visibility timeout."""
        if seen:
            return False
        receipts.append(record["receiptHandle"])
        sqs.change_message_visibility(
            QueueUrl=queue_url, ReceiptHandle=record["receiptHandle"], VisibilityTimeout=300
        )
        return True

    recorder = Recorder(identify=body_of, fail=fail_first_and_hold_it)
    mini_stack.send("Queue", "later")
    pump = mini_stack.pump({"QueueFunction": recorder})
    assert recorder.called.wait(SETTLE_S), "the function was never invoked"

    early = pump.idle_report(SETTLE_S)
    assert not early.idle
    assert "Queue: 0 waiting, 1 in flight, 0 delayed" in early.reasons
    # The visibility timeout ends (now, by hand): the message comes back and the drain sees it through.
    sqs.change_message_visibility(QueueUrl=queue_url, ReceiptHandle=receipts[0], VisibilityTimeout=0)
    assert pump.wait_idle(SETTLE_S).idle
    assert recorder.succeeded == ["later"]


def test_duplicate_delivery_fault_delivers_each_message_twice(mini_stack: MiniStack) -> None:
    recorder = Recorder(identify=body_of)
    for body in ("x", "y"):
        mini_stack.send("Queue", body)
    pump = mini_stack.pump(
        {"QueueFunction": recorder}, Faults(duplicate_delivery=1.0, functions=frozenset({"QueueFunction"}))
    )

    assert pump.wait_idle(SETTLE_S).idle
    assert (recorder.deliveries("x"), recorder.deliveries("y")) == (2, 2)
    assert mini_stack.receive_all("DeadLetters") == []


def test_crash_after_call_fault_redelivers_what_the_handler_already_did(mini_stack: MiniStack) -> None:
    recorder = Recorder(identify=body_of)
    mini_stack.send("Queue", "done-twice")
    pump = mini_stack.pump({"QueueFunction": recorder}, Faults(crash_after_call=1.0, seed=7))

    assert pump.wait_idle(SETTLE_S).idle
    assert recorder.succeeded == ["done-twice", "done-twice"]  # the handler ran; its answers were lost
    assert [message["Body"] for message in mini_stack.receive_all("DeadLetters")] == ["done-twice"]


def _pump_stuck_in_its_first_poll(mini_stack: MiniStack) -> tuple[Pump, Recorder, threading.Event]:
    """A pump whose function is inside its first invocation ("first") until the returned event is set."""
    invoked, release = threading.Event(), threading.Event()

    def block_the_first(record: dict[str, Any], _seen: int) -> bool:
        if body_of(record) == "first":
            invoked.set()
            assert release.wait(SETTLE_S), "never released"
        return False

    recorder = Recorder(identify=body_of, fail=block_the_first)
    mini_stack.send("Queue", "first")
    pump = mini_stack.pump({"QueueFunction": recorder})
    assert invoked.wait(SETTLE_S), "the function was never invoked"
    return pump, recorder, release


def test_a_hold_begun_during_a_poll_waits_for_it_and_then_nothing_polls(mini_stack: MiniStack) -> None:
    """A hold cannot slip between a poller's held check and its receive: what a test sends once
    `hold()` has returned stays in the queue until the hold ends."""
    pump, recorder, release = _pump_stuck_in_its_first_poll(mini_stack)
    holding = threading.Event()
    held_back: list[str] = []

    def hold_and_send() -> None:
        with pump.hold("QueueFunction"):
            holding.set()
            mini_stack.send("Queue", "while held")
            held_back.extend(message["Body"] for message in mini_stack.receive_all("Queue"))

    thread = threading.Thread(target=hold_and_send)
    thread.start()
    deadline = time.monotonic() + SETTLE_S
    while "QueueFunction" not in pump._held:  # the hold has begun and waits for the poll under way
        assert time.monotonic() < deadline, "the hold never began"
        time.sleep(0.01)
    assert not holding.is_set(), "the hold returned while a poll was still under way"
    release.set()
    thread.join(SETTLE_S)
    assert holding.is_set()
    assert held_back == ["while held"]
    assert "first" in recorder.succeeded


def test_a_hold_from_inside_its_own_poll_is_refused_at_once(mini_stack: MiniStack) -> None:
    """A hold asked for on the function's own poll would wait for itself (five minutes, then the function
    held for good): it is refused with a clear error instead, and the function goes on polling."""
    refusals: list[str] = []
    pump_box: list[Any] = []

    def hold_from_inside(record: dict[str, Any], _seen: int) -> bool:
        try:
            with pump_box[0].hold("QueueFunction"):
                refusals.append("held")
        except RuntimeError as error:
            refusals.append(str(error))
        return False

    recorder = Recorder(identify=body_of, fail=hold_from_inside)
    pump = mini_stack.pump({"QueueFunction": recorder})
    pump_box.append(pump)
    mini_stack.send("Queue", "inside")
    pump.wake()
    assert pump.wait_idle(SETTLE_S).idle
    assert refusals
    assert "would wait for itself" in refusals[0]
    mini_stack.send("Queue", "after")
    assert pump.wait_idle(SETTLE_S).idle
    assert "after" in recorder.succeeded


def test_a_hold_that_times_out_leaves_the_function_polling(
    mini_stack: MiniStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The hold's wait for a poll under way is bounded; when it gives up, the function is not left held."""
    monkeypatch.setattr(pump_module, "HOLD_WAIT_S", 0.1)  # the poll below is held until released
    pump, recorder, release = _pump_stuck_in_its_first_poll(mini_stack)
    with pytest.raises(TimeoutError), pump.hold("QueueFunction"):
        pass
    release.set()
    mini_stack.send("Queue", "after")
    pump.wake()
    assert pump.wait_idle(SETTLE_S).idle
    assert "after" in recorder.succeeded
