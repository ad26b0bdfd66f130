"""The human-readable page at `/`: what a developer checks by eye during `make run`."""

from __future__ import annotations

import json
from html import escape
from typing import Any
from urllib.parse import quote

RECENT = 50
"""How many of the newest events and emails the page lists; the JSON endpoints have them all."""


def _json(value: Any) -> str:
    return escape(json.dumps(value, sort_keys=True, ensure_ascii=False))


def _table(headers: list[str], rows: list[list[str]], empty: str) -> str:
    if not rows:
        return f"<p class='empty'>{escape(empty)}</p>"
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _flag(value: Any) -> str:
    return "yes" if value is True else "no" if value is False else "&ndash;"


def _unsubscribe_button(person_id: str, attributes: dict[str, Any]) -> str:
    """What the unsubscribe link in an email does: posts to `/_emulator/unsubscribe`, back to this page."""
    if attributes.get("unsubscribed") is True:
        return "unsubscribed"
    action = escape(f"/_emulator/unsubscribe?person_id={quote(person_id, safe='')}&page=1")
    return f"<form method='post' action='{action}'><button type='submit'>Unsubscribe</button></form>"


def render_page(
    profiles: dict[str, dict[str, Any]],
    events: list[dict[str, Any]],
    emails: list[dict[str, Any]],
    stats: dict[str, Any],
    activity: list[dict[str, Any]] | None = None,
) -> str:
    """Profiles, the newest events, emails and activity, and the counters, as one escaped HTML page.

    Each email shows the two options that keep it private and deliverable, as Customer.io applies them
    (`effective`): whether its body is kept out of delivery history (`disable_message_retention`) and
    whether it may go to an unsubscribed person (`send_to_unsubscribed`), with what became of it.
    """
    activity = activity or []
    profile_rows = [
        [escape(pid), _json(attrs), _unsubscribe_button(pid, attrs)]
        for pid, attrs in sorted(profiles.items())
    ]
    event_rows = [
        [escape(str(e["person_id"])), escape(str(e["name"])), escape(str(e["id"] or "")), _json(e["data"])]
        for e in reversed(events[-RECENT:])
    ]
    email_rows = [
        [
            escape(str(m["delivery_id"])),
            escape(str(m.get("transactional_message_id", ""))),
            _json(m.get("identifiers", {})),
            _flag(m.get("effective", {}).get("disable_message_retention")),
            _flag(m.get("effective", {}).get("send_to_unsubscribed")),
            escape(str(m.get("status", ""))),
            str(m["queued_at"]),
        ]
        for m in reversed(emails[-RECENT:])
    ]
    activity_rows = [
        [escape(str(a["person_id"])), escape(str(a["type"])), escape(str(a.get("reason", "")))]
        for a in reversed(activity[-RECENT:])
    ]
    by_status = (
        ", ".join(f"{escape(k)}: {v}" for k, v in stats.get("requests_by_status", {}).items()) or "none"
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Customer.io emulator</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem; color: #222; }}
table {{ border-collapse: collapse; margin-bottom: 1.5rem; }}
th, td {{ border: 1px solid #ccc; padding: .3rem .6rem; text-align: left; vertical-align: top; }}
th {{ background: #f3f3f3; }} td {{ font-family: ui-monospace, monospace; font-size: .9rem; }}
.empty {{ color: #777; }}
</style></head>
<body>
<h1>Customer.io emulator</h1>
<p>Requests by status: {by_status}. Operations applied: {stats.get("operations_applied", 0)}.
Peak requests in one second: {stats.get("peak_requests_per_second", 0)}.
JSON: <a href="/_emulator/profiles">profiles</a>, <a href="/_emulator/events">events</a>,
<a href="/_emulator/emails">emails</a>, <a href="/_emulator/requests">requests</a>,
<a href="/_emulator/activity">activity</a>, <a href="/_emulator/stats">stats</a>,
<a href="/_emulator/config">config</a>, <a href="/_emulator/webhooks">reporting webhooks</a>
({stats.get("webhooks_pending", 0)} pending).</p>
<h2>Profiles ({len(profiles)})</h2>
{_table(["id", "attributes", ""], profile_rows, "No profiles.")}
<h2>Recent events ({len(events)} in all)</h2>
{_table(["person", "name", "event id", "data"], event_rows, "No events.")}
<h2>Recent emails ({len(emails)} in all)</h2>
{
        _table(
            [
                "delivery id",
                "message",
                "identifiers",
                "message retention disabled",
                "send to unsubscribed",
                "status",
                "queued at",
            ],
            email_rows,
            "No emails.",
        )
    }
<h2>Recent activity ({len(activity)} in all)</h2>
{_table(["person", "type", "reason"], activity_rows, "No activity.")}
</body></html>
"""
