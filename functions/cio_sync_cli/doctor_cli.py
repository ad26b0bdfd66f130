"""`cio-sync doctor`: check the Customer.io configuration a stack runs with, one line per check.

The Track credentials and the workspace's region, the App API key, the placeholder profile id, the
transactional message ids and the reporting webhook (cio_sync_cli/webhook_check.py), read from the track
and email functions' own configuration (a deployed stack's functions, the local stack's, or the
environment) and their own secrets. Exits 1 when a check
fails. The same checks run at each consumer's first invocation and are logged there.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from cio_sync.adapters.customerio.app_client import AppClient
from cio_sync.adapters.customerio.credentials import SecretCredentials
from cio_sync.adapters.customerio.preflight import (
    Check,
    check_app,
    check_messages,
    check_placeholder,
    check_track,
    passed,
)
from cio_sync.adapters.customerio.track_client import TrackClient
from cio_sync.environment import Environment, SettingsError
from cio_sync.handlers.customerio_settings import ApiSettings, app_api_settings, track_api_settings
from cio_sync_cli.errors import CommandError
from cio_sync_cli.target import (
    STACK_VARIABLE,
    OpsTarget,
    add_target_argument,
    aws_errors,
    read_stack_file,
    resolve_target,
)
from cio_sync_cli.webhook_check import check_reporting_webhook, webhook_url

FUNCTIONS = ("TrackFunction", "EmailFunction")


def add_doctor_command(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    command = subparsers.add_parser(
        "doctor",
        help="check the Customer.io keys, region, placeholder profile and message ids a stack uses",
        description=__doc__,
    )
    add_target_argument(command)
    command.set_defaults(handler=run_doctor)


def run_doctor(args: argparse.Namespace) -> int:
    target = resolve_target(args.stack)
    stack_name = args.stack or os.environ.get(STACK_VARIABLE)
    with aws_errors(target.endpoint_url):
        environments = function_environments(target, stack_name)
        url = webhook_url(target, stack_name)
    checks = doctor_checks(environments, target, url)
    print(doctor_report(target.describe(), checks, as_json=args.json))
    return 0 if passed(checks) else 1


def doctor_report(target: str, checks: Sequence[Check], *, as_json: bool) -> str:
    """One line per check, or with --json one object a script can read (`ok` null: not checkable)."""
    if as_json:
        rows = [{"name": check.name, "ok": check.ok, "detail": check.detail} for check in checks]
        return json.dumps({"target": target, "passed": passed(checks), "checks": rows}, sort_keys=True)
    return "\n".join([f"cio-sync doctor: {target}", *(check.line() for check in checks)])


# What the settings need but the doctor does not check (it makes a handful of requests, paced by itself, and
# is live even where the stack runs dry): an operator's shell need not set them.
UNCHECKED: Mapping[str, str] = {
    "CUSTOMER_IO_TRACK_RATE_PER_S": "1",
    "CUSTOMER_IO_TRACK_CONCURRENCY": "1",
    "CUSTOMER_IO_APP_RATE_PER_S": "1",
    "CUSTOMER_IO_APP_CONCURRENCY": "1",
    "CUSTOMER_IO_ENABLED": "true",
}


class DoctorInputs(NamedTuple):
    track_api: ApiSettings
    app_api: ApiSettings
    identifier: str
    message_ids: list[tuple[str, str]]


def doctor_inputs(environments: Mapping[str, Mapping[str, str]]) -> DoctorInputs:
    """What the checks need from the track and email functions' variables, and nothing they do not."""
    track_env, email_env = (Environment({**UNCHECKED, **environments[name]}) for name in FUNCTIONS)
    try:
        return DoctorInputs(
            track_api_settings(track_env),
            app_api_settings(email_env),
            email_env.text("CUSTOMER_IO_APP_IDENTIFIER_ID"),
            [
                ("forgot_password", email_env.text("CUSTOMER_IO_FORGOT_PASSWORD_TRANSACTIONAL_MESSAGE_ID")),
                ("password_updated", email_env.text("CUSTOMER_IO_PASSWORD_UPDATED_TRANSACTIONAL_MESSAGE_ID")),
            ],
        )
    except SettingsError as error:
        raise CommandError(f"the functions' configuration is incomplete: {error}") from None


def doctor_checks(
    environments: Mapping[str, Mapping[str, str]], target: OpsTarget, webhook: str | None = None
) -> list[Check]:
    inputs = doctor_inputs(environments)
    # Live even where the stack runs dry: the doctor calls Customer.io. Secrets read through the target.
    track = TrackClient(secret_reader(target, inputs.track_api), base_url=inputs.track_api.base_url)
    app = AppClient(secret_reader(target, inputs.app_api), base_url=inputs.app_api.base_url)
    return [
        check_track(track, inputs.track_api.region),
        check_app(app, inputs.app_api.region),
        check_placeholder(inputs.identifier),
        *check_messages(app, inputs.message_ids),
        check_reporting_webhook(app, webhook),
    ]


def function_environments(target: OpsTarget, stack_name: str | None) -> dict[str, Mapping[str, str]]:
    """Each consumer's environment variables, as its Lambda function has them."""
    if target.source == "cloudformation" and stack_name:
        cloudformation, lambda_ = target.client("cloudformation"), target.client("lambda")
        found: dict[str, Mapping[str, str]] = {}
        for logical_id in FUNCTIONS:
            resource = cloudformation.describe_stack_resource(
                StackName=stack_name, LogicalResourceId=logical_id
            )
            name = resource["StackResourceDetail"]["PhysicalResourceId"]
            configuration: Any = lambda_.get_function_configuration(FunctionName=name)
            found[logical_id] = dict((configuration.get("Environment") or {}).get("Variables") or {})
        return found
    if target.source == "local":
        local = read_stack_file() or {}
        environment = local.get("environment")
        if isinstance(environment, dict):
            return {key: {str(k): str(v) for k, v in environment.items()} for key in FUNCTIONS}
    return {key: dict(os.environ) for key in FUNCTIONS}


def secret_reader(target: OpsTarget, api: ApiSettings) -> SecretCredentials:
    return SecretCredentials(
        api.secret_name, lambda: target.client("secretsmanager"), fields=api.secret_fields
    )
