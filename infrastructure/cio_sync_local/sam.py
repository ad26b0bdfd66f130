"""template.yaml -> plain CloudFormation, offline, with samtranslator: what `sam deploy` hands CloudFormation.

Shared by the local stack (which deploys the result on moto's CloudFormation) and by
infrastructure/build/sam_transform.py (which writes it for tests/infra). It imports samtranslator and the
standard library only, so that script can load it from .venv-sam as well as from the project's .venv.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import intrinsics_multi_constructor

DEFAULT_TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"
# Where `sam package` would have put the code: the translator accepts only S3 locations.
PACKAGED_CODE_BUCKET = "offline-transform"


class _TemplateLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """samtranslator's loader (CloudFormation's short tags), on libyaml: ten times faster than its own."""


_TemplateLoader.add_multi_constructor("!", intrinsics_multi_constructor)


class NoManagedPolicies:
    """The template grants nothing by managed-policy name, so the transform never needs IAM's list."""

    def load(self) -> dict[str, str]:
        return {}


def load_template(path: Path | str | None = None) -> dict[str, Any]:
    """template.yaml as samtranslator reads it (short tags such as !Ref become their long form)."""
    source = Path(path) if path is not None else DEFAULT_TEMPLATE
    template: dict[str, Any] = yaml.load(source.read_text(encoding="utf-8"), Loader=_TemplateLoader)  # noqa: S506
    return template


def code_keys(template: Mapping[str, Any]) -> set[str]:
    """The S3 keys the packaged template's CodeUris name (one per local code folder)."""
    return {
        _packaged(code_uri)
        for properties in _function_sections(template)
        if isinstance(code_uri := properties.get("CodeUri"), str) and not code_uri.startswith("s3://")
    }


def with_packaged_code(template: dict[str, Any], bucket: str = PACKAGED_CODE_BUCKET) -> dict[str, Any]:
    """Point local CodeUris at S3, as `sam package` would (a new dict; the argument is left alone)."""
    packaged = copy.deepcopy(template)
    for properties in _function_sections(packaged):
        code_uri = properties.get("CodeUri")
        if isinstance(code_uri, str) and not code_uri.startswith("s3://"):
            properties["CodeUri"] = f"s3://{bucket}/{_packaged(code_uri)}"
    return packaged


def transform_template(
    template: dict[str, Any],
    parameters: Mapping[str, str] | None = None,
    *,
    code_bucket: str = PACKAGED_CODE_BUCKET,
    region: str = "us-east-1",
) -> dict[str, Any]:
    """The SAM template as plain CloudFormation (AWS::Serverless::* expanded), code in `code_bucket`."""
    # The translator derives the partition of the ARNs it writes from the region in the environment.
    os.environ.setdefault("AWS_DEFAULT_REGION", region)
    transformed: dict[str, Any] = transform(
        with_packaged_code(template, code_bucket), dict(parameters or {}), NoManagedPolicies()
    )
    return transformed


def _packaged(code_uri: str) -> str:
    return code_uri.strip("/") or "code"


def _function_sections(template: Mapping[str, Any]) -> list[dict[str, Any]]:
    sections = [template.get("Globals", {}).get("Function", {})]
    sections += [
        resource.get("Properties", {})
        for resource in template.get("Resources", {}).values()
        if resource.get("Type") == "AWS::Serverless::Function"
    ]
    return sections
