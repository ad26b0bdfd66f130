"""App API checks a preflight can make: the key is valid, the transactional messages exist.

`GET /v1/transactional` lists the workspace's transactional messages; `GET /v1/transactional/{id}` answers one
or 404. Both take the App API key as a Bearer token and share the App API's 10-requests-a-second limit.
"""

from __future__ import annotations

import pytest
import requests

from cio_sync_local.emulator import Emulator
from cio_sync_local.emulator.app_api import TransactionalMessage
from cio_sync_local.emulator.faults import SlidingWindowLimiter
from tests.integration.emulator.support import Api

DOCUMENTED_FIELDS = {
    "id",
    "name",
    "description",
    "send_to_unsubscribed",
    "link_tracking",
    "open_tracking",
    "hide_message_body",
    "queue_drafts",
    "created_at",
    "updated_at",
}


def test_list_answers_every_message_with_the_documented_fields(api: Api) -> None:
    response = api.app_get("/v1/transactional")

    assert response.status_code == 200
    messages = response.json()["messages"]
    assert [(m["id"], m["name"]) for m in messages] == [(1, "Forgot password"), (2, "Password updated")]
    assert all(set(m) == DOCUMENTED_FIELDS for m in messages)


def test_get_answers_one_message_or_404(api: Api) -> None:
    found = api.app_get("/v1/transactional/2")
    missing = api.app_get("/v1/transactional/99")
    not_a_number = api.app_get("/v1/transactional/forgot_password")

    assert found.status_code == 200
    assert found.json()["message"]["id"] == 2
    assert set(found.json()["message"]) == DOCUMENTED_FIELDS
    assert (missing.status_code, not_a_number.status_code) == (404, 404)


def test_the_emulator_shows_trigger_names_the_api_does_not(api: Api) -> None:
    catalogue = api.control("transactional")

    assert [(m["id"], m["trigger_name"]) for m in catalogue] == [
        (1, "forgot_password"),
        (2, "password_updated"),
    ]


def test_the_catalogue_is_configurable() -> None:
    messages = [TransactionalMessage(40, "Welcome", None, send_to_unsubscribed=False)]
    with Emulator(transactional_messages=messages) as emulator:
        api = Api(emulator)
        listed = api.app_get("/v1/transactional").json()["messages"]
        api.close()

    assert [(m["id"], m["send_to_unsubscribed"]) for m in listed] == [(40, False)]


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic c2l0ZTp0cmFjay1rZXk="}],
    ids=["missing", "wrong-key", "track-basic"],
)
@pytest.mark.parametrize("path", ["/v1/transactional", "/v1/transactional/1"])
def test_a_wrong_or_missing_app_key_is_401(api: Api, headers: dict[str, str], path: str) -> None:
    response = requests.get(f"{api.url}{path}", headers=headers, timeout=5)

    assert response.status_code == 401
    assert response.json() == {"meta": {"error": "Unauthorized request"}}


def test_only_get_is_served(api: Api) -> None:
    assert api.app.post(f"{api.url}/v1/transactional", json={}, timeout=5).status_code == 405
    assert api.app.delete(f"{api.url}/v1/transactional/1", timeout=5).status_code == 405


def test_reads_share_the_app_api_limit_of_10_a_second_and_recover_after_it() -> None:
    """The limits' window runs on a fake clock: every request lands in the same second whatever the
    machine's speed, and the window moves only when the test moves the clock."""
    now = [500.0]
    with Emulator(clock=lambda: now[0]) as emulator:
        api = Api(emulator)
        statuses = [api.app_get("/v1/transactional/1").status_code for _ in range(6)]
        statuses += [api.app_post("/v1/customers/attributes", {"ids": ["x"]}).status_code for _ in range(6)]
        sends = [
            api.send_email({"to": "a@example.com", "transactional_message_id": 1, "identifiers": {"id": "p"}})
            for _ in range(3)
        ]
        refused = api.app_get("/v1/transactional")
        now[0] += 1.01
        recovered = api.app_get("/v1/transactional")
        stats = api.control("stats")
        api.close()

    assert statuses == [200] * 10 + [429] * 2
    assert [send.status_code for send in sends] == [200] * 3  # the send has its own limit (100/s)
    assert refused.status_code == 429
    assert refused.json() == {"meta": {"error": "rate limit exceeded"}}
    assert recovered.status_code == 200
    assert stats["app_rate_limited"] == 3


def test_the_send_limit_is_100_a_second() -> None:
    now = [500.0]
    body = {"to": "a@example.com", "transactional_message_id": 1, "identifiers": {"id": "p"}}
    with Emulator(clock=lambda: now[0]) as emulator:
        api = Api(emulator)
        statuses = [api.send_email(body).status_code for _ in range(101)]
        emails = len(emulator.state.emails)
        api.close()

    assert statuses == [200] * 100 + [429]
    assert emails == 100


def test_the_limiter_window_slides() -> None:
    now = [100.0]
    limiter = SlidingWindowLimiter(2, clock=lambda: now[0])

    verdicts = []
    for at in (100.0, 100.5, 100.9, 101.01, 101.4, 101.51):
        now[0] = at
        verdicts.append(limiter.admit())

    assert verdicts == [True, True, False, True, False, True]
    assert limiter.refused == 2


def test_app_limits_can_be_switched_off() -> None:
    with Emulator(app_rate_limit_per_s=None, send_rate_limit_per_s=None) as emulator:
        limiters = (emulator.app.app_api.read_limiter, emulator.app.app_api.send_limiter)

        assert all(limiter.admit() for limiter in limiters for _ in range(500))
