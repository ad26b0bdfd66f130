"""Settings every kind of test shares."""

from __future__ import annotations

from hypothesis import HealthCheck, settings

# No example may fail for taking long: a busy 2-core machine is slower, not wrong. Hypothesis' default
# 200 ms deadline, and its 1 s budget for generating the first examples, would make the property tests
# depend on the machine's speed.
settings.register_profile(
    "cio-sync",
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
settings.load_profile("cio-sync")
