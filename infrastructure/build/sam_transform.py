"""Turn template.yaml into plain CloudFormation offline, so tests/infra can assert what AWS will create.

cfn-lint 1.54 and later no longer check SAM event-source settings, so the tests read the event source
mappings, roles and queues from samtranslator's output instead. This runs in .venv-sam (make
sam-transform): aws-sam-translator pins a pydantic that the project's .venv cannot share.

Usage: python sam_transform.py TEMPLATE OUTPUT_JSON
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from samtranslator.translator.transform import transform  # type: ignore[import-not-found]
from samtranslator.yaml_helper import yaml_parse  # type: ignore[import-not-found]

PACKAGED_CODE_BUCKET = "s3://offline-transform"


def with_packaged_code(template: dict[str, Any]) -> dict[str, Any]:
    """Point local CodeUris at S3, as `sam package` would: the translator accepts only S3 locations."""
    sections = [template.get("Globals", {}).get("Function", {})]
    sections += [
        resource.get("Properties", {})
        for resource in template.get("Resources", {}).values()
        if resource.get("Type") == "AWS::Serverless::Function"
    ]
    for properties in sections:
        code_uri = properties.get("CodeUri")
        if isinstance(code_uri, str) and not code_uri.startswith("s3://"):
            properties["CodeUri"] = f"{PACKAGED_CODE_BUCKET}/{code_uri.strip('/')}"
    return template


class NoManagedPolicies:
    """The template grants nothing by managed-policy name, so the transform never needs IAM's list."""

    def load(self) -> dict[str, str]:
        return {}


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    template_path, output_path = Path(argv[1]), Path(argv[2])
    # ARNs the translator writes depend on the partition, which it derives from the region.
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    template = yaml_parse(template_path.read_text(encoding="utf-8"))
    transformed = transform(with_packaged_code(template), {}, NoManagedPolicies())
    output_path.parent.mkdir(parents=True, exist_ok=True)
    output_path.write_text(json.dumps(transformed, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
