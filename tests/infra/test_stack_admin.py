"""`make deploy` / `make destroy` (infrastructure/stack_admin.py) and the template parts they rely on.

Nothing here reaches AWS: the commands are checked as printed by DRY_RUN=1 (with no credentials in the
environment), the bucket emptying against moto, and the template's retention as transformed offline.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from stack_admin import (
    AdminError,
    deploy_commands,
    deploy_parameters,
    destroy,
    empty_bucket,
    samconfig_parameters,
    secret_name,
    stack_name,
)
from tests.infra.cfn import REPO, SAMPLE_ACCOUNT, Template, canonical, parameter_default, properties

pytestmark = pytest.mark.infra

SECRETS = ("CustomerIoTrackSecretName", "CustomerIoAppSecretName")


def test_the_member_table_outlives_its_stack_and_prod_protects_it(transformed: Template) -> None:
    table = transformed["Resources"]["MemberTable"]
    assert (table["DeletionPolicy"], table["UpdateReplacePolicy"]) == ("Retain", "Retain")
    protection = properties(transformed, "MemberTable")["DeletionProtectionEnabled"]
    assert protection == {"Fn::If": ["IsProd", True, False]}
    assert transformed["Conditions"]["IsProd"] == {"Fn::Equals": [{"Ref": "Environment"}, "prod"]}


def test_the_secret_names_agree_everywhere(transformed: Template) -> None:
    """The template's defaults are dev's; samconfig.toml and `make deploy` name each stack's the same way."""
    for parameter in SECRETS:
        assert parameter_default(transformed, parameter) == secret_name("dev", parameter)
        for env in ("dev", "prod"):
            assert samconfig_parameters(env)[parameter] == secret_name(env, parameter)
            assert deploy_parameters(env, {})[parameter] == secret_name(env, parameter)
        assert (
            deploy_parameters("staging", {})[parameter]
            == f"cio-sync/staging/customer-io-{parameter[10:-10].lower()}"
        )


def test_the_longest_stack_name_still_names_a_valid_bucket(transformed: Template) -> None:
    longest = stack_name("x" * 18)
    bucket = canonical(properties(transformed, "ImportBucket")["BucketName"])
    name = bucket.replace("${AWS::StackName}", longest).replace("${AWS::AccountId}", SAMPLE_ACCOUNT)
    assert len(name.replace("${AWS::Region}", "ap-southeast-2")) <= 63  # S3's limit, the longest region
    with pytest.raises(AdminError):
        stack_name("x" * 19)
    with pytest.raises(AdminError):
        stack_name("Staging")  # S3 bucket names are lower case


def test_any_stack_name_deploys_as_its_own_stack_with_its_own_secrets() -> None:
    build, deploy = deploy_commands("ada", {"AlarmEmail": "ops@example.org"}, "sam")
    assert build[:2] == ["sam", "build"]
    assert deploy[deploy.index("--stack-name") + 1] == "cio-sync-ada"
    assert "--confirm-changeset" in deploy
    assert "Environment=dev" in deploy
    assert "CustomerIoTrackSecretName=cio-sync/ada/customer-io-track" in deploy
    assert "AlarmEmail=ops@example.org" in deploy
    assert "--confirm-changeset" not in deploy_commands("ada", {}, "sam", confirm=False)[1]
    assert "Environment=prod" in deploy_commands("prod", {}, "sam")[1]


@mock_aws
def test_emptying_a_versioned_bucket_removes_every_version_and_delete_marker(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="imports")
    s3.put_bucket_versioning(Bucket="imports", VersioningConfiguration={"Status": "Enabled"})
    for body in (b"northstar_id\n", b"northstar_id\nx\n"):
        s3.put_object(Bucket="imports", Key="mute-promotions/a.csv", Body=body)
    s3.delete_object(Bucket="imports", Key="mute-promotions/a.csv")  # a delete marker on top
    with pytest.raises(s3.exceptions.ClientError, match="BucketNotEmpty"):
        s3.delete_bucket(Bucket="imports")
    assert empty_bucket(s3, "imports") == 3
    s3.delete_bucket(Bucket="imports")  # what CloudFormation does next


def _make(*argv: str) -> subprocess.CompletedProcess[str]:
    """The Makefile target as an operator runs it, minus the venv stamps (this process's venv instead)."""
    no_aws = {name: value for name, value in os.environ.items() if not name.startswith("AWS_")}
    return subprocess.run(
        [
            "make",
            "--no-print-directory",
            "-o",
            ".venv/.installed",
            "-o",
            ".venv-sam/.installed",
            *argv,
            f"BIN={Path(sys.executable).parent}",
        ],
        cwd=REPO,
        env={**no_aws, "AWS_CONFIG_FILE": "/nonexistent", "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_make_deploy_dry_run_prints_the_build_and_the_deploy() -> None:
    result = _make("deploy", "ENV=staging", "DRY_RUN=1", "PARAMS=CustomerIoEnabled=true")
    assert result.returncode == 0, result.stderr
    build, deploy = [line for line in result.stdout.splitlines() if line.startswith("+ ")]
    assert " build " in build
    assert "--stack-name cio-sync-staging" in deploy
    assert "CustomerIoEnabled=true" in deploy


def test_make_destroy_dry_run_names_what_it_empties_deletes_and_keeps() -> None:
    result = _make("destroy", "ENV=staging", "DRY_RUN=1")
    assert result.returncode == 0, result.stderr
    assert "would empty s3://" in result.stdout
    assert "would delete stack cio-sync-staging" in result.stdout
    assert "kept: member table cio-sync-staging-members" in result.stdout
    # A redeploy of the same name collides with the retained table, which keeps billing for its backups.
    assert "deploying cio-sync-staging again fails until it is deleted" in result.stdout
    assert "point-in-time recovery bills until then" in result.stdout
    assert "kept: secret cio-sync/staging/customer-io-app" in result.stdout


def test_destroy_names_the_commands_that_delete_what_it_keeps_protection_first_in_prod() -> None:
    result = _make("destroy", "ENV=prod", "DRY_RUN=1")
    assert result.returncode == 0, result.stderr
    table = "cio-sync-prod-members"
    kept = f"aws dynamodb update-table --table-name {table} --no-deletion-protection-enabled && "
    assert f"{kept}aws dynamodb delete-table --table-name {table}" in result.stdout
    staging = _make("destroy", "ENV=staging", "DRY_RUN=1")
    assert "update-table" not in staging.stdout  # no protection outside prod: delete-table alone


@mock_aws
def test_destroy_reads_the_protection_from_the_stack_it_deletes(monkeypatch: pytest.MonkeyPatch) -> None:
    """A stack named anything but deployed with Environment=prod has its table protected too."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    session = boto3.session.Session(region_name="us-east-1")
    template = {
        "Parameters": {"Environment": {"Type": "String"}},
        "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
    }
    session.client("cloudformation").create_stack(
        StackName="cio-sync-live",
        TemplateBody=json.dumps(template),
        Parameters=[{"ParameterKey": "Environment", "ParameterValue": "prod"}],
    )
    teardown = destroy("live", dry_run=False, yes=True, session=session)
    assert teardown.protected
    assert "--no-deletion-protection-enabled" in teardown.kept()[0]
    assert (
        session.client("cloudformation").list_stacks(StackStatusFilter=["CREATE_COMPLETE"])["StackSummaries"]
        == []
    )


def _stack_admin(*argv: str) -> subprocess.CompletedProcess[str]:
    """The script as make runs it, with no terminal, no credentials and no region."""
    no_aws = {name: value for name, value in os.environ.items() if not name.startswith("AWS_")}
    return subprocess.run(
        [sys.executable, str(REPO / "infrastructure" / "stack_admin.py"), *argv],
        env={
            **no_aws,
            "AWS_CONFIG_FILE": "/nonexistent",
            "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
            "AWS_EC2_METADATA_DISABLED": "true",
        },
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_destroy_without_a_terminal_or_yes_refuses_in_one_line() -> None:
    """It read the answer with input(), so a script got an EOFError traceback."""
    result = _stack_admin("destroy", "ghost")
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == (
        "stack_admin: deleting cio-sync-ghost: pass --yes (YES=1) to confirm (no terminal to ask on)\n"
    )


def test_destroy_with_no_credentials_or_region_fails_in_one_line() -> None:
    result = _stack_admin("destroy", "ghost", "--yes")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("stack_admin: cio-sync-ghost: ")
    assert len(result.stderr.splitlines()) == 1


@mock_aws
def test_destroying_an_unknown_stack_says_so_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    session = boto3.session.Session(region_name="us-east-1")
    with pytest.raises(AdminError, match=r"^cio-sync-ghost: Stack with id cio-sync-ghost does not exist$"):
        destroy("ghost", dry_run=False, yes=True, session=session)


@mock_aws
def test_an_answer_cut_short_cancels_the_destroy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))  # the terminal closed before an answer
    session = boto3.session.Session(region_name="us-east-1")
    template = {"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}}
    session.client("cloudformation").create_stack(
        StackName="cio-sync-kept", TemplateBody=json.dumps(template)
    )
    with pytest.raises(AdminError, match="cancelled: nothing was deleted"):
        destroy("kept", dry_run=False, yes=False, session=session, interactive=True)
    stacks = session.client("cloudformation").list_stacks(StackStatusFilter=["CREATE_COMPLETE"])
    assert [stack["StackName"] for stack in stacks["StackSummaries"]] == ["cio-sync-kept"]
