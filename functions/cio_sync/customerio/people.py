"""The App API's people, in the domain's words: search pages, attributes as strings, the filters we send.

Customer.io documents (https://docs.customer.io/integrations/api/app/tag/customers/getpeoplefilter/ and
.../getPeopleById/):
- `POST /v1/customers?limit=&start=` with `{"filter": ...}` answers `{"identifiers": [{"email", "id",
  "cio_id"}], "ids": [...], "next": "..."}`, up to 1000 people a page; `next` is the following page's
  `start`. `email` is null unless email is an identifier of the workspace.
- `POST /v1/customers/attributes` with `{"ids": [1 to 100 ids]}` answers `{"customers": [{"customer":
  {"id", "attributes", ...}}]}`; ids that do not exist are left out; "Attributes are all stored as strings".

Pure: parsing only. A reply of another shape is a `PermanentError` naming what is wrong, never a value.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from cio_sync.customerio.errors import PermanentError

MAX_SEARCH_LIMIT: Final = 1000
MAX_ATTRIBUTE_IDS: Final = 100
# Everyone in the workspace who has an `id`. Customer.io has no "match all" filter; people identified by
# email alone have no `id`, and cio-sync (which identifies by id) cannot have made them.
EVERYONE_WITH_AN_ID: Final[Mapping[str, Any]] = {"attribute": {"field": "id", "operator": "exists"}}
# Everyone with an `id` whom Customer.io holds as unsubscribed (it stores the attribute as `true`): the
# sweep's opt-out walk. Conditions combine with `and` (Customer.io's filter schema: one property a node).
UNSUBSCRIBED_WITH_AN_ID: Final[Mapping[str, Any]] = {
    "and": [{"attribute": {"field": "unsubscribed", "operator": "eq", "value": "true"}}, EVERYONE_WITH_AN_ID]
}


class UnexpectedReply(PermanentError):
    """Customer.io answered 2xx with a body of another shape than documented."""

    def __init__(self, what: str) -> None:
        super().__init__(None, f"Customer.io {what}")


@dataclass(frozen=True)
class Person:
    """One person as a search page lists them. `id` is None for someone identified by email alone."""

    id: str | None
    cio_id: str | None
    has_email_identifier: bool  # the workspace uses email as an identifier (Customer.io shows it then)


@dataclass(frozen=True)
class StoredProfile:
    """One person's attributes as Customer.io stores them (strings) and when each was last set (unix
    seconds; an attribute without a whole-number time has none): the consent read-back orders by them."""

    attributes: Mapping[str, str]
    timestamps: Mapping[str, int]


@dataclass(frozen=True)
class PeoplePage:
    people: tuple[Person, ...]
    next_start: str | None  # None on the last page


def search_body(filter_: Mapping[str, Any]) -> dict[str, Any]:
    return {"filter": dict(filter_)}


def email_filter(email: str) -> dict[str, Any]:
    """People whose `email` attribute equals this value (Customer.io compares attribute strings)."""
    return {"attribute": {"field": "email", "operator": "eq", "value": email}}


def parse_people_page(reply: Any) -> PeoplePage:
    """A search reply -> its people and the next page's cursor (an empty or absent `next` ends the walk)."""
    if not isinstance(reply, Mapping):
        raise UnexpectedReply("search answered something other than a JSON object")
    identifiers = reply.get("identifiers")
    if identifiers is None:
        # Older answers carry `ids` only.
        ids = reply.get("ids")
        if not isinstance(ids, list):
            raise UnexpectedReply("search answered neither identifiers nor ids")
        identifiers = [{"id": value} for value in ids]
    if not isinstance(identifiers, list):
        raise UnexpectedReply("search answered identifiers that are not a list")
    people = tuple(_person(entry) for entry in identifiers)
    next_start = reply.get("next")
    if next_start is not None and not isinstance(next_start, str):
        raise UnexpectedReply("search answered a next cursor that is not a string")
    return PeoplePage(people, next_start or None)


def _person(entry: Any) -> Person:
    if not isinstance(entry, Mapping):
        raise UnexpectedReply("search answered an identifier that is not an object")
    person_id = _text_or_none(entry.get("id"))
    cio_id = _text_or_none(entry.get("cio_id"))
    return Person(person_id, cio_id, has_email_identifier=bool(entry.get("email")))


def _text_or_none(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise UnexpectedReply("search answered an identifier that is not a string")
    return str(value)


def parse_attributes(reply: Any) -> dict[str, dict[str, str]]:
    """An attributes reply -> person id -> attribute name -> value as Customer.io stores it (a string)."""
    if not isinstance(reply, Mapping) or not isinstance(reply.get("customers"), list):
        raise UnexpectedReply("attributes answered no customers list")
    found: dict[str, dict[str, str]] = {}
    for entry in reply["customers"]:
        customer = entry.get("customer") if isinstance(entry, Mapping) else None
        if not isinstance(customer, Mapping):
            raise UnexpectedReply("attributes answered a customer that is not an object")
        attributes = customer.get("attributes")
        person_id = customer.get("id")
        if person_id is None and isinstance(attributes, Mapping):
            person_id = attributes.get("id")
        if not isinstance(person_id, str) or not isinstance(attributes, Mapping):
            raise UnexpectedReply("attributes answered a customer without an id or attributes")
        found[person_id] = {str(name): as_stored(value) for name, value in attributes.items()}
    return found


def parse_timestamps(reply: Any) -> dict[str, dict[str, int]]:
    """An attributes reply -> person id -> attribute name -> when Customer.io last set it (unix seconds).

    The App API documents `timestamps` beside `attributes`; a reply without them gives no entry, a value
    that is not a whole number is left out (they explain, they never decide).
    """
    stamps: dict[str, dict[str, int]] = {}
    for entry in reply.get("customers", []) if isinstance(reply, Mapping) else []:
        customer = entry.get("customer") if isinstance(entry, Mapping) else None
        if not isinstance(customer, Mapping) or not isinstance(customer.get("timestamps"), Mapping):
            continue
        attributes = customer.get("attributes")
        person_id = customer.get("id") or (attributes.get("id") if isinstance(attributes, Mapping) else None)
        if isinstance(person_id, str):
            stamps[person_id] = {
                str(name): value
                for name, value in customer["timestamps"].items()
                if isinstance(value, int) and not isinstance(value, bool)
            }
    return stamps


def parse_profiles(reply: Any) -> dict[str, StoredProfile]:
    """An attributes reply -> person id -> their attributes and timestamps (one request serves both)."""
    stamps = parse_timestamps(reply)
    return {
        person_id: StoredProfile(attributes, stamps.get(person_id, {}))
        for person_id, attributes in parse_attributes(reply).items()
    }


def as_stored(value: Any) -> str:
    """A value as the App API shows it ("Attributes are all stored as strings"): booleans `true`/`false`,
    numbers their JSON text, arrays and objects compact JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def chunks(values: Sequence[str], size: int) -> list[Sequence[str]]:
    return [values[start : start + size] for start in range(0, len(values), size)]
