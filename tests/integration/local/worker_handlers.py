"""Handlers the worker tests run in real worker processes (imported there by their dotted path)."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import ClientError

RENDEZVOUS_S = 120.0


def echo(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Who ran this, with which environment and how much time left."""
    print(f"echo {event.get('say', '')}", flush=True)
    return {
        "pid": os.getpid(),
        "environment": {name: os.environ.get(name) for name in event.get("names", [])},
        "function_name": context.function_name,
        "remaining_ms": context.get_remaining_time_in_millis(),
        "event": event,
    }


def stall(event: dict[str, Any], _context: Any) -> None:
    """Says it started, then waits for ever: only the timeout ends it."""
    Path(event["started"]).write_text(str(os.getpid()), encoding="utf-8")
    threading.Event().wait()


def crash(_event: dict[str, Any], _context: Any) -> None:
    os._exit(3)


def fail(_event: dict[str, Any], _context: Any) -> None:
    raise ValueError("the handler failed on purpose")


def rendezvous(event: dict[str, Any], _context: Any) -> dict[str, Any]:
    """Returns only once the other invocation has started too: proof that both run at once."""
    folder = Path(event["folder"])
    (folder / event["me"]).write_text(str(os.getpid()), encoding="utf-8")
    deadline = time.monotonic() + RENDEZVOUS_S
    while not (folder / event["other"]).exists():
        if time.monotonic() > deadline:
            raise TimeoutError("the other invocation never started")
        time.sleep(0.01)
    return {"pid": os.getpid()}


def send(event: dict[str, Any], _context: Any) -> dict[str, Any]:
    """Sends one message to each queue URL given; answers what each send gave (ok or the error code)."""
    sqs = boto3.client("sqs")
    answers: dict[str, str] = {}
    for url in event["queues"]:
        try:
            sqs.send_message(QueueUrl=url, MessageBody="hello")
            answers[url] = "ok"
        except ClientError as error:
            answers[url] = f"{error.response['Error']['Code']}: {error.response['Error']['Message']}"
    return answers
