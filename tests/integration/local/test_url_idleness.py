"""An invocation through a function URL is one the idle check counts, as the pump's own are: what it sends
may land after every queue was read."""

from __future__ import annotations

import threading
from typing import Any

import pytest
import requests

from cio_sync_local.function_urls import FunctionUrlServer
from cio_sync_local.idleness import Idleness
from cio_sync_local.invoker import InvocationResult

pytestmark = pytest.mark.integration

SETTLE_S = 30.0


class Blocking:
    """An invoker that waits for the test to let it answer."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()

    def invoke(self, event: dict[str, Any], *, lose_answer: bool = False) -> InvocationResult:
        self.entered.set()
        assert self.release.wait(SETTLE_S)
        return InvocationResult(response={"statusCode": 200, "body": "ok"})

    def stop(self) -> None:
        self.release.set()


def test_an_invocation_under_way_through_a_function_url_keeps_the_pipeline_busy() -> None:
    idleness = Idleness(
        watched=[],
        streams=[],
        queues=lambda _first: [],
        held=list,
        wake_streams=lambda: None,
        run_once=lambda: 0,
    )
    idleness.running = True
    invoker = Blocking()
    server = FunctionUrlServer(invoker, around=idleness.invoking).start()
    answers: list[int] = []
    request = threading.Thread(
        target=lambda: answers.append(requests.post(server.url, data="{}", timeout=SETTLE_S).status_code)
    )
    try:
        request.start()
        assert invoker.entered.wait(SETTLE_S)
        report = idleness.idle_report(SETTLE_S)
        assert report.reasons == ("1 invocation(s) under way",)
        invoker.release.set()
        request.join(SETTLE_S)
        assert answers == [200]
        assert idleness.idle_report(SETTLE_S).idle
    finally:
        invoker.release.set()
        server.stop()
