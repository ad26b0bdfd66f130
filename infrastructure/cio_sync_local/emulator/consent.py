"""What a person does inside Customer.io (an unsubscribe click, a save on the preference page), and the
reporting webhooks each sends: the `/_emulator` calls and the page's button come here."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from cio_sync_local.emulator.records import PREFERENCES, Profile
from cio_sync_local.emulator.replies import Reply, meta_error, parse_json
from cio_sync_local.emulator.state import EmulatorState
from cio_sync_local.emulator.webhooks import WebhookSender


def _person_data(profile: Profile) -> dict[str, Any]:
    """`data` of a customer event as Customer.io sends it: the person's identifiers."""
    identifiers: dict[str, Any] = {"id": profile.person_id, "cio_id": profile.cio_id}
    data: dict[str, Any] = {"customer_id": profile.person_id, "identifiers": identifiers}
    email = profile.attributes.get("email")
    if isinstance(email, str):
        identifiers["email"] = email
        data["email_address"] = email
    return data


def unsubscribe(state: EmulatorState, sender: WebhookSender, person_id: str, webhooks: bool = True) -> Reply:
    """`webhooks=False` models a reporting webhook lost past Customer.io's retries: the profile changes,
    nothing is sent (the sweep's opt-out walk is what still brings it to the member)."""
    profile = state.unsubscribe(person_id)
    if profile is None:
        return meta_error(404, "no such profile")
    if not webhooks:
        return Reply(200, {"unsubscribed": True, "webhooks_queued": 0})
    queued = sender.publish("customer", "unsubscribed", _person_data(profile), int(profile.updated))
    return Reply(200, {"unsubscribed": True, "webhooks_queued": queued})


def change_preferences(
    state: EmulatorState, sender: WebhookSender, person_id: str, topics: Mapping[str, bool]
) -> Reply:
    profile = state.change_preferences(person_id, topics)
    if profile is None:
        return meta_error(404, "no such profile")
    data = {**_person_data(profile), "content": json.dumps(profile.attributes[PREFERENCES])}
    queued = sender.publish("customer", "cio_subscription_preferences_changed", data, int(profile.updated))
    return Reply(200, {PREFERENCES: profile.attributes[PREFERENCES], "webhooks_queued": queued})


def control(
    state: EmulatorState, sender: WebhookSender, route: str, query: Mapping[str, list[str]], raw: bytes
) -> Reply | None:
    """POST /_emulator/unsubscribe and /_emulator/preferences (None: not one of these routes).

    The person comes from the JSON body's `person_id` or the query's (the page's button posts a form to
    `?person_id=...&page=1` and is sent back to the page). An unsubscribe's `"webhooks": false` sends none.
    """
    if route not in {"/unsubscribe", "/preferences"}:
        return None
    body, problems = parse_json(raw, empty_as={})
    if problems or not isinstance(body, dict):
        body = {}
    person_id = body.get("person_id") or next(iter(query.get("person_id") or []), None)
    if not isinstance(person_id, str) or not person_id:
        return meta_error(400, "person_id is required")
    if route == "/unsubscribe":
        webhooks = body.get("webhooks", True)
        if not isinstance(webhooks, bool):
            return meta_error(400, "webhooks must be true or false")
        reply = unsubscribe(state, sender, person_id, webhooks)
    else:
        topics = body.get("topics")
        if not isinstance(topics, dict) or not all(isinstance(on, bool) for on in topics.values()):
            return meta_error(400, 'topics must be an object like {"topic_1": true}')
        reply = change_preferences(state, sender, person_id, topics)
    if query.get("page") and reply.status == 200:
        return Reply(303, "", content_type="text/plain", headers={"Location": "/"})
    return reply
