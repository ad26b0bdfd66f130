"""A burst of reporting webhooks on the local stack's function URL: every one is answered 2xx and reaches
the consent queue (counted by a consent function standing in for the real one; SQS delivers at least
once, so an event may be counted twice, never missing). It proves the wiring on the wire: the function
URL, the signature over HTTP, the receiver's environments, moto server's SQS FIFO queue. Issue 22's
10,000-webhook burst, with the real consent function draining it, runs in process in make test
(tests/unit/consent/test_webhook_burst.py), where it measures cio-sync and not moto.

Calls go as Customer.io sends them: signed, several at a time, each with Customer.io's 4 s timeout, and a
call that times out or gets a 5xx is sent again (so a slow machine makes retries, never a loss). How long
answers take is `make bench`'s to gate, not this test's; the count of timed-out calls is reported.
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from cio_sync_local.emulator.webhooks import TIMEOUT_S, signature
from cio_sync_local.stack import REPORTING_WEBHOOK_FUNCTION, REPORTING_WEBHOOK_SIGNING_KEY, LocalStack
from cio_sync_local.workers import WorkerPool

pytestmark = pytest.mark.integration

# make test runs 200: enough for several senders to overlap on the URL. `CIO_SYNC_WEBHOOK_BURST=10000
# pytest <this file>` runs 10,000 here by hand (~5 min of a 2-core machine, over make test's budget):
# each webhook costs ~30 ms of CPU, half of it in the moto server, one process (~15 ms a FIFO send).
BURST = int(os.environ.get("CIO_SYNC_WEBHOOK_BURST", "200"))
SENDERS = 4
ATTEMPTS = 30  # Customer.io keeps trying for 7 days; a loaded machine may take more than 4 s now and then
DRAIN_S = 600.0


class ConsentCounter:
    """Stands in for the consent function: records the event id of every message it is given."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.event_ids: list[str] = []

    def __call__(self, event: dict[str, Any], _context: Any) -> dict[str, Any]:
        ids = [json.loads(record["body"])["event_id"] for record in event["Records"]]
        with self.lock:
            self.event_ids.extend(ids)
        return {"batchItemFailures": []}


@pytest.fixture(scope="module")
def counted() -> Iterator[tuple[LocalStack, ConsentCounter]]:
    counter = ConsentCounter()
    with LocalStack(
        aws_port=0, cio_port=0, time_scale=0.01, enforce_roles=True, handlers={"ConsentFunction": counter}
    ) as stack:
        receiver = stack.invokers[REPORTING_WEBHOOK_FUNCTION]
        assert isinstance(receiver, WorkerPool)
        # Every environment the URL may use warm before the burst (Lambda's provisioned concurrency): a
        # cold start here takes longer than Customer.io's 4 s on a busy machine, and would be retried.
        assert receiver.provision(receiver.size) == receiver.size
        yield stack, counter


def _body(event_id: str) -> bytes:
    document = {
        "event_id": event_id,
        "object_type": "customer",
        "metric": "unsubscribed",
        "timestamp": int(time.time()),
        "data": {"customer_id": uuid.uuid4().hex[:24], "identifiers": {}},
    }
    return json.dumps(document).encode()


@pytest.mark.timeout(1800)
def test_a_burst_of_webhooks_is_answered_and_nothing_is_lost(
    counted: tuple[LocalStack, ConsentCounter],
) -> None:
    stack, counter = counted
    url = stack.reporting_webhook_url
    assert url is not None
    key = REPORTING_WEBHOOK_SIGNING_KEY.encode()
    local = threading.local()
    timeouts: list[str] = []

    def send(event_id: str) -> int:
        session = getattr(local, "session", None)
        if session is None:
            session = local.session = requests.Session()
            session.trust_env = False  # Customer.io reads no proxy settings: not a scan of os.environ a call
        body = _body(event_id)
        for _ in range(ATTEMPTS):
            stamp = str(int(time.time()))
            headers = {"X-CIO-Timestamp": stamp, "X-CIO-Signature": signature(key, stamp, body)}
            try:
                status = session.post(url, data=body, headers=headers, timeout=TIMEOUT_S).status_code
            except requests.Timeout:
                timeouts.append(event_id)
                continue
            if status < 500:  # Customer.io sends a 5xx again too
                return status
        return 0

    sent = [f"burst-{index:05d}-{uuid.uuid4().hex[:8]}" for index in range(BURST)]
    with ThreadPoolExecutor(SENDERS) as pool:
        statuses = list(pool.map(send, sent))
    stack.drain(DRAIN_S)

    assert [status for status in statuses if status != 202] == [], f"{len(timeouts)} calls timed out"
    print(f"burst of {BURST}: {len(timeouts)} calls timed out and were sent again")
    with counter.lock:
        received = list(counter.event_ids)
    assert set(received) == set(sent)
