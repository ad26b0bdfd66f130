"""Regions: `GET /api/v1/accounts/region`, and what a client gets when it calls the wrong region's hosts.

The emulator listens twice: `url` stands for the US hosts, `eu_url` for the EU hosts. A workspace in the EU
redirects requests made to the US hosts (301 with a Location on the EU hosts), as the Track document says
Customer.io does; a US workspace refuses requests made to the EU hosts (401).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from cio_sync_local.emulator import Emulator
from tests.integration.emulator.support import Api, person

WRONG_DATACENTER = {"errors": [{"detail": "wrong datacenter", "status": "301"}]}


@pytest.fixture(scope="module")
def eu_workspace() -> Iterator[Emulator]:
    with Emulator(region="eu", environment_id=42) as emulator:
        yield emulator


@pytest.fixture
def eu(eu_workspace: Emulator) -> Emulator:
    eu_workspace.reset()
    return eu_workspace


def test_region_answers_the_workspace_region_as_documented(api: Api) -> None:
    response = api.region()

    assert response.status_code == 200
    assert response.json() == {"url": "https://track.customer.io", "region": "us", "environment_id": 1}


def test_region_answers_the_same_on_either_region_hosts(eu: Emulator) -> None:
    expected = {"url": "https://track-eu.customer.io", "region": "eu", "environment_id": 42}
    for url in (eu.url, eu.eu_url):
        response = Api(eu, url).region()

        assert response.status_code == 200, url
        assert response.json() == expected


def test_region_needs_the_track_credentials(api: Api) -> None:
    assert requests.get(f"{api.url}/api/v1/accounts/region", timeout=5).status_code == 401
    assert api.app.get(f"{api.url}/api/v1/accounts/region", timeout=5).status_code == 401
    auth = ("site", "wrong")
    assert requests.get(f"{api.url}/api/v1/accounts/region", auth=auth, timeout=5).status_code == 401
    assert api.track.post(f"{api.url}/api/v1/accounts/region", timeout=5).status_code == 405


def test_an_eu_workspace_redirects_track_calls_made_to_the_us_hosts(eu: Emulator) -> None:
    us = Api(eu, eu.url)

    response = us.track.put(
        f"{eu.url}/api/v1/customers/m-1?x=1", json={"plan": "free"}, allow_redirects=False, timeout=5
    )

    assert response.status_code == 301
    assert response.headers["Location"] == f"{eu.eu_url}/api/v1/customers/m-1?x=1"
    assert response.json() == WRONG_DATACENTER
    assert eu.state.profiles == {}
    assert us.control("requests")[-1]["status"] == 301


def test_an_eu_workspace_redirects_app_calls_made_to_the_us_hosts(eu: Emulator) -> None:
    us = Api(eu, eu.url)

    response = us.app.post(
        f"{eu.url}/v1/send/email",
        json={"to": "a@example.com", "transactional_message_id": 1, "identifiers": {"id": "p"}},
        allow_redirects=False,
        timeout=5,
    )

    assert response.status_code == 301
    assert response.headers["Location"] == f"{eu.eu_url}/v1/send/email"
    assert eu.state.emails == []


def test_on_its_own_region_hosts_the_eu_workspace_serves_normally(eu: Emulator) -> None:
    home = Api(eu, eu.home_url)

    assert eu.home_url == eu.eu_url
    assert home.identify("m-1", {"plan": "free"}).status_code == 200
    assert home.batch([person("m-2", "identify")]).status_code == 200
    assert home.app_get("/v1/transactional").status_code == 200
    assert set(eu.state.profiles) == {"m-1", "m-2"}


def test_credentials_are_checked_before_the_region(eu: Emulator) -> None:
    response = requests.put(
        f"{eu.url}/api/v1/customers/m-1", json={}, auth=("site", "wrong"), allow_redirects=False, timeout=5
    )

    assert response.status_code == 401


def test_a_client_that_follows_the_redirect_does_not_silently_succeed(eu: Emulator) -> None:
    """`requests` drops the Authorization header when a redirect changes host or port (as it would from
    track.customer.io to track-eu.customer.io), so the redirected identify is refused: a client has to
    notice the 301, not follow it."""
    response = Api(eu, eu.url).identify("m-1", {"plan": "free"})

    assert response.status_code == 401
    assert [r.status_code for r in response.history] == [301]
    assert eu.state.profiles == {}


def test_a_us_workspace_refuses_calls_made_to_the_eu_hosts(api: Api) -> None:
    eu_hosts = Api(api.emulator, api.emulator.eu_url)

    assert eu_hosts.identify("m-1", {"plan": "free"}).status_code == 401
    assert eu_hosts.app_get("/v1/transactional").status_code == 401
    assert eu_hosts.region().json()["region"] == "us"
    assert api.profiles() == {}
    eu_hosts.close()


def test_the_configuration_names_both_urls(eu: Emulator) -> None:
    config = Api(eu, eu.eu_url).control("config")

    assert config["region"] == "eu"
    assert config["urls"] == {"us": eu.url, "eu": eu.eu_url}


def test_an_unknown_region_is_refused() -> None:
    with pytest.raises(ValueError, match="region"):
        Emulator(region="ap")
