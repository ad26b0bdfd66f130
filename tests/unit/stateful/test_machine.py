"""The state machine over every writer (tests/unit/stateful/machine.py), in the unit suite.

`CIO_SYNC_STATEFUL_EXAMPLES` runs it longer (docs/benchmarks.md has both runs' cost: the default, with the
mutation table, about 20 s of CPU).
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

from .machine import PipelineMachine

EXAMPLES = int(os.environ.get("CIO_SYNC_STATEFUL_EXAMPLES", "400"))

TestPipeline = PipelineMachine.TestCase
TestPipeline.settings = settings(
    max_examples=EXAMPLES,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
