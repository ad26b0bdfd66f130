"""App API people endpoints for a Customer.io-side sweep: search with a filter, page by cursor, and look
up attributes for a batch of ids. Shapes from Customer.io's App API reference (getPeopleFilter,
getPeopleById)."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from cio_sync_local.emulator import Emulator
from tests.integration.emulator.support import Api, person

EVERYONE = {"filter": {"attribute": {"field": "id", "operator": "exists"}}}


def attribute(field: str, operator: str = "exists", **extra: Any) -> dict[str, Any]:
    return {"attribute": {"field": field, "operator": operator, **extra}}


def search(api: Api, body: Any, **params: Any) -> dict[str, Any]:
    response = api.app_post("/v1/customers", body, **params)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def everyone(api: Api, limit: int) -> tuple[list[str], int]:
    """Every id the search returns, following `next`, and how many pages it took."""
    ids: list[str] = []
    pages = 0
    start = ""
    while True:
        page = search(api, EVERYONE, limit=limit, **({"start": start} if start else {}))
        pages += 1
        ids += page["ids"]
        start = page["next"]
        if not start:
            return ids, pages


def test_search_answers_identifiers_ids_and_next(api: Api) -> None:
    api.identify("m-1", {"plan": "free", "email": "ada@example.com"})
    api.identify("m-2", {"plan": "paid"})

    result = search(api, {"filter": attribute("plan", "eq", value="free")})

    assert set(result) == {"identifiers", "ids", "next"}
    assert result["ids"] == ["m-1"]
    [identifiers] = result["identifiers"]
    assert identifiers["id"] == "m-1"
    assert identifiers["email"] is None  # email is not an identifier in this workspace
    assert identifiers["cio_id"] == api.control("profiles/m-1")["cio_id"]
    assert result["next"] == ""


def test_paging_with_limit_start_and_next_returns_everyone_once(api: Api) -> None:
    api.batch([person(f"m-{i:02d}", "identify", attributes={"n": i}) for i in range(25)])

    ids, pages = everyone(api, limit=10)

    assert ids == [f"m-{i:02d}" for i in range(25)]
    assert pages == 3


def test_an_exact_last_page_ends_the_walk(api: Api) -> None:
    api.batch([person(f"m-{i}", "identify", attributes={"n": i}) for i in range(4)])

    first = search(api, EVERYONE, limit=2)
    second = search(api, EVERYONE, limit=2, start=first["next"])

    assert (first["ids"], second["ids"], second["next"]) == (["m-0", "m-1"], ["m-2", "m-3"], "")


def test_deletes_and_creates_during_a_walk_do_not_skip_anyone_who_stays(api: Api) -> None:
    api.batch([person(f"m-{i}", "identify", attributes={"n": i}) for i in range(6)])
    first = search(api, EVERYONE, limit=3)

    api.batch([person("m-1", "delete"), person("m-4", "delete"), person("m-new", "identify")])
    rest = search(api, EVERYONE, limit=10, start=first["next"])

    assert first["ids"] == ["m-0", "m-1", "m-2"]
    assert rest["ids"] == ["m-3", "m-5", "m-new"]


def test_default_limit_is_50_and_1000_is_the_most(api: Api) -> None:
    api.batch([person(f"m-{i:03d}", "identify") for i in range(60)])

    assert len(search(api, EVERYONE)["ids"]) == 50
    assert len(search(api, EVERYONE, limit=1000)["ids"]) == 60
    for bad in ("0", "1001", "ten", "-1"):
        assert api.app_post("/v1/customers", EVERYONE, limit=bad).status_code == 400, bad


def test_a_cursor_this_api_did_not_give_is_refused(api: Api) -> None:
    response = api.app_post("/v1/customers", EVERYONE, start="not-a-cursor")

    assert response.status_code == 400
    assert "start" in response.json()["meta"]["error"]


def test_filters_combine_with_and_or_not_and_inverse(api: Api) -> None:
    api.identify("m-1", {"plan": "free", "email": "a@example.com"})
    api.identify("m-2", {"plan": "paid", "email_subscription_status": True})
    api.identify("m-3", {"plan": "paid"})
    api.identify("m-4", {})

    def ids(node: dict[str, Any]) -> list[str]:
        return list(search(api, {"filter": node})["ids"])

    assert ids(attribute("plan")) == ["m-1", "m-2", "m-3"]
    assert ids(attribute("plan", inverse=True)) == ["m-4"]
    assert ids(attribute("plan", "eq", value="paid", inverse=True)) == ["m-1", "m-4"]
    assert ids(attribute("email_subscription_status", "eq", value="true")) == ["m-2"]
    assert ids(attribute("email_subscription_status", "eq", value=True)) == ["m-2"]
    assert ids(
        {"and": [attribute("plan", "eq", value="paid"), {"not": attribute("email_subscription_status")}]}
    ) == ["m-3"]
    assert ids({"or": [attribute("email"), attribute("email_subscription_status")]}) == ["m-1", "m-2"]
    assert ids(attribute("id", "eq", value="m-4")) == ["m-4"]
    assert ids({"segment": {"id": 1}}) == []  # the emulator has no segments
    assert ids({"not": {"segment": {"id": 1}}}) == ["m-1", "m-2", "m-3", "m-4"]


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"filter": {}},
        {"filter": {"and": [], "or": []}},
        {"filter": attribute("plan", "eq")},
        {"filter": attribute("plan", "contains", value="x")},
        {"filter": {"attribute": {"operator": "exists"}}},
        {"filter": {"segment": {"id": "one"}}},
        {"filter": {"nope": []}},
        [],
    ],
    ids=[
        "no-filter",
        "empty-filter",
        "two-properties",
        "eq-without-value",
        "unknown-operator",
        "no-field",
        "segment-id-string",
        "unknown-key",
        "not-an-object",
    ],
)
def test_search_refuses_what_the_documented_shape_forbids(api: Api, body: Any) -> None:
    response = api.app_post("/v1/customers", body)

    assert response.status_code == 400
    assert "meta" in response.json()


def test_attributes_answers_each_known_id_with_string_values(api: Api) -> None:
    api.identify(
        "m-1", {"plan": "free", "score": 3, "email_subscription_status": True, "_timestamp": 1700000000}
    )
    api.batch([person("m-2", "identify", attributes={"tags": ["a", "b"], "unsubscribed": True})])

    response = api.app_post("/v1/customers/attributes", {"ids": ["m-2", "ghost", "m-1", "m-2"]})

    assert response.status_code == 200
    customers = [entry["customer"] for entry in response.json()["customers"]]
    assert [c["id"] for c in customers] == ["m-2", "m-1"]  # unknown omitted, repeats answered once
    second, first = customers
    cio_id = api.control("profiles/m-1")["cio_id"]
    assert first["attributes"] == {
        "plan": "free",
        "score": "3",
        "email_subscription_status": "true",
        "id": "m-1",
        "cio_id": cio_id,
    }
    assert first["identifiers"] == {"email": None, "id": "m-1", "cio_id": cio_id}
    assert first["timestamps"]["plan"] == 1700000000
    assert first["unsubscribed"] is False
    assert first["devices"] == []
    assert second["attributes"]["tags"] == '["a","b"]'
    assert second["unsubscribed"] is True


def test_attributes_by_cio_id(api: Api) -> None:
    api.identify("m-1", {"plan": "free"})
    cio_id = api.control("profiles/m-1")["cio_id"]

    response = api.app_post("/v1/customers/attributes", {"ids": [cio_id]}, id_type="cio_id")

    assert [c["customer"]["id"] for c in response.json()["customers"]] == ["m-1"]


@pytest.mark.parametrize(
    ("body", "params"),
    [
        ({"ids": []}, {}),
        ({"ids": [str(i) for i in range(101)]}, {}),
        ({"ids": [1]}, {}),
        ({}, {}),
        ({"ids": ["m-1"]}, {"id_type": "email"}),
        ({"ids": ["m-1"]}, {"id_type": "phone"}),
        ({"ids": ["m-1"]}, {"id_type": "name"}),
    ],
    ids=["empty", "101-ids", "number", "no-ids", "email-not-identifier", "phone", "unknown-id-type"],
)
def test_attributes_refuses_what_the_documented_shape_forbids(
    api: Api, body: dict[str, Any], params: dict[str, str]
) -> None:
    assert api.app_post("/v1/customers/attributes", body, **params).status_code == 400


def test_100_ids_is_the_most_in_one_lookup(api: Api) -> None:
    api.batch([person(f"m-{i}", "identify") for i in range(100)])

    response = api.app_post("/v1/customers/attributes", {"ids": [f"m-{i}" for i in range(100)]})

    assert len(response.json()["customers"]) == 100


@pytest.mark.parametrize("path", ["/v1/customers", "/v1/customers/attributes"])
def test_people_endpoints_need_the_app_key(api: Api, path: str) -> None:
    assert requests.post(f"{api.url}{path}", json=EVERYONE, timeout=5).status_code == 401
    assert api.track.post(f"{api.url}{path}", json=EVERYONE, timeout=5).status_code == 401
    assert api.app.get(f"{api.url}{path}", timeout=5).status_code == 405


def test_with_email_as_an_identifier_the_email_is_shown_and_can_be_looked_up() -> None:
    with Emulator(email_identifier="unique") as emulator:
        api = Api(emulator)
        api.identify("m-1", {"email": "Ada@Example.com"})

        [identifiers] = search(api, EVERYONE)["identifiers"]
        response = api.app_post("/v1/customers/attributes", {"ids": ["ada@example.com"]}, id_type="email")
        api.close()

    assert identifiers["email"] == "Ada@Example.com"
    assert [c["customer"]["id"] for c in response.json()["customers"]] == ["m-1"]


def test_seeded_people_are_there_without_any_request(api: Api, cio_emulator: Emulator) -> None:
    """`state.seed` builds a workspace of a given shape (benchmarks, sweep tests) without API traffic."""
    api.identify("m-0", {"plan": "free"})
    before = cio_emulator.stats()["requests_total"]
    assert (
        cio_emulator.state.seed([("m-1", {"plan": "paid", "n": 3, "gone": None}), ("m-0", {"extra": True})])
        == 2
    )
    assert cio_emulator.stats()["requests_total"] == before
    ids, _ = everyone(api, limit=10)
    assert ids == ["m-0", "m-1"]
    assert api.profiles() == {"m-0": {"plan": "free", "extra": True}, "m-1": {"plan": "paid", "n": 3}}
    answer = api.app_post("/v1/customers/attributes", {"ids": ["m-1"]}).json()
    assert answer["customers"][0]["customer"]["attributes"]["n"] == "3"
