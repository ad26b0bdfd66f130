"""The producer API other services call: put well-formed intents on the queues.

Both calls validate their input and raise InvalidRequest (naming the field, never echoing the value)
before anything is sent.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any, Protocol
from urllib.parse import urlsplit

from cio_sync.customerio.batch import MAX_ITEM_BYTES, Event, batch_item
from cio_sync.customerio.payloads import encode
from cio_sync.members.contract import is_member_id
from cio_sync.pipeline.messages import TrackMessage, pack_lanes
from cio_sync.sync.intents import SendEmail, TrackEvent, deterministic_event_id, is_ulid

MAX_EVENT_NAME_BYTES = 100
MAX_REQUEST_ID_LENGTH = 64
REQUEST_ID = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
MAX_URL_LENGTH = 2048
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1"})


class InvalidRequest(ValueError):
    """The caller's input cannot become a message; says which field and why."""


class Publisher(Protocol):
    def publish_track(self, messages: list[TrackMessage]) -> list[int]: ...
    def publish_email(self, intents: list[SendEmail]) -> list[int]: ...


class PublishFailed(RuntimeError):
    """The queue did not take the message; the caller may retry with the same request id."""


DEFAULT_RESET_TTL_S = 60 * 60


class Producer:
    def __init__(
        self,
        publisher: Publisher,
        lanes: int,
        *,
        reset_ttl_s: int = DEFAULT_RESET_TTL_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._publisher = publisher
        self._lanes = lanes
        self._reset_ttl_s = reset_ttl_s
        self._clock = clock

    def request_password_reset(
        self, member_id: str, url: str, request_id: str | None = None, *, valid_for_s: int | None = None
    ) -> str:
        """Queue a forgot-password email carrying the reset URL; returns the intent id.

        Pass the same request_id to retry safely: the email function sends once per member and request.
        The email expires with the link (`valid_for_s`, by default the producer's reset TTL): one that
        cannot be sent in time is parked as expired instead of mailing a dead link.
        """
        _check_member_id(member_id)
        _check_reset_url(url)
        if request_id is not None and not REQUEST_ID.fullmatch(request_id):
            raise InvalidRequest(f"request_id: must be 1 to {MAX_REQUEST_ID_LENGTH} letters, digits or _.:-")
        ttl = self._reset_ttl_s if valid_for_s is None else valid_for_s
        if isinstance(ttl, bool) or not isinstance(ttl, int) or ttl <= 0:
            raise InvalidRequest("valid_for_s: must be a positive number of seconds")
        intent = SendEmail(
            # The member is part of the id: two members' requests never share one, whatever request_id.
            intent_id=f"forgot-password:{member_id}:{request_id or uuid.uuid4().hex}",
            member_id=member_id,
            kind="forgot_password",
            data={"url": url},
            expires_at=int(self._clock()) + ttl,
        )
        if self._publisher.publish_email([intent]):
            raise PublishFailed("the email queue did not accept the message")
        return intent.intent_id

    def track_event(
        self, member_id: str, name: str, data: Mapping[str, Any] | None = None, event_id: str | None = None
    ) -> str:
        """Queue a Customer.io event for a member (sent only if the member has a profile at send time)."""
        _check_member_id(member_id)
        if not isinstance(name, str) or not name.strip():
            raise InvalidRequest("name: must be a non-empty string")
        if len(name.encode()) > MAX_EVENT_NAME_BYTES:
            raise InvalidRequest(f"name: must be at most {MAX_EVENT_NAME_BYTES} bytes")
        if event_id is not None and not is_ulid(event_id):
            raise InvalidRequest("event_id: must be a ULID (Customer.io deduplicates events by it)")
        now_ms = int(time.time() * 1000)
        event_id = event_id or deterministic_event_id(uuid.uuid4().hex, now_ms)
        payload = dict(data or {})
        _check_deliverable(Event(member_id, name, payload, event_id, now_ms // 1000))
        intent = TrackEvent(
            intent_id=event_id, member_id=member_id, name=name, data=payload, timestamp=now_ms // 1000
        )
        if self._publisher.publish_track(pack_lanes([intent], self._lanes)):
            raise PublishFailed("the track queue did not accept the message")
        return intent.intent_id


def _check_deliverable(event: Event) -> None:
    """Refuse what Customer.io's batch would refuse, measured as the track function will send it.

    Customer.io takes 100,000 bytes of event data, but a /api/v2/batch item at most 32,000 bytes (name, id
    and timestamp included): an event over that would only ever be dead-lettered.
    """
    try:
        size = len(encode(batch_item(event)))
    except (TypeError, ValueError) as error:
        raise InvalidRequest("data: must be JSON-serialisable (no NaN, no unpaired surrogates)") from error
    if size > MAX_ITEM_BYTES:
        raise InvalidRequest(
            f"data: the event would be {size} bytes as a Customer.io batch item (at most {MAX_ITEM_BYTES})"
        )


def _check_member_id(member_id: str) -> None:
    if not isinstance(member_id, str) or not is_member_id(member_id):
        raise InvalidRequest("member_id: must be 24 lowercase hex characters")


def _check_reset_url(url: str) -> None:
    if not isinstance(url, str) or len(url) > MAX_URL_LENGTH:
        raise InvalidRequest(f"url: must be a string of at most {MAX_URL_LENGTH} characters")
    parts = urlsplit(url)
    local = parts.hostname in LOCAL_HOSTS
    if parts.scheme != "https" and not (local and parts.scheme == "http"):
        raise InvalidRequest("url: must be an absolute https URL")
    if not parts.netloc:
        raise InvalidRequest("url: must be an absolute https URL")
