"""Where reconcile's profile side finds the App API and the placeholder: stack parameters or variables."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cio_sync_cli.errors import CommandError
from cio_sync_cli.sweep_target import sweep_target
from cio_sync_cli.target import CloudFormationStack, resolve_target


def test_a_deployed_stack_is_read_from_its_parameters(tmp_path: Path) -> None:
    def read_stack(name: str, endpoint: str | None, region: str | None) -> CloudFormationStack:
        return CloudFormationStack(
            outputs={},
            parameters={
                "CustomerIoAppSecretName": "cio-sync/customer-io",
                "CustomerIoRegion": "eu",
                "AppIdentifierId": " cio-sync-transactional\n",  # trimmed, as the function reads it
                "VolatileSyncWindowSeconds": "3600",
                "EmailTopicMap": "news=1",
            },
        )

    environ = {"CUSTOMER_IO_APP_URL": "http://127.0.0.1:8099", "CUSTOMER_IO_APP_SECRET_NAME": "left-over"}
    target = resolve_target(
        "cio-sync-prod", environ=environ, stack_file=tmp_path / "none", read_stack=read_stack
    )
    where = sweep_target(target)
    # Nothing from the shell is mixed into a named stack.
    assert where.app_url == "https://api-eu.customer.io"
    assert where.secret_name == "cio-sync/customer-io"
    assert (where.placeholder_id, where.volatile_window_s) == ("cio-sync-transactional", 3600)
    assert where.topic_map == "news=1"  # the consent read-back's subscription-centre topics


def test_a_stack_without_the_parameter_says_which_one(tmp_path: Path) -> None:
    def read_stack(name: str, endpoint: str | None, region: str | None) -> CloudFormationStack:
        return CloudFormationStack(outputs={}, parameters={"AppIdentifierId": "p"})

    target = resolve_target("old-stack", environ={}, stack_file=tmp_path / "none", read_stack=read_stack)
    with pytest.raises(CommandError, match="no CustomerIoAppSecretName for stack old-stack"):
        sweep_target(target)


def test_the_local_stack_file_gives_the_functions_variables(tmp_path: Path) -> None:
    path = tmp_path / "stack.json"
    path.write_text(
        json.dumps(
            {
                "aws_endpoint": "http://127.0.0.1:5000",
                "region": "us-east-1",
                "member_table": "local-members",
                "queues": {},
                "environment": {
                    "CUSTOMER_IO_APP_SECRET_NAME": "cio-sync/customer-io",
                    "CUSTOMER_IO_APP_URL": "http://127.0.0.1:8099",
                    "CUSTOMER_IO_APP_IDENTIFIER_ID": "cio-sync-transactional",
                    "VOLATILE_SYNC_WINDOW_S": "86400",
                },
            }
        )
    )
    where = sweep_target(resolve_target(environ={}, stack_file=path))
    assert where.app_url == "http://127.0.0.1:8099"
    assert where.volatile_window_s == 86400


def test_the_environment_names_them_with_the_functions_variables(tmp_path: Path) -> None:
    environ = {
        "AWS_ENDPOINT_URL": "http://127.0.0.1:5000",
        "CUSTOMER_IO_APP_SECRET_NAME": "s",
        "CUSTOMER_IO_REGION": "us",
        "CUSTOMER_IO_APP_IDENTIFIER_ID": "p ",
    }
    where = sweep_target(resolve_target(environ=environ, stack_file=tmp_path / "none"))
    assert (where.secret_name, where.app_url, where.placeholder_id) == ("s", "https://api.customer.io", "p")
    with pytest.raises(CommandError, match="CUSTOMER_IO_REGION must be one of"):
        sweep_target(
            resolve_target(environ={**environ, "CUSTOMER_IO_REGION": "ap"}, stack_file=tmp_path / "x")
        )
