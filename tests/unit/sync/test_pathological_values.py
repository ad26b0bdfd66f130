"""Issue 21, "quadratic payload": building a payload is linear and bounded, whatever a writer stores.

Each value is 300 KB (DynamoDB items hold 400 KB) shaped to defeat a parser: an unterminated-tag regex
took 11.8 s on a 64 KB `"<a" * 32000` and hours on these. The bound is generous (60 s for work that takes
milliseconds): it says "finishes", not "is fast"; speed belongs in `make bench`.
"""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest

from cio_sync.handlers import member_stream
from cio_sync.handlers.member_stream_runtime import MemberStreamRuntime
from cio_sync.members.profile import MAX_VALUE_BYTES
from cio_sync.pipeline.desired_profiles import desired_profiles
from cio_sync.sync.diff import diff
from cio_sync_local.member_factory import MEMBER_ID, member
from tests.unit.pipeline.fakes import FakePending, FakePublisher, FakeWriter, stream_record

SIZE = 300_000
GENEROUS_S = 60.0

PATHOLOGICAL: dict[str, Any] = {
    "first_name": "<a" * (SIZE // 2) + ">",
    "last_name": "<!--" + "-" * SIZE,
    "addr_city": '<a "' * (SIZE // 4),
    "addr_state": "<" * SIZE,
    "addr_zip": "<a '" + "<b " * (SIZE // 3),
    "email": "a" * SIZE,
    "source_detail": "x<" * (SIZE // 2),
    "mobile": "+1" * (SIZE // 2),
    "birthdate": "1" * SIZE,
    "created_at": "2026-" * (SIZE // 5),
    "updated_at": "2026-11-26T16:37:55" + "9" * SIZE,
    "email_subscription_topics": ["news" * (SIZE // 4)],
    "sms_subscription_topics": ["general", *(["voting"] * (SIZE // 10))],
}


def build_every_payload() -> None:
    """The work, run in a child process: each value alone (so each parser meets its own), then all."""
    for field, value in [*PATHOLOGICAL.items(), ("*", None)]:
        old = member()
        new = member(**PATHOLOGICAL) if field == "*" else member(**{field: value})
        intents = diff(old, new, "evt-1", 1_790_000_000_000) + diff(new, old, "evt-2", 1_790_000_000_000)
        assert all(intent.member_id == MEMBER_ID for intent in intents)
        # The real stream handler, as a raw write of the value would reach it.
        publisher = FakePublisher()
        deps = MemberStreamRuntime(FakeWriter(), FakePending(), publisher, volatile_window_s=0)
        response = member_stream.handle({"Records": [stream_record(old, new)]}, None, deps)
        assert response == {"batchItemFailures": []}
        assert publisher.parked == [] or field == "*" or field.endswith("_topics")  # topics: a rule input
        desired, problems = desired_profiles([MEMBER_ID], {MEMBER_ID: new})
        payload = desired[MEMBER_ID]
        assert problems == {}
        assert payload is not None
        assert payload["unsubscribed"] is False, field  # consent goes whatever the other attributes hold
        assert all(not isinstance(v, str) or len(v.encode()) <= MAX_VALUE_BYTES for v in payload.values())


def test_pathological_values_go_through_the_diff_and_the_track_path_in_bounded_time() -> None:
    """A child process, because a runaway C regex holds the GIL: no thread or alarm here could stop it."""
    child = [sys.executable, "-c", f"import {__name__} as t; t.build_every_payload()"]
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    try:
        finished = subprocess.run(
            child, env=environment, capture_output=True, timeout=GENEROUS_S, check=False
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"payload building did not finish in {GENEROUS_S} s: it is not linear in the value")
    assert finished.returncode == 0, finished.stderr.decode()[-2000:]
