"""Where the OpenAPI document comes from, and what happens without it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import requests

from cio_sync_local.emulator import Emulator
from cio_sync_local.emulator.openapi import OPENAPI_ENV, OpenApiDocumentMissing, default_openapi_path


def test_default_document_is_the_copy_inside_the_repository(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(OPENAPI_ENV, raising=False)
    repository = Path(__file__).resolve().parents[3]

    path = default_openapi_path()
    assert path.is_file()
    assert path.is_relative_to(repository)
    document = json.loads(path.read_text(encoding="utf-8"))
    assert document["info"]["title"] == "Customer.io Track API"
    assert "/api/v2/batch" in document["paths"]


def test_missing_document_refuses_to_start_with_a_clear_message(tmp_path: Path) -> None:
    missing = tmp_path / "absent.json"

    with pytest.raises(OpenApiDocumentMissing, match=r"absent\.json"):
        Emulator(openapi_path=missing)


def test_environment_variable_points_at_another_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    copy = tmp_path / "track.json"
    shutil.copy(default_openapi_path(), copy)
    monkeypatch.setenv(OPENAPI_ENV, str(copy))
    assert default_openapi_path() == copy

    monkeypatch.setenv(OPENAPI_ENV, str(tmp_path / "gone.json"))
    with pytest.raises(OpenApiDocumentMissing):
        Emulator()


def test_validation_can_be_switched_off_explicitly_but_limits_still_apply(tmp_path: Path) -> None:
    with Emulator(openapi_path=tmp_path / "absent.json", validate=False) as emulator:
        url = f"{emulator.url}/api/v1/customers/m-1"
        auth = ("site", "track-key")

        assert requests.put(url, json={"score": 1.5}, auth=auth, timeout=5).status_code == 200
        assert requests.put(url, json={"bio": "x" * 1001}, auth=auth, timeout=5).status_code == 400
        assert emulator.state.profiles["m-1"].attributes == {"score": 1.5}
