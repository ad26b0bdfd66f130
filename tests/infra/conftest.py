"""Fixtures for the template checks: each make target runs once per session (and is a no-op when its
inputs have not changed since the last run, thanks to sam.mk's stamps)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.infra.cfn import REPO, Template, make_failure, run_make


@pytest.fixture(scope="session")
def transformed() -> Template:
    """template.yaml after samtranslator's offline transform: what CloudFormation will create."""
    result = run_make("sam-transform")
    if result.returncode != 0:
        pytest.fail(make_failure("sam-transform", result))
    template: Template = json.loads((REPO / ".aws-sam" / "template.transformed.json").read_text())
    return template


@pytest.fixture(scope="session")
def build_dir() -> Path:
    """`sam build` output: one artifact folder per function."""
    result = run_make("sam-build")
    if result.returncode != 0:
        pytest.fail(make_failure("sam-build", result))
    return REPO / ".aws-sam" / "build"
