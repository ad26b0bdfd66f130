"""Northstar's subscription rules as pure functions of (old item, new item).

One function decides topics, statuses and `promotions_muted_at` for every write, so the model's write
path and the stream function (which sees raw writes by other services) cannot disagree.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from cio_sync.members.contract import (
    DEFAULT_SMS_TOPICS,
    SUBSCRIBED_SMS_STATUSES,
    UNSUBSCRIBED_SMS_STATUSES,
    InvalidMember,
    MemberItem,
    is_iso_timestamp,
    new_member_id,
    parse_iso,
    validate_member,
    without_absent,
)

MUTED_AT = "promotions_muted_at"
# When the rules last saw the member opt in to email: the stamp of every opt-in identify, so Customer.io
# keeps an opt-out it recorded later (docs/member-contract.md, "Consent in Customer.io").
EMAIL_OPT_IN_AT = "email_opt_in_at"
# When the rules last saw the member opt out of email (status false, or a topic dropped): the consent
# function applies no Customer.io opt-in older than it, so a late event cannot undo a table opt-out.
EMAIL_OPT_OUT_AT = "email_opt_out_at"
EMAIL_CIO_OPT_OUT_AT = "email_cio_opt_out_at"  # when Customer.io reported an opt-out (consent function)
EMAIL_STATUS = "email_subscription_status"
EMAIL_TOPICS_FIELD = "email_subscription_topics"
SMS_STATUS = "sms_status"
SMS_TOPICS_FIELD = "sms_subscription_topics"
WEB_SIGNUP_TOPIC = "community"


def is_email_subscribed(item: Mapping[str, Any]) -> bool:
    return item.get(EMAIL_STATUS) is True


def has_subscribed_sms_status(item: Mapping[str, Any]) -> bool:
    """The status half of SMS subscription; the rules use this (Northstar did), the profile needs a mobile."""
    return item.get(SMS_STATUS) in SUBSCRIBED_SMS_STATUSES


def is_sms_subscribed(item: Mapping[str, Any]) -> bool:
    return has_subscribed_sms_status(item) and bool(item.get("mobile"))


# Everything `is_profile_eligible` reads: a reader that needs only the decision reads only these.
ELIGIBILITY_FIELDS: Final = ("id", MUTED_AT, EMAIL_STATUS, SMS_STATUS, "mobile")


def is_profile_eligible(item: Mapping[str, Any] | None) -> bool:
    """The invariant: a member has a Customer.io profile exactly when this is true."""
    if item is None:
        return False
    return item.get(MUTED_AT) is None and (is_email_subscribed(item) or is_sms_subscribed(item))


def _topics(item: Mapping[str, Any], field: str) -> list[str]:
    return list(item.get(field) or [])


def _topics_changed(old: Mapping[str, Any], new: Mapping[str, Any], field: str) -> bool:
    # Topics are a set: reordering them is not a subscription change.
    return set(_topics(old, field)) != set(_topics(new, field))


def apply_subscription_rules(old: Mapping[str, Any] | None, new: Mapping[str, Any], now: str) -> MemberItem:
    """Return `new` with topics, statuses and the mute adjusted for the write old -> new.

    A fixpoint: applying it again to its own result (same old item, any `now`) changes nothing, and a
    follow-up write that only sets the `promotions_muted_at` it decided changes nothing either.
    """
    result: MemberItem = dict(new)
    if old is None:
        _apply_creation_rules(result)
        stamp_if_due(EMAIL_OPT_IN_AT, opts_in_to_email(old, result), old, new, result=result, now=now)
        return result

    new_email_topics = _topics(new, EMAIL_TOPICS_FIELD)
    subscribing_email = _topics_changed(old, new, EMAIL_TOPICS_FIELD) and bool(new_email_topics)
    unsubscribing_email = old.get(EMAIL_STATUS) != new.get(EMAIL_STATUS) and new.get(EMAIL_STATUS) is False
    if unsubscribing_email:
        result[EMAIL_TOPICS_FIELD] = []
    elif subscribing_email:
        # Members subscribe to email by choosing topics; an empty topic list never unsubscribes.
        result[EMAIL_STATUS] = True

    subscribing_sms = unsubscribing_sms = False
    if old.get(SMS_STATUS) != new.get(SMS_STATUS):
        if new.get(SMS_STATUS) in UNSUBSCRIBED_SMS_STATUSES:
            unsubscribing_sms = True
            result[SMS_TOPICS_FIELD] = []
        elif new.get(SMS_STATUS) in SUBSCRIBED_SMS_STATUSES:
            subscribing_sms = True
            if not _topics(new, SMS_TOPICS_FIELD):
                result[SMS_TOPICS_FIELD] = list(DEFAULT_SMS_TOPICS)

    # A topic pick that loses to the same write's email unsubscribe subscribes nothing: it never unmutes.
    if result.get(MUTED_AT) is not None and (
        (subscribing_email and not unsubscribing_email) or subscribing_sms
    ):
        result[MUTED_AT] = None
    # Decided after the unmute, so it wins. "Subscribed to the other" is judged on the adjusted item.
    if (
        (unsubscribing_sms and unsubscribing_email)
        or (unsubscribing_sms and not is_email_subscribed(result))
        or (unsubscribing_email and not has_subscribed_sms_status(result))
    ):
        # A write that already carries a fresh mute (the model decided it; the stream now re-checks the
        # same write with a later `now`) keeps its time, so re-applying the rules never rewrites it.
        result[MUTED_AT] = new[MUTED_AT] if is_fresh_stamp(MUTED_AT, old, new) else now
    stamp_if_due(EMAIL_OPT_IN_AT, opts_in_to_email(old, result), old, new, result=result, now=now)
    stamp_if_due(EMAIL_OPT_OUT_AT, opts_out_of_email(old, result), old, new, result=result, now=now)
    return result


def opts_in_to_email(old: Mapping[str, Any] | None, result: Mapping[str, Any]) -> bool:
    """The write leaves the member email-subscribed and either subscribes them or adds an email topic."""
    if not is_email_subscribed(result):
        return False
    if old is None or not is_email_subscribed(old):
        return True
    return bool(set(_topics(result, EMAIL_TOPICS_FIELD)) - set(_topics(old, EMAIL_TOPICS_FIELD)))


def opts_out_of_email(old: Mapping[str, Any] | None, result: Mapping[str, Any]) -> bool:
    """The write ends an email subscription, or drops a topic of a subscribed member."""
    if old is None or not is_email_subscribed(old):
        return False
    if not is_email_subscribed(result):
        return True
    return bool(set(_topics(old, EMAIL_TOPICS_FIELD)) - set(_topics(result, EMAIL_TOPICS_FIELD)))


def stamp_if_due(
    name: str,
    due: bool,
    old: Mapping[str, Any] | None,
    new: Mapping[str, Any],
    *,
    result: MemberItem,
    now: str,
) -> None:
    # Like the mute: a write that already carries a fresh stamp (the model ruled on it; the stream now
    # re-checks it) keeps it, so the rules stay a fixpoint and a replay never moves it.
    if due:
        result[name] = new[name] if is_fresh_stamp(name, old, new) else now


def is_fresh_stamp(name: str, old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> bool:
    """The write sets a stamp of its own: a new value and a timestamp (another service's number or text
    there would hide the opt-out from the consent function, which reads stamps as times)."""
    value = new.get(name)
    return isinstance(value, str) and value != (old or {}).get(name) and is_iso_timestamp(value)


def opt_out_in_order(landed_on: Mapping[str, Any], decided: MemberItem, now: str) -> None:
    """A raw writer's own opt-out stamp from before the opt-in it ends (a clock behind) would read as the
    older of the two and let a late Customer.io echo undo the opt-out: the record's time stands instead.
    Not Customer.io's own opt-out, which the consent function stamps with the event's time and
    `email_cio_opt_out_at` equal to it (docs/member-contract.md)."""
    value, opted_in = decided.get(EMAIL_OPT_OUT_AT), landed_on.get(EMAIL_OPT_IN_AT)
    if value in (landed_on.get(EMAIL_OPT_OUT_AT), decided.get(EMAIL_CIO_OPT_OUT_AT)):
        return
    if not (isinstance(value, str) and isinstance(opted_in, str)):
        return
    if is_iso_timestamp(value) and is_iso_timestamp(opted_in) and parse_iso(value) < parse_iso(opted_in):
        decided[EMAIL_OPT_OUT_AT] = now


def _apply_creation_rules(item: MemberItem) -> None:
    """Northstar's `creating` hook: topics imply an email subscription; SMS subscribers get default topics."""
    if _topics(item, EMAIL_TOPICS_FIELD):
        item[EMAIL_STATUS] = True
    if has_subscribed_sms_status(item) and not _topics(item, SMS_TOPICS_FIELD):
        item[SMS_TOPICS_FIELD] = list(DEFAULT_SMS_TOPICS)


def _new_member(fields: Mapping[str, Any], now: str) -> MemberItem:
    item = without_absent(fields)
    item["id"] = item.get("id") or new_member_id()
    if isinstance(item.get("email"), str):
        item["email"] = item["email"].strip().lower()
    item.setdefault("created_at", now)
    item["updated_at"] = now
    item[MUTED_AT] = None
    return item


def web_signup(fields: Mapping[str, Any], now: str) -> MemberItem:
    """A web sign-up: adds the `community` topic, so the member is email-subscribed by default."""
    item = _new_member(fields, now)
    if not item.get("email"):
        raise InvalidMember("email", "is required for a web sign-up")
    item[EMAIL_TOPICS_FIELD] = list(dict.fromkeys([*_topics(item, EMAIL_TOPICS_FIELD), WEB_SIGNUP_TOPIC]))
    result = apply_subscription_rules(None, item, now)
    validate_member(result)
    return result


def sms_signup(fields: Mapping[str, Any], now: str) -> MemberItem:
    """An SMS sign-up: `sms_status` active with the default SMS topics unless topics are given."""
    item = _new_member(fields, now)
    if not item.get("mobile"):
        raise InvalidMember("mobile", "is required for an SMS sign-up")
    item[SMS_STATUS] = "active"
    result = apply_subscription_rules(None, item, now)
    validate_member(result)
    return result


def deletion_request(item: Mapping[str, Any], now: str) -> MemberItem:
    """Unsubscribe from both channels and stamp the request; the member always ends up muted."""
    new = dict(item)
    new.update(
        {
            EMAIL_STATUS: False,
            EMAIL_TOPICS_FIELD: [],
            SMS_STATUS: "stop",
            SMS_TOPICS_FIELD: [],
            "deletion_requested_at": now,
            "updated_at": now,
        }
    )
    result = apply_subscription_rules(item, new, now)
    # Always a fresh mute time, even for a member muted already: the write must be visible in the stream
    # image, so a resubscribe decision still pending for an earlier raw write cannot outlive the request.
    result[MUTED_AT] = now
    return result


def admin_mute(item: Mapping[str, Any], now: str) -> MemberItem:
    """An admin mute: `promotions_muted_at` becomes now, whatever the subscriptions."""
    new = dict(item)
    new.update({MUTED_AT: now, "updated_at": now})
    return apply_subscription_rules(item, new, now)
