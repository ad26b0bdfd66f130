"""Settings every kind of test shares."""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path
from typing import Any

import coverage
import pytest
from botocore.loaders import JSONFileLoader
from hypothesis import HealthCheck, settings
from xdist.remote import Producer
from xdist.scheduler import LoadFileScheduling

TESTS = Path(__file__).parent

# botocore parses its endpoints file (1.2 MB of JSON) again for every new session, and pynamodb and boto3
# make a session per connection or per `boto3.session.Session()`: the tests make thousands, and that parsing
# was about a quarter of the CPU of the integration tests that drive a stack in process. The endpoints and
# partitions files are parsed once per test process instead; nothing writes to them. Service models are not
# shared: botocore and moto merge their "extras" into a model in place, and a model shared across sessions
# would give production's clients moto's additions. Child processes (moto server, the functions, the CLI
# run as a command) parse as they would in production.
_SHARED_DATA = frozenset({"endpoints", "partitions"})
_parse_json_file = JSONFileLoader.load_file


@cache
def _parsed_once(file_path: str) -> Any:
    return _parse_json_file(JSONFileLoader(), file_path)


def _load_json_file(loader: JSONFileLoader, file_path: str) -> Any:
    if Path(file_path).name in _SHARED_DATA:
        return _parsed_once(file_path)
    return _parse_json_file(loader, file_path)


JSONFileLoader.load_file = _load_json_file

# No example may fail for taking long: a busy 2-core machine is slower, not wrong. Hypothesis' default
# 200 ms deadline, and its 1 s budget for generating the first examples, would make the property tests
# depend on the machine's speed.
settings.register_profile(
    "cio-sync",
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    # The same examples on every run: `make test` must not turn red by chance. New histories are hunted on
    # purpose with `make hunt` (the "hunt" profile: a new seed each run), and each find becomes a named test.
    derandomize=True,
)
settings.register_profile(
    "hunt",
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
settings.load_profile(os.environ.get("CIO_SYNC_HYPOTHESIS_PROFILE", "cio-sync"))


# Which test files start first when make test runs them on two workers (`--dist loadfile
# --no-loadscope-reorder`: a file stays on one worker, so its module's stack starts once, and files are
# handed out in this order): the long ones (local stacks, the soak) first, so none is left running alone at
# the end, and the template checks last, as they wait for make test's background SAM checks.
FIRST = ("e2e", "integration/soak", "integration/pipeline", "integration/local")
LAST = ("infra",)


def _start_rank(parts: tuple[str, ...]) -> int:
    path = "/".join(parts)
    if path.startswith(FIRST):
        return 0
    return 2 if path.startswith(LAST) else 1


@pytest.hookimpl(tryfirst=True)  # after pytest-randomly's shuffle; the stable sort keeps its order
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: _start_rank(item.path.relative_to(TESTS).parts))


# Coverage is measured by the unit and in-process integration tests. The tests that run a whole local stack
# prove its wiring and run the same lines again through threads and child processes; tracing them cost
# about a fifth more of their CPU for no line the others leave unmeasured (92% of functions/ without them).
# The files of the generative tests (the state machine, the properties, the interleavings; their named replays
# beside them) run the same rules thousands of times: traced, they took 2.4 times as long (test_machine 38 s
# against 16 s) for 0.1 point of coverage (92.9% with them, 92.8% without).
UNMEASURED = (
    "e2e",
    "integration/soak",
    "integration/local",
    "integration/pipeline",
    "unit/stateful",
    "unit/pipeline/test_racing_writes.py",
    "unit/pipeline/test_model_write_races.py",
    "unit/members/test_rules_properties.py",
    "unit/sync/test_diff_properties.py",
)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> object:
    measuring = coverage.Coverage.current()
    if measuring is None or not "/".join(item.path.relative_to(TESTS).parts).startswith(UNMEASURED):
        return (yield)
    measuring.stop()
    try:
        return (yield)
    finally:
        measuring.start()


# tests/e2e shares one `cio-sync local up` (tests/e2e/conftest.py): its files go to one worker as one unit.
SHARED_STACK_PACKAGES = ("tests/e2e/",)


@pytest.hookimpl(optionalhook=True)  # an xdist hook: known only when xdist runs
def pytest_xdist_make_scheduler(config: pytest.Config, log: Producer) -> LoadFileScheduling | None:
    """`--dist loadfile`, except that each package in SHARED_STACK_PACKAGES is one unit of work."""
    if config.getoption("dist") != "loadfile":
        return None
    scheduling = LoadFileScheduling(config, log)
    by_file = scheduling._split_scope

    def split_scope(nodeid: str) -> str:
        shared = [package for package in SHARED_STACK_PACKAGES if nodeid.startswith(package)]
        return shared[0] if shared else str(by_file(nodeid))

    scheduling._split_scope = split_scope
    return scheduling
