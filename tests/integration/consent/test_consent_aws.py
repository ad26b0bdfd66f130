"""The receiver and the consent function on in-process moto: the real adapters (signing-key secret, FIFO
consent queue, the member table through pynamodb), a small burst through real SQS FIFO attributes, and
redelivery. Issue 22's 10,000-webhook burst runs in process (tests/unit/consent/test_webhook_burst.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from cio_sync.adapters.aws import aws_client
from cio_sync.adapters.consent_queue import SqsConsentQueue
from cio_sync.adapters.consent_writes import ConsentWrites
from cio_sync.adapters.signing_key import SecretSigningKey
from cio_sync.adapters.sqs import QueueDeadLetters
from cio_sync.customerio.reporting import centre_topic_names, event_from_message, parse_topic_map
from cio_sync.handlers import consent, reporting_webhook
from cio_sync.handlers.consent_runtime import ConsentRuntime
from cio_sync.handlers.reporting_webhook_runtime import ReportingWebhookRuntime
from cio_sync.observability import metrics
from cio_sync.pipeline.consent import ConsentPolicy
from cio_sync.pipeline.messages import TRACK_LANES, lane_of
from tests.integration.offline_aws import offline_aws
from tests.unit.consent.signing import KEY, MEMBER, NOW, url_event, webhook_body
from tests.unit.consent.test_consent import event

pytestmark = pytest.mark.integration

TABLE = "consent-members"
SECRET = "cio-sync/reporting-webhook-test"
UPDATED = "2026-11-01T00:00:00.000000Z"
# Enough for the wiring (every member's lane, moto's FIFO queue taking the adapter's group and
# deduplication ids): what a bigger burst would add here is moto's time, ~15 ms a FIFO send.
BURST = 100


class Aws:
    def __init__(self) -> None:
        self.sqs = boto3.client("sqs")
        self.dynamodb = boto3.client("dynamodb")
        fifo = {
            "FifoQueue": "true",
            "DeduplicationScope": "messageGroup",
            "FifoThroughputLimit": "perMessageGroupId",
        }
        self.queue = self.sqs.create_queue(QueueName="consent.fifo", Attributes=fifo)["QueueUrl"]
        self.dlq = self.sqs.create_queue(QueueName="consent-dlq.fifo", Attributes={"FifoQueue": "true"})[
            "QueueUrl"
        ]
        self.quarantine = self.sqs.create_queue(
            QueueName="consent-quarantine.fifo", Attributes={"FifoQueue": "true"}
        )["QueueUrl"]
        self.dynamodb.create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        boto3.client("secretsmanager").create_secret(
            Name=SECRET, SecretString=json.dumps({"signing_key": KEY.decode()})
        )
        self.receiver = ReportingWebhookRuntime(
            SecretSigningKey(SECRET, lambda: aws_client("secretsmanager")),
            SqsConsentQueue(aws_client("sqs"), self.queue),
        )
        sqs = aws_client("sqs")
        self.consent = ConsentRuntime(
            ConsentWrites(TABLE, "us-east-1"),
            QueueDeadLetters(sqs, self.dlq),
            QueueDeadLetters(sqs, self.quarantine),
            ConsentPolicy(
                centre_topic_names(parse_topic_map("news=1,lifestyle=2")), False, None, "placeholder"
            ),
        )

    def put_member(self, **attributes: Any) -> None:
        item = {"id": MEMBER, "updated_at": UPDATED, "email": "someone@example.org", **attributes}
        self.dynamodb.put_item(TableName=TABLE, Item={k: _typed(v) for k, v in item.items()})

    def member(self) -> dict[str, Any]:
        item = self.dynamodb.get_item(TableName=TABLE, Key={"id": {"S": MEMBER}}, ConsistentRead=True).get(
            "Item"
        )
        return {} if item is None else {name: next(iter(value.values())) for name, value in item.items()}

    def drain(self) -> list[dict[str, Any]]:
        """Every message on the consent queue, as SQS records (deleted as they are read)."""
        records: list[dict[str, Any]] = []
        while True:
            answer = self.sqs.receive_message(
                QueueUrl=self.queue, MaxNumberOfMessages=10, AttributeNames=["All"]
            )
            messages = answer.get("Messages") or []
            if not messages:
                return records
            self.sqs.delete_message_batch(
                QueueUrl=self.queue,
                Entries=[{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(messages)],
            )
            records += [
                {"messageId": m["MessageId"], "body": m["Body"], "attributes": m["Attributes"]}
                for m in messages
            ]


def _typed(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, list):
        return {"L": [{"S": v} for v in value]}
    return {"S": value}


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Aws]:
    metrics.clear_metrics()
    with offline_aws(monkeypatch):
        yield Aws()
    metrics.clear_metrics()


def receive(aws: Aws, body: bytes, **options: Any) -> int:
    answer = reporting_webhook.handle(
        url_event(body, **options), None, aws.receiver._replace(clock=lambda: NOW)
    )
    return int(answer["statusCode"])


def test_a_burst_of_webhooks_is_each_answered_and_queued_once_in_its_members_lane(aws: Aws) -> None:
    """Two events a member, drained as it fills, as the consent function would (moto's FIFO queue slows as
    it grows)."""
    members = [f"{n:024x}" for n in range(1, BURST // 2 + 1)]
    sent, records = {}, []
    for n in range(BURST):
        event_id = f"01JBURST{n:018d}"
        sent[event_id] = members[n % len(members)]
        body = webhook_body("email", "unsubscribed", event_id=event_id, customer_id=sent[event_id])
        assert receive(aws, body) == 202, n
        if n % 10 == 9:
            records += aws.drain()
            metrics.clear_metrics()
    records += aws.drain()
    queued = {event_from_message(r["body"]).event_id: r["attributes"]["MessageGroupId"] for r in records}
    assert len(records) == BURST
    assert queued == {event_id: lane_of(member, TRACK_LANES) for event_id, member in sent.items()}


def test_a_webhook_sent_again_is_queued_once(aws: Aws) -> None:
    body = webhook_body()
    assert receive(aws, body) == 202
    assert receive(aws, body, timestamp=NOW + 30) == 202  # Customer.io's retry: a new signature, same event
    assert len(aws.drain()) == 1


def test_a_refused_webhook_leaves_the_queue_empty(aws: Aws) -> None:
    assert receive(aws, webhook_body(), signature="0" * 64) == 401
    assert aws.drain() == []


def test_an_unsubscribe_reaches_the_member_through_queue_and_table(aws: Aws) -> None:
    aws.put_member(email_subscription_status=True, email_subscription_topics=["news"])
    assert receive(aws, webhook_body("customer", "unsubscribed")) == 202
    records = aws.drain()
    assert consent.handle({"Records": records}, None, aws.consent) == {"batchItemFailures": []}
    member = aws.member()
    assert member["email_subscription_status"] is False
    assert member["updated_at"] > UPDATED
    assert member["email"] == "someone@example.org"  # other attributes untouched
    # Delivered again: nothing more to write.
    assert consent.handle({"Records": records}, None, aws.consent) == {"batchItemFailures": []}
    assert aws.member()["updated_at"] == member["updated_at"]


def test_preferences_and_bounces_are_written_and_no_member_is_ever_created(aws: Aws) -> None:
    aws.put_member(email_subscription_status=True, email_subscription_topics=["news"])
    content = json.dumps({"topics": {"topic_1": False, "topic_2": True}})
    assert (
        receive(aws, webhook_body("customer", "cio_subscription_preferences_changed", content=content)) == 202
    )
    assert receive(aws, webhook_body("email", "bounced", event_id="01JBOUNCE")) == 202
    other = "0123456789abcdef01234567"
    assert receive(aws, webhook_body("email", "spammed", event_id="01JSPAM", customer_id=other)) == 202
    consent.handle({"Records": aws.drain()}, None, aws.consent)
    member = aws.member()
    assert [topic["S"] for topic in member["email_subscription_topics"]] == ["lifestyle"]
    assert member["email_bounced_at"].startswith("2026-")
    assert "Item" not in aws.dynamodb.get_item(TableName=TABLE, Key={"id": {"S": other}})


def test_a_write_over_a_changed_item_is_refused() -> None:
    with mock_aws():
        boto3.client("dynamodb", region_name="us-east-1").create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        writes = ConsentWrites(TABLE, "us-east-1")
        assert (
            writes.write(MEMBER, None, {"email_subscription_status": False}) is False
        )  # no item: not created
        assert writes.read(MEMBER) is None


def test_a_legacy_topic_on_the_member_parks_its_event_and_does_not_fail_the_batch(aws: Aws) -> None:
    """Review of issue 22, F7: the write's contract check raised InvalidMember out of the handler, so every
    lane's events in the batch were retried, then dead-lettered without a reason."""
    aws.put_member(email_subscription_status=True, email_subscription_topics=["news", "old-newsletter"])
    body = event("customer", "cio_subscription_preferences_changed", topics={"topic_2": True})
    record = {"messageId": "m0", "body": body, "attributes": {"MessageGroupId": "lane-000"}}
    assert consent.handle({"Records": [record]}, None, aws.consent) == {"batchItemFailures": []}
    parked = aws.sqs.receive_message(QueueUrl=aws.dlq, MessageAttributeNames=["All"])["Messages"]
    assert [message["Body"] for message in parked] == [body]
    reason = parked[0]["MessageAttributes"]["failure_reason"]["StringValue"]
    assert "email_subscription_topics" in reason
    assert "old-newsletter" not in reason
    assert aws.member()["email_subscription_topics"] == [{"S": "news"}, {"S": "old-newsletter"}]
