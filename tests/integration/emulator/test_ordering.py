"""Update ordering: an identify carrying an older `_timestamp` (v1) or `timestamp` (v2) than the one that
last wrote an attribute never overwrites it, whatever order the requests arrive in.

Customer.io's Track document: "The Unix timestamp for when the attribute update occurred. This can be used
to control the order of attribute updates when multiple requests are sent in rapid succession."
"""

from __future__ import annotations

from tests.integration.emulator.support import Api, person

NEWER = 1_700_000_200
OLDER = 1_700_000_100


def identify_v2(person_id: str, timestamp: int | None, **attributes: object) -> dict[str, object]:
    item = person(person_id, "identify", attributes=attributes)
    if timestamp is not None:
        item["timestamp"] = timestamp
    return item


def test_v1_a_late_older_identify_does_not_overwrite_a_newer_one(api: Api) -> None:
    api.identify("m-1", {"_timestamp": NEWER, "plan": "paid", "sms_status": "active"})

    assert api.identify("m-1", {"_timestamp": OLDER, "plan": "free", "source": "sms"}).status_code == 200

    assert api.profiles()["m-1"] == {"plan": "paid", "sms_status": "active", "source": "sms"}


def test_v1_in_order_the_newer_identify_wins(api: Api) -> None:
    api.identify("m-1", {"_timestamp": OLDER, "plan": "free"})

    api.identify("m-1", {"_timestamp": NEWER, "plan": "paid"})

    assert api.profiles()["m-1"] == {"plan": "paid"}


def test_v2_entity_a_late_older_identify_does_not_overwrite_a_newer_one(api: Api) -> None:
    api.entity(identify_v2("m-1", NEWER, plan="paid"))

    assert api.entity(identify_v2("m-1", OLDER, plan="free", source="sms")).status_code == 200

    assert api.profiles()["m-1"] == {"plan": "paid", "source": "sms"}


def test_v2_batch_two_identifies_out_of_order_in_one_batch(api: Api) -> None:
    response = api.batch([identify_v2("m-1", NEWER, plan="paid"), identify_v2("m-1", OLDER, plan="free")])

    assert response.status_code == 200
    assert api.profiles()["m-1"] == {"plan": "paid"}


def test_v2_batches_arriving_out_of_order(api: Api) -> None:
    api.batch([identify_v2("m-1", NEWER, plan="paid"), identify_v2("m-2", NEWER, plan="paid")])

    api.batch([identify_v2("m-1", OLDER, plan="free"), identify_v2("m-2", NEWER + 1, plan="gold")])

    assert api.profiles() == {"m-1": {"plan": "paid"}, "m-2": {"plan": "gold"}}


def test_v1_and_v2_timestamps_order_the_same_attributes(api: Api) -> None:
    api.batch([identify_v2("m-1", NEWER, plan="paid")])

    api.identify("m-1", {"_timestamp": OLDER, "plan": "free"})

    assert api.profiles()["m-1"] == {"plan": "paid"}


def test_a_newer_removal_is_not_undone_by_a_late_older_value(api: Api) -> None:
    api.identify("m-1", {"_timestamp": OLDER - 50, "first_name": "Ada", "plan": "free"})
    api.identify("m-1", {"_timestamp": NEWER, "first_name": None})

    api.batch([identify_v2("m-1", OLDER, first_name="Grace")])

    assert api.profiles()["m-1"] == {"plan": "free"}


def test_equal_timestamps_apply_in_arrival_order(api: Api) -> None:
    api.identify("m-1", {"_timestamp": NEWER, "plan": "free"})

    api.identify("m-1", {"_timestamp": NEWER, "plan": "paid"})

    assert api.profiles()["m-1"] == {"plan": "paid"}


def test_an_update_without_a_timestamp_always_applies(api: Api) -> None:
    """Documented choice: only timestamped updates are ordered; one without applies as it arrives."""
    api.identify("m-1", {"_timestamp": NEWER, "plan": "paid"})

    api.identify("m-1", {"plan": "free"})

    assert api.profiles()["m-1"] == {"plan": "free"}


def test_a_delete_is_not_ordered_by_timestamps(api: Api) -> None:
    """Customer.io documents no timestamp on deletes: a delete removes the person and their update
    history, and a later identify (whatever its timestamp) creates them again, as the Track document
    warns ("Calls that update customers by ID can also create a customer")."""
    api.identify("m-1", {"_timestamp": NEWER, "plan": "paid"})
    api.delete("m-1")

    api.batch([identify_v2("m-1", OLDER, plan="free")])

    assert api.profiles() == {"m-1": {"plan": "free"}}


def test_app_api_timestamps_show_the_update_time_that_won(api: Api) -> None:
    api.batch([identify_v2("m-1", NEWER, plan="paid")])
    api.batch([identify_v2("m-1", OLDER, plan="free")])

    [customer] = api.app_post("/v1/customers/attributes", {"ids": ["m-1"]}).json()["customers"]

    assert customer["customer"]["attributes"]["plan"] == "paid"
    assert customer["customer"]["timestamps"]["plan"] == NEWER
