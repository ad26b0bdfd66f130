"""Fixtures for the local stack's own tests: one moto server per session, small stacks from a mini template.

Pump semantics are tested with a SAM template of their own (short visibility timeouts, few retries),
deployed on moto's CloudFormation as the real one is, and fake handlers that record what they were given,
so the tests do not depend on the real functions.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from cio_sync_local.clients import LOCAL_ACCOUNT_ID, LOCAL_REGION, aws_client
from cio_sync_local.deploy import DeployOptions, deploy
from cio_sync_local.description import StackContext, StackDescription
from cio_sync_local.invoker import InProcessFunction
from cio_sync_local.moto_server import MotoServer
from cio_sync_local.pump import Faults, Pump

MINI_TEMPLATE = """
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Parameters:
  Prefix:
    Type: String
  StreamRetries:
    Type: Number
    Default: 2
Globals:
  Function:
    CodeUri: functions/
    Runtime: python3.13
    Timeout: 5
    MemorySize: 128
    Environment:
      Variables:
        TABLE_NAME: !Ref Table
Resources:
  Table:
    Type: AWS::DynamoDB::Table
    Properties:
      TableName: !Sub ${Prefix}-table
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions: [{AttributeName: id, AttributeType: S}]
      KeySchema: [{AttributeName: id, KeyType: HASH}]
      StreamSpecification: {StreamViewType: NEW_AND_OLD_IMAGES}
  Queue:
    Type: AWS::SQS::Queue
    Properties:
      QueueName: !Sub ${Prefix}-queue
      VisibilityTimeout: 1
      RedrivePolicy:
        deadLetterTargetArn: !GetAtt DeadLetters.Arn
        maxReceiveCount: 2
  DeadLetters:
    Type: AWS::SQS::Queue
    Properties:
      QueueName: !Sub ${Prefix}-dead-letters
  OrderedQueue:
    Type: AWS::SQS::Queue
    Properties:
      QueueName: !Sub ${Prefix}-ordered.fifo
      FifoQueue: true
      VisibilityTimeout: 1
      RedrivePolicy:
        deadLetterTargetArn: !GetAtt OrderedDeadLetters.Arn
        maxReceiveCount: 3
  OrderedDeadLetters:
    Type: AWS::SQS::Queue
    Properties:
      QueueName: !Sub ${Prefix}-ordered-dead-letters.fifo
      FifoQueue: true
  Failures:
    Type: AWS::SQS::Queue
    Properties:
      QueueName: !Sub ${Prefix}-stream-failures
  StreamFunction:
    Type: AWS::Serverless::Function
    Properties:
      Handler: fake.stream
      Events:
        Stream:
          Type: DynamoDB
          Properties:
            Stream: !GetAtt Table.StreamArn
            StartingPosition: TRIM_HORIZON
            BatchSize: 10
            FunctionResponseTypes: [ReportBatchItemFailures]
            BisectBatchOnFunctionError: true
            MaximumRetryAttempts: !Ref StreamRetries
            DestinationConfig:
              OnFailure:
                Type: SQS
                Destination: !GetAtt Failures.Arn
  QueueFunction:
    Type: AWS::Serverless::Function
    Properties:
      Handler: fake.queue
      Events:
        Messages:
          Type: SQS
          Properties:
            Queue: !GetAtt Queue.Arn
            BatchSize: 10
            FunctionResponseTypes: [ReportBatchItemFailures]
  OrderedFunction:
    Type: AWS::Serverless::Function
    Properties:
      Handler: fake.ordered
      Events:
        Messages:
          Type: SQS
          Properties:
            Queue: !GetAtt OrderedQueue.Arn
            BatchSize: 10
            FunctionResponseTypes: [ReportBatchItemFailures]
"""

Decide = Callable[[dict[str, Any], int], bool]
"""(record, how many times this record was delivered before) -> should it fail?"""


@dataclass
class Recorder:
    """A fake handler: records every event and context, fails the records `fail` picks."""

    identify: Callable[[dict[str, Any]], str]
    fail: Decide = lambda _record, _seen: False
    raise_on_failure: bool = False
    events: list[dict[str, Any]] = field(default_factory=list)
    contexts: list[Any] = field(default_factory=list)
    succeeded: list[str] = field(default_factory=list)
    seen: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    # Set on every invocation: tests wait on the event itself, not on time.
    called: threading.Event = field(default_factory=threading.Event)
    # What the context said at call time (remaining milliseconds), one per invocation.
    remaining_ms: list[int] = field(default_factory=list)

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        with self.lock:
            self.events.append(event)
            self.contexts.append(context)
            self.remaining_ms.append(int(context.get_remaining_time_in_millis()))
            failures: list[str] = []
            failed_groups: set[str] = set()
            for record in event["Records"]:
                key = self.identify(record)
                seen = self.seen.get(key, 0)
                self.seen[key] = seen + 1
                group = self.fifo_group(record)
                if group is not None and group in failed_groups:  # FIFO: nothing after a failure in its group
                    failures.append(self.item_identifier(record))
                elif self.fail(record, seen):
                    failures.append(self.item_identifier(record))
                    if group is not None:
                        failed_groups.add(group)
            if failures and self.raise_on_failure:
                self.called.set()
                raise RuntimeError("fake handler failure")
            self.succeeded.extend(
                self.identify(record)
                for record in event["Records"]
                if self.item_identifier(record) not in failures
            )
            self.called.set()
            return {"batchItemFailures": [{"itemIdentifier": identifier} for identifier in failures]}

    @staticmethod
    def item_identifier(record: Mapping[str, Any]) -> str:
        if record["eventSource"] == "aws:sqs":
            return str(record["messageId"])
        return str(record["dynamodb"]["SequenceNumber"])

    @staticmethod
    def fifo_group(record: Mapping[str, Any]) -> str | None:
        group = (record.get("attributes") or {}).get("MessageGroupId")
        return str(group) if group is not None else None

    def deliveries(self, key: str) -> int:
        return self.seen.get(key, 0)


def body_of(record: Mapping[str, Any]) -> str:
    return str(record["body"])


def member_id_of(record: Mapping[str, Any]) -> str:
    return str(record["dynamodb"]["Keys"]["id"]["S"])


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    with MotoServer() as server:
        yield server


@dataclass
class MiniStack:
    description: StackDescription
    pumps: list[Pump] = field(default_factory=list)

    @property
    def stream_arn(self) -> str:
        arn = self.description.tables["Table"].stream_arn
        assert arn is not None
        return arn

    def client(self, service: str) -> Any:
        return aws_client(service, self.description.context)

    def queue_url(self, logical_id: str) -> str:
        return self.description.queues[logical_id].url

    @property
    def table_name(self) -> str:
        return self.description.tables["Table"].name

    def pump(self, handlers: Mapping[str, Any], faults: Faults | None = None) -> Pump:
        """A running pump over this stack; mappings without a handler here get one that accepts everything."""
        everything = {name: Recorder(identify=lambda _record: "") for name in self.description.functions}
        region = self.description.context.region
        invokers = {
            name: InProcessFunction(self.description.functions[name], region, handler)
            for name, handler in {**everything, **handlers}.items()
        }
        pump = Pump(self.description, invokers, faults).start()
        self.pumps.append(pump)
        return pump

    def send(self, logical_id: str, body: str, group: str | None = None) -> None:
        request: dict[str, Any] = {"QueueUrl": self.queue_url(logical_id), "MessageBody": body}
        if group is not None:
            request.update(MessageGroupId=group, MessageDeduplicationId=body)
        self.client("sqs").send_message(**request)

    def receive_all(self, logical_id: str) -> list[dict[str, Any]]:
        response = self.client("sqs").receive_message(
            QueueUrl=self.queue_url(logical_id), MaxNumberOfMessages=10, WaitTimeSeconds=0
        )
        messages: list[dict[str, Any]] = response.get("Messages", [])
        return messages

    def put(self, member_id: str, **attributes: Any) -> None:
        item = {"id": {"S": member_id}, **{name: {"S": str(value)} for name, value in attributes.items()}}
        self.client("dynamodb").put_item(TableName=self.table_name, Item=item)

    def stream_failures(self) -> list[dict[str, Any]]:
        return [json.loads(message["Body"]) for message in self.receive_all("Failures")]


def deploy_text(
    moto_server: MotoServer, template: str, tmp_path: Path, **parameters: str
) -> StackDescription:
    """Deploy a SAM template given as text, as a stack of its own (named after a fresh prefix)."""
    prefix = f"t{uuid.uuid4().hex[:10]}"
    path = tmp_path / f"{prefix}.yaml"
    path.write_text(template, encoding="utf-8")
    context = StackContext(moto_server.endpoint, LOCAL_REGION, LOCAL_ACCOUNT_ID, prefix)
    return deploy(context, path, DeployOptions(parameters={"Prefix": prefix, **parameters}))


@pytest.fixture
def mini_stack(moto_server: MotoServer, tmp_path: Path) -> Iterator[MiniStack]:
    """The mini template deployed under a fresh prefix; its pumps are stopped after the test."""
    stack = MiniStack(deploy_text(moto_server, MINI_TEMPLATE, tmp_path))
    yield stack
    for pump in stack.pumps:
        pump.stop()
