"""Reading the transformed (plain CloudFormation) template: resources, intrinsics, names, permissions.

The template tests compare intrinsics in one canonical text form, so an expectation reads like the
template: `MemberTable.Arn` for !GetAtt, `Ref:TrackQueue` for !Ref, the !Sub string for !Sub.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
SAM_MAKEFILE = "infrastructure/sam.mk"

# The values `sam deploy --config-env dev` would give the pseudo parameters in the sample account.
SAMPLE_ACCOUNT = "123456789012"
SAMPLE_REGION = "us-east-1"
SAMPLE_STACK = "cio-sync-dev"

# Actions on data (items, objects, messages, secrets, keys): these never get a wildcard resource.
DATA_SERVICES = ("dynamodb:", "s3:", "sqs:", "secretsmanager:", "kms:")

Template = dict[str, Any]


def run_make(target: str) -> subprocess.CompletedProcess[str]:
    """Run one infrastructure/sam.mk target from the repository root (it creates its own venvs)."""
    return subprocess.run(
        ["make", "--no-print-directory", "-f", SAM_MAKEFILE, target],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
        timeout=1800,
    )


def make_failure(target: str, result: subprocess.CompletedProcess[str]) -> str:
    return f"make {target} failed ({result.returncode}):\n{result.stdout[-6000:]}\n{result.stderr[-6000:]}"


def canonical(value: Any) -> str:
    """One text form for a literal or an intrinsic, as the template's author wrote it."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and len(value) == 1:
        ((name, argument),) = value.items()
        if name == "Fn::GetAtt":
            return ".".join(argument) if isinstance(argument, list) else str(argument)
        if name == "Ref":
            return f"Ref:{argument}"
        if name == "Fn::Sub":
            return argument if isinstance(argument, str) else str(argument[0])
    raise AssertionError(f"unexpected intrinsic or value: {value!r}")


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def resources(template: Template, resource_type: str) -> dict[str, dict[str, Any]]:
    return {
        logical_id: resource
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == resource_type
    }


def properties(template: Template, logical_id: str) -> dict[str, Any]:
    properties_: dict[str, Any] = template["Resources"][logical_id]["Properties"]
    return properties_


def parameter_default(template: Template, name: str) -> str:
    return str(template["Parameters"][name]["Default"])


def resolve_sub(text: str, template: Template, stack: str = SAMPLE_STACK) -> str:
    """A physical name the way CloudFormation computes it for the sample deployment (stack `stack`)."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        pseudo = {
            "AWS::AccountId": SAMPLE_ACCOUNT,
            "AWS::Region": SAMPLE_REGION,
            "AWS::Partition": "aws",
            "AWS::StackName": stack,
        }
        if name in pseudo:
            return pseudo[name]
        if name in template["Parameters"]:
            return parameter_default(template, name)
        raise AssertionError(f"cannot resolve ${{{name}}} offline")

    return re.sub(r"\$\{([^}]+)\}", value, text)


def physical_name(template: Template, logical_id: str, name_property: str, stack: str = SAMPLE_STACK) -> str:
    name = properties(template, logical_id)[name_property]
    return resolve_sub(canonical(name), template, stack)


@dataclass(frozen=True)
class Grant:
    """One action on one resource, with the statement's condition (if any) in canonical text."""

    action: str
    resource: str
    condition: str = ""


def grants(template: Template, role_logical_id: str) -> set[Grant]:
    """Everything a role's inline policies allow (the roles carry no managed policies)."""
    role = properties(template, role_logical_id)
    found: set[Grant] = set()
    for policy in role.get("Policies", []):
        for statement in as_list(policy["PolicyDocument"]["Statement"]):
            assert statement["Effect"] == "Allow", f"{role_logical_id}: only Allow statements expected"
            condition = statement.get("Condition")
            condition_text = "" if condition is None else _condition_text(condition)
            for action in as_list(statement["Action"]):
                for resource in as_list(statement["Resource"]):
                    found.add(Grant(action, canonical(resource), condition_text))
    return found


def _condition_text(condition: dict[str, Any]) -> str:
    parts = []
    for operator, tests in sorted(condition.items()):
        for key, value in sorted(tests.items()):
            shown = (
                ",".join(sorted(canonical(v) for v in value)) if isinstance(value, list) else canonical(value)
            )
            parts.append(f"{operator} {key} {shown}")
    return "; ".join(parts)


def function_role(template: Template, function_logical_id: str) -> str:
    role = properties(template, function_logical_id)["Role"]
    assert isinstance(role, dict), f"{function_logical_id} must use its own role from this template"
    return canonical(role).removesuffix(".Arn")


def event_source_mapping(template: Template, function_logical_id: str) -> dict[str, Any]:
    mappings = [
        resource["Properties"]
        for resource in resources(template, "AWS::Lambda::EventSourceMapping").values()
        if resource["Properties"]["FunctionName"] == {"Ref": function_logical_id}
    ]
    assert len(mappings) == 1, f"{function_logical_id} should have exactly one event source mapping"
    mapping: dict[str, Any] = mappings[0]
    return mapping
