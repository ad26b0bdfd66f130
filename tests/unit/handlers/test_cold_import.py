"""The cold-import budget of every handler, in `make test`: import no more than the function uses.

Machine-independent checks (which modules load) plus one timing check that cannot flake on a busy
machine: the handler's import time over boto3's, both measured in the same interpreter, the least of three,
against the budget with a margin (cio_sync_local.bench.cold_import says why; `make bench` reports the
whole-process figure).
"""

from __future__ import annotations

from functools import cache

import pytest

from cio_sync_local.bench.cold_import import (
    BUDGET_RATIO,
    HANDLERS,
    handler_module,
    imported_modules,
    least_paired_ratio,
)

# Nothing any handler needs: the X-Ray SDK (Lambda's active tracing traces without it), requests (the
# Customer.io clients use urllib3, which botocore loads anyway), Powertools' batch package and event
# classes (asyncio and ~35 modules; handlers/sqs_batch.py does the loop), pydantic, the operator CLI and
# the local stack.
NEVER = ("aws_xray_sdk", "requests", "asyncio", "pydantic", "cio_sync_cli", "cio_sync_local", "wrapt")
NEVER_PREFIXES = ("aws_lambda_powertools.utilities.batch", "aws_lambda_powertools.utilities.data_classes")
# What only the functions that talk to Customer.io may load.
CUSTOMER_IO = "cio_sync.adapters.customerio"
CUSTOMER_IO_FUNCTIONS = {"track", "email", "profile_sweep"}
# The App API's people reads: only the profile sweep uses them (the email function shares the API, not them).
PEOPLE = ("cio_sync.customerio.people", "cio_sync.adapters.customerio.people_client")
PEOPLE_FUNCTIONS = {"profile_sweep"}
# None: the adapters use botocore's clients, the email's claims too (cio_sync.adapters.email_idempotency).
BOTO3_FUNCTIONS: frozenset[str] = frozenset()
# A handler's modules as a share of boto3's count: today 1.02 to 1.20 (email); exact, machine-independent.
# Email with boto3 back (Powertools' DynamoDB layer) would load 1.38x: this budget fails it.
MODULE_BUDGET = 1.3
# The timing check's margin over the budget, for load the pairing does not cancel.
TIMING_MARGIN = 1.25
RUNS = 3


@cache
def modules_of(module: str) -> frozenset[str]:
    return frozenset(imported_modules(module))


@pytest.mark.parametrize("handler", HANDLERS)
def test_a_handler_loads_nothing_it_does_not_use(handler: str) -> None:
    loaded = modules_of(handler_module(handler))
    top_level = {name.split(".")[0] for name in loaded}
    assert not top_level & set(NEVER), sorted(top_level & set(NEVER))
    assert not [name for name in loaded if name.startswith(NEVER_PREFIXES)]
    talks_to_customer_io = any(name.startswith(CUSTOMER_IO) for name in loaded)
    assert talks_to_customer_io == (handler in CUSTOMER_IO_FUNCTIONS)
    assert all((name in loaded) == (handler in PEOPLE_FUNCTIONS) for name in PEOPLE)
    assert ("boto3" in loaded) == (handler in BOTO3_FUNCTIONS)


@pytest.mark.parametrize("handler", HANDLERS)
def test_a_handler_loads_few_modules_more_than_boto3(handler: str) -> None:
    boto3 = modules_of("boto3")
    loaded = modules_of(handler_module(handler))
    assert len(loaded) <= MODULE_BUDGET * len(boto3), f"{len(loaded)} modules, boto3 alone {len(boto3)}"


@pytest.mark.parametrize("handler", HANDLERS)
def test_a_handler_imports_in_about_the_time_of_boto3(handler: str) -> None:
    ratio = least_paired_ratio(handler_module(handler), RUNS)
    assert ratio <= BUDGET_RATIO * TIMING_MARGIN, f"{handler}: {ratio:.2f} x import boto3"
