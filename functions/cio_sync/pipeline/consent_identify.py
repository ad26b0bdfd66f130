"""A member's identify, split so that no sync undoes an opt-out Customer.io recorded after the table's.

Customer.io keeps an attribute when an identify's `timestamp` is older than that attribute's last change.
People unsubscribe inside Customer.io (an email's link, the preference page, a complaint); the member table
hears of it later, through the reporting webhook, or never. So the consent attributes do not ride in the
member's main identify. Opt-outs (`unsubscribed: true`, a status or topic false) are stamped with the send
time: they always land. Opt-ins are stamped with the member's `email_opt_in_at`, the time the rules saw
their current opt-in: an opt-out Customer.io recorded after it is newer than every opt-in identify
cio-sync can send for it, and Customer.io itself keeps it, whatever order the webhook, the member's writes
and the syncs come in. A later opt-in in the table gets a later stamp and does reach Customer.io.

Pure: the track consumer calls `member_identifies` where it plans a member's profile operation.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from cio_sync.customerio.batch import Identify
from cio_sync.customerio.payloads import JsonValue
from cio_sync.members.profile import EMAIL_TOPIC_ATTRIBUTES, ProfileAttributes

TopicMap = Mapping[str, int]
"""Email topic -> the topic's id in Customer.io's subscription centre (`topic_<id>`)."""

PREFERENCES_PREFIX: Final = "cio_subscription_preferences.topics.topic_"
# The value that means "opted out", per consent attribute of the profile payload.
OPT_OUT_VALUES: Final[Mapping[str, bool]] = {
    "unsubscribed": True,
    "email_subscription_status": False,
    **dict.fromkeys(EMAIL_TOPIC_ATTRIBUTES.values(), False),
}
OPT_IN_AT: Final = "email_opt_in_at"
# Items written before `email_opt_in_at` existed: their opt-in is no later than their creation, and an
# item without `created_at` opted in at the earliest stamp. Either way a change Customer.io holds wins.
EARLIEST_STAMP: Final = 1


def preference_attribute(topic_id: int) -> str:
    """One topic of the subscription centre in JSON dot notation: it updates that topic, keeping the others
    (a nested `cio_subscription_preferences` object would replace every topic at once)."""
    return f"{PREFERENCES_PREFIX}{topic_id}"


def consent_attributes(payload: ProfileAttributes, topic_map: TopicMap) -> dict[str, JsonValue]:
    """The payload's consent attributes, plus the subscription-centre topics the map names."""
    consent: dict[str, JsonValue] = {name: payload[name] for name in OPT_OUT_VALUES if name in payload}
    for topic, topic_id in sorted(topic_map.items(), key=lambda entry: entry[1]):
        consent[preference_attribute(topic_id)] = payload.get(EMAIL_TOPIC_ATTRIBUTES[topic]) is True
    return consent


def is_opt_out(name: str, value: JsonValue) -> bool:
    if name.startswith(PREFERENCES_PREFIX):
        return value is not True
    return value == OPT_OUT_VALUES[name]


def opt_in_stamp(payload: ProfileAttributes, sent_at_s: int) -> int:
    """`email_opt_in_at` in unix seconds (see EARLIEST_STAMP for items without it).

    A stamp after the send is not trusted (a writer's clock ran ahead): stamping the send time instead would
    undo an opt-out Customer.io recorded after the real opt-in. The next candidate stands in; a real opt-in
    written after `sent_at_s` gets its own sync, sent later.
    """
    for name in (OPT_IN_AT, "created_at"):
        value = payload.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and value <= sent_at_s:
            return max(EARLIEST_STAMP, value)
    return EARLIEST_STAMP


def member_identifies(
    member_id: str,
    payload: ProfileAttributes,
    version: int | None,
    sent_at_s: int,
    topic_map: TopicMap,
) -> list[Identify]:
    """The identifies that make Customer.io match `payload`, in order: opt-ins, then the rest, then opt-outs.

    `version` stamps the non-consent attributes as before; `sent_at_s` (taken before the member was read,
    so it is never later than a write the read did not see) stamps the opt-outs. The opt-ins go first:
    Customer.io may keep one timestamp for the whole subscription-centre object, and an opt-out stamped
    later must not make an opt-in of the same sync look old. Opt-outs share the main identify when they
    would carry the same stamp.
    """
    consent = consent_attributes(payload, topic_map)
    main = {name: value for name, value in payload.items() if name not in consent}
    opt_ins = {name: value for name, value in consent.items() if not is_opt_out(name, value)}
    opt_outs = {name: value for name, value in consent.items() if is_opt_out(name, value)}
    operations: list[Identify] = []
    if opt_ins:
        operations.append(Identify(member_id, opt_ins, opt_in_stamp(payload, sent_at_s)))
    if version == sent_at_s:
        operations.append(Identify(member_id, {**main, **opt_outs}, version))
        return operations
    operations.append(Identify(member_id, main, version))
    if opt_outs:
        operations.append(Identify(member_id, opt_outs, sent_at_s))
    return operations


def holds_opt_out(name: str, stored: str | None) -> bool:
    """The profile (as the App API shows it) holds the opt-out side of a consent attribute: a sync would
    not undo it (its opt-in is stamped older), so a sweep comparing attributes must not count it as drift."""
    # The App API shows booleans as "true"/"false" (customerio/people.py `as_stored`, kept out of track's
    # imports).
    return name in OPT_OUT_VALUES and stored == ("true" if OPT_OUT_VALUES[name] else "false")
