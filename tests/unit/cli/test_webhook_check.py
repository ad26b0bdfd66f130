"""`cio-sync doctor`'s reporting-webhook check, against canned App API answers; consent dead letters."""

from __future__ import annotations

from typing import Any

import pytest

from cio_sync.customerio.errors import CredentialsError
from cio_sync.customerio.reporting import WEBHOOK_EVENTS, ReportingEvent
from cio_sync.pipeline.messages import TRACK_LANES, lane_of
from cio_sync_cli.dlq_redrive import redrive_group
from cio_sync_cli.dlq_summary import summarize_body
from cio_sync_cli.webhook_check import check_reporting_webhook

URL = "https://abc.lambda-url.us-east-1.on.aws/"


class App:
    def __init__(self, answer: Any) -> None:
        self.answer = answer
        self.paths: list[str] = []

    def get_json(self, path: str, *, operation: str, deadline: float | None = None) -> Any:
        self.paths.append(path)
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


def hook(
    endpoint: str = URL, *, disabled: bool = False, events: tuple[str, ...] = WEBHOOK_EVENTS
) -> dict[str, Any]:
    return {"id": 7, "name": "cio-sync", "endpoint": endpoint, "disabled": disabled, "events": list(events)}


def test_an_enabled_webhook_at_the_url_with_every_event_passes() -> None:
    app = App({"reporting_webhooks": [hook("https://elsewhere.example/"), hook(URL.rstrip("/").upper())]})
    check = check_reporting_webhook(app, URL)
    assert check.ok is True
    assert app.paths == ["/v1/reporting_webhooks"]


@pytest.mark.parametrize(
    ("hooks", "words"),
    [
        ([], "none points at"),
        ([hook("https://elsewhere.example/")], "none points at"),
        ([hook(disabled=True)], "disabled"),
        ([hook(events=("email_bounced",))], "customer_unsubscribed"),
    ],
    ids=["no-webhooks", "other-url", "disabled", "missing-events"],
)
def test_what_is_wrong_is_said(hooks: list[dict[str, Any]], words: str) -> None:
    check = check_reporting_webhook(App({"reporting_webhooks": hooks}), URL)
    assert check.ok is False
    assert words in check.detail


def test_a_failing_api_or_an_unknown_url_is_reported() -> None:
    assert check_reporting_webhook(App(CredentialsError("App API key refused")), URL).ok is False
    assert check_reporting_webhook(App({"unexpected": 1}), URL).ok is False
    assert check_reporting_webhook(App({}), None).ok is None


def test_consent_dead_letters_are_summarised_without_data_and_go_back_to_their_lane() -> None:
    body = ReportingEvent("ev-1", "email", "spammed", 1, "5f3c2a1b0e9d8c7b6a594837").to_message()
    assert summarize_body("consent", body) == "email_spammed for member 5f3c2a1b0e9d8c7b6a594837"
    parked = {"Attributes": {"MessageGroupId": "dead-letters"}}
    assert redrive_group("consent", parked, body, TRACK_LANES) == lane_of(
        "5f3c2a1b0e9d8c7b6a594837", TRACK_LANES
    )
