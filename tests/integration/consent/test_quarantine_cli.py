"""`cio-sync consent quarantine`: parked events replayed into their lanes (and applied even while the
window is still set), or discarded; nothing else touched; without a terminal only with --yes. In-process
moto SQS."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from cio_sync.adapters.sqs import QueueDeadLetters
from cio_sync.customerio.reporting import ReportingEvent, event_from_message
from cio_sync.pipeline.consent import ConsentPolicy, quarantined_by
from cio_sync.pipeline.messages import TRACK_LANES, lane_of
from cio_sync_cli.consent_cli import Quarantine
from cio_sync_cli.main import main
from cio_sync_cli.stack_file import STACK_FILE_VARIABLE
from cio_sync_cli.target import STACK_VARIABLE
from tests.integration.offline_aws import offline_aws

pytestmark = pytest.mark.integration

MEMBERS = [f"{n:024x}" for n in range(1, 26)]


@pytest.fixture
def sqs(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    with offline_aws(monkeypatch):
        yield boto3.client("sqs")


def _queues(sqs: object) -> tuple[str, str]:
    client = boto3.client("sqs")
    fifo = {"FifoQueue": "true"}
    quarantine = client.create_queue(QueueName="quarantine.fifo", Attributes=fifo)["QueueUrl"]
    consent = client.create_queue(QueueName="consent.fifo", Attributes=fifo)["QueueUrl"]
    parking = QueueDeadLetters(client, quarantine)
    for n, member in enumerate(MEMBERS):  # 25: more than one receive's worth, all in one parking group
        event = ReportingEvent(f"ev-{n}", "customer", "unsubscribed", 1_000 + n, member, received_at=2_000)
        parking.dead_letter(event.to_message(), "received in the quarantine window")
    return quarantine, consent


def _drain(url: str) -> list[dict[str, object]]:
    client, found = boto3.client("sqs"), []
    while batch := client.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"]).get(
        "Messages"
    ):
        for message in batch:
            client.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        found += batch
    return found


def test_replay_sends_every_event_back_to_its_lane_past_the_window(sqs: object) -> None:
    quarantine_url, consent_url = _queues(sqs)
    queue = Quarantine(boto3.client("sqs"), quarantine_url, consent_url)
    assert queue.visible() == 25
    assert queue.kinds() == {"customer_unsubscribed": 10}
    assert queue.replay(queue.visible()) == 25
    replayed = _drain(consent_url)
    events = [event_from_message(str(message["Body"])) for message in replayed]
    assert sorted(event.customer_id for event in events) == MEMBERS
    for message, event in zip(replayed, events, strict=True):
        assert message["Attributes"]["MessageGroupId"] == lane_of(event.customer_id, TRACK_LANES)  # type: ignore[index]
        # The window is still set: a replayed event is applied, not parked again.
        assert quarantined_by(ConsentPolicy({}, False, (0, 10_000), "p"), event) is False
        assert quarantined_by(ConsentPolicy({}, False, (0, 10_000), "p"), event._replace(replayed=False))
    assert _drain(quarantine_url) == []


def test_discard_deletes_them_and_sends_nothing(sqs: object) -> None:
    quarantine_url, consent_url = _queues(sqs)
    queue = Quarantine(boto3.client("sqs"), quarantine_url, consent_url)
    assert queue.discard(queue.visible()) == 25
    assert _drain(quarantine_url) == []
    assert _drain(consent_url) == []


def test_the_command_asks_first_and_without_a_terminal_needs_yes(
    sqs: object, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    quarantine_url, consent_url = _queues(sqs)
    for name in (STACK_FILE_VARIABLE, STACK_VARIABLE):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no local stack file above: the environment is the target
    monkeypatch.setenv("CONSENT_QUARANTINE_QUEUE_URL", quarantine_url)
    monkeypatch.setenv("CONSENT_QUEUE_URL", consent_url)
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    assert main(["consent", "quarantine", "discard"]) == 1  # was a traceback (input() on no terminal)
    assert "pass --yes" in capsys.readouterr().err
    assert Quarantine(boto3.client("sqs"), quarantine_url, consent_url).visible() == 25
    assert main(["consent", "quarantine", "list", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["kinds"] == {"customer_unsubscribed": 10}
    assert main(["--json", "consent", "quarantine", "discard", "--yes"]) == 0
    assert json.loads(capsys.readouterr().out) == {"action": "discard", "done": 25, "visible": 25}
    assert _drain(quarantine_url) == []
