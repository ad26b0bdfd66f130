"""`make deploy ENV=...` and `make destroy ENV=...`: one stack per name, deployed and torn down whole.

ENV names the stack (`cio-sync-<ENV>`) and its secrets (`cio-sync/<ENV>/customer-io-{track,app}` and
`cio-sync/<ENV>/reporting-webhook`), so `staging` or a personal `ada` stack lives beside `dev` and
`prod`; the template derives every resource name from the stack name. samconfig.toml's section for
ENV, when there is one, gives its parameters.
Teardown empties the versioned import bucket (CloudFormation cannot delete a bucket holding versions),
deletes the stack, and names what it keeps: the member table (DeletionPolicy Retain) and the secrets.
`--dry-run` prints what would run and calls nothing (the Makefile's DRY_RUN=1; tests/infra run it).
"""

from __future__ import annotations

import argparse
import re
import shlex
import subprocess
import sys
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

REPO: Final = Path(__file__).resolve().parents[1]
SAMCONFIG: Final = REPO / "samconfig.toml"
BUILT_TEMPLATE: Final = ".aws-sam/build/template.yaml"
# A stack name CloudFormation and S3 both accept: the bucket "<stack>-imports-<account>-<region>" must be
# lower case and at most 63 characters, which leaves 27 for the stack name.
ENV_PATTERN: Final = re.compile(r"[a-z0-9][a-z0-9-]{0,17}")
SECRET_KINDS: Final = {
    "CustomerIoTrackSecretName": "customer-io-track",
    "CustomerIoAppSecretName": "customer-io-app",
    "ReportingWebhookSecretName": "reporting-webhook",
}


class AdminError(Exception):
    """A refusal, printed as one line."""


def stack_name(env: str) -> str:
    if not ENV_PATTERN.fullmatch(env) or env.endswith("-"):
        raise AdminError(f"ENV must be 1-18 lower-case letters, digits or dashes, got {env!r}")
    return f"cio-sync-{env}"


def secret_name(env: str, parameter: str) -> str:
    return f"cio-sync/{env}/{SECRET_KINDS[parameter]}"


def samconfig_parameters(env: str, path: Path = SAMCONFIG) -> dict[str, str]:
    """samconfig.toml's parameter_overrides for ENV ({} when it has no section for it)."""
    config: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
    text = config.get(env, {}).get("deploy", {}).get("parameters", {}).get("parameter_overrides", "")
    return dict(item.split("=", 1) for item in shlex.split(str(text)))


def deploy_parameters(env: str, overrides: Mapping[str, str], path: Path = SAMCONFIG) -> dict[str, str]:
    """Defaults derived from ENV, then samconfig.toml's section for it, then the command line's."""
    parameters = {
        "Environment": "prod" if env == "prod" else "dev",
        **{parameter: secret_name(env, parameter) for parameter in SECRET_KINDS},
    }
    parameters.update(samconfig_parameters(env, path))
    parameters.update(overrides)
    return parameters


def deploy_commands(
    env: str, overrides: Mapping[str, str], sam: str, *, confirm: bool = True
) -> list[list[str]]:
    stack = stack_name(env)
    parameters = deploy_parameters(env, overrides)
    return [
        [sam, "build", "--template-file", "template.yaml", "--build-dir", ".aws-sam/build"],
        [
            sam,
            "deploy",
            "--template-file",
            BUILT_TEMPLATE,
            "--stack-name",
            stack,
            "--resolve-s3",
            "--s3-prefix",
            stack,
            "--capabilities",
            "CAPABILITY_IAM",
            "--no-fail-on-empty-changeset",
            *(["--confirm-changeset"] if confirm else []),  # sam shows the change set and asks
            "--parameter-overrides",
            *(f"{name}={value}" for name, value in sorted(parameters.items())),
            "--tags",
            "project=cio-sync",
            f"environment={env}",
        ],
    ]


@dataclass(frozen=True)
class Teardown:
    stack: str
    bucket: str | None
    table: str | None
    secrets: tuple[str, ...]
    protected: bool = False  # the table's deletion protection (Environment=prod) is on

    def plan(self) -> list[str]:
        bucket = self.bucket or "the stack's ImportBucketName output"
        return [
            f"empty s3://{bucket} (every object version and delete marker)",
            f"delete stack {self.stack} and wait for it",
        ]

    def kept(self) -> list[str]:
        table = self.table or f"{self.stack}-members"
        delete = f"aws dynamodb delete-table --table-name {table}"
        if self.protected:  # DeleteTable is refused until the protection is turned off
            unprotect = f"aws dynamodb update-table --table-name {table} --no-deletion-protection-enabled"
            delete = f"{unprotect} && {delete}"
        why = "DeletionPolicy Retain" + ("; deletion protection on" if self.protected else "")
        return [
            f"member table {table} ({why}; it keeps its name, so deploying {self.stack} again fails until "
            f"it is deleted, and its point-in-time recovery bills until then): {delete}",
            *(f"secret {name}: aws secretsmanager delete-secret --secret-id {name}" for name in self.secrets),
        ]


def empty_bucket(s3: Any, bucket: str) -> int:
    """Delete every version and delete marker (a versioned bucket is empty only then); returns how many."""
    removed = 0
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        doomed = [
            {"Key": entry["Key"], "VersionId": entry["VersionId"]}
            for entry in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]
        ]
        if doomed:  # at most 1000 a page, what delete_objects takes
            answer = s3.delete_objects(Bucket=bucket, Delete={"Objects": doomed, "Quiet": True})
            if answer.get("Errors"):
                raise AdminError(f"{len(answer['Errors'])} object versions of {bucket} could not be deleted")
            removed += len(doomed)
    return removed


def destroy(
    env: str, *, dry_run: bool, yes: bool, session: Any = None, interactive: bool | None = None
) -> Teardown:
    """Without a terminal to ask on, only --yes (YES=1) deletes: a script must say what it means."""
    stack = stack_name(env)
    secrets = tuple(secret_name(env, parameter) for parameter in SECRET_KINDS)
    if dry_run:
        return Teardown(stack, None, None, secrets, deploy_parameters(env, {})["Environment"] == "prod")
    if not yes and not (sys.stdin.isatty() if interactive is None else interactive):
        raise AdminError(f"deleting {stack}: pass --yes (YES=1) to confirm (no terminal to ask on)")
    import boto3  # noqa: PLC0415 - a dry run needs no AWS SDK and no credentials
    from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415 - as boto3

    try:
        return _destroy(stack, secrets, yes, session or boto3.session.Session())
    except ClientError as error:  # an unknown stack, a denied call: AWS's one-line message
        raise AdminError(f"{stack}: {error.response.get('Error', {}).get('Message', error)}") from None
    except BotoCoreError as error:  # no credentials, no region, no network
        raise AdminError(f"{stack}: {error}") from None


def _destroy(stack: str, secrets: tuple[str, ...], yes: bool, session: Any) -> Teardown:
    cloudformation = session.client("cloudformation")
    described = cloudformation.describe_stacks(StackName=stack)["Stacks"][0]
    outputs = {item["OutputKey"]: item["OutputValue"] for item in described.get("Outputs", [])}
    protected = {"ParameterKey": "Environment", "ParameterValue": "prod"} in described.get("Parameters", [])
    teardown = Teardown(
        stack, outputs.get("ImportBucketName"), outputs.get("MemberTableName"), secrets, protected
    )
    if not yes:
        try:
            answer = input(f"type {stack} to delete it ({'; '.join(teardown.plan())}): ")
        except EOFError:
            answer = ""
        if answer.strip() != stack:
            raise AdminError("cancelled: nothing was deleted")
    if teardown.bucket:
        print(
            f"emptied s3://{teardown.bucket}: {empty_bucket(session.client('s3'), teardown.bucket)} versions"
        )
    cloudformation.delete_stack(StackName=stack)
    cloudformation.get_waiter("stack_delete_complete").wait(StackName=stack)
    return teardown


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="stack_admin", description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["deploy", "destroy"])
    parser.add_argument("env", metavar="ENV")
    parser.add_argument("--dry-run", action="store_true", help="print what would run; call nothing")
    parser.add_argument("--yes", action="store_true", help="deploy or destroy without asking")
    parser.add_argument("--sam", default=".venv-sam/bin/sam", help="the sam executable")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="NAME=VALUE")
    args = parser.parse_args(argv)
    try:
        if any("=" not in item for item in args.overrides):
            raise AdminError("parameters are NAME=VALUE")
        overrides = dict(item.split("=", 1) for item in args.overrides)
        if args.action == "deploy":
            for command in deploy_commands(args.env, overrides, args.sam, confirm=not args.yes):
                print("+ " + shlex.join(command), flush=True)
                if not args.dry_run:
                    subprocess.run(command, cwd=REPO, check=True)  # noqa: S603 - our own argv
            return 0
        teardown = destroy(args.env, dry_run=args.dry_run, yes=args.yes)
    except (AdminError, ValueError) as error:
        print(f"stack_admin: {error}", file=sys.stderr)
        return 1
    except subprocess.CalledProcessError as error:
        return error.returncode
    for step in teardown.plan() if args.dry_run else []:
        print(f"would {step}")
    for item in teardown.kept():
        print(f"kept: {item}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
