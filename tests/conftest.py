"""Settings every kind of test shares."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

TESTS = Path(__file__).parent

# No example may fail for taking long: a busy 2-core machine is slower, not wrong. Hypothesis' default
# 200 ms deadline, and its 1 s budget for generating the first examples, would make the property tests
# depend on the machine's speed.
settings.register_profile(
    "cio-sync",
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
settings.load_profile("cio-sync")


# Which tests start first (a stable sort after pytest-randomly's shuffle; make test passes
# --no-loadscope-reorder so that xdist hands out files in this order): the long ones (local stacks, the
# soak) first, so none is left running alone at the end, and the template checks last, as they wait for
# make test's background SAM checks.
FIRST = ("e2e", "integration/soak", "integration/pipeline", "integration/local")
LAST = ("infra",)


def _start_rank(parts: tuple[str, ...]) -> int:
    path = "/".join(parts)
    if path.startswith(FIRST):
        return 0
    return 2 if path.startswith(LAST) else 1


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Groups for `--dist loadgroup` (make test runs on two workers): each test file stays on one worker,
    so a module's stack or a session's emulator starts once per file, not once per test; the template
    checks share one worker, as their make targets write the same files under .aws-sam."""
    for item in items:
        parts = item.path.relative_to(TESTS).parts
        group = parts[0] if parts[0] == "infra" else "/".join(parts)
        item.add_marker(pytest.mark.xdist_group(group))
    items.sort(key=lambda item: _start_rank(item.path.relative_to(TESTS).parts))
