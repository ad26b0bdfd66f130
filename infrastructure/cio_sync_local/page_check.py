"""`make page-check`: the emulator page, rendered by a real headless Chromium at 800 px, shows what a person
must see.

An emulator on a free port gets a demo's worth of traffic through its public APIs (people identified,
updated and deleted, events, a sent and a suppressed email, a fault setting). One Chromium, driven over
DevTools, loads the page and hands back its DOM once the page's script has rendered it. Checked here: ISO
times, the key attribute columns, a timeline with every kind of entry (the deleted person included),
masked recipients and links, no markup injected from data, the faults shown, an unsubscribe button, a
filter from the address, and a page no wider than the window. Then the live page must refresh by itself,
and its fault buttons, person filter and unsubscribe button must work. A screenshot is left in
`.local/page-check.png` for a look by eye.

Not part of `make test`: it needs Debian's chromium (`apt-get install -y chromium`; CHROMIUM=path
overrides /usr/bin/chromium).
"""

from __future__ import annotations

import base64
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from cio_sync_local.devtools import DevToolsError, Page, open_page
from cio_sync_local.emulator import Emulator

WIDTH = 800
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)
ISO_TIME = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}Z$")
RESET_LINK = "https://example.org/reset/token-4711"
ADDRESSES = ("member.one@example.org", "ada.lovelace@example.org")
INJECTED = '<img src="x" id="injected">'
NEWCOMER = "5f1a0000000000000000ne11"
WAIT_S = 30.0
"""How long a live page may take to show a change (it refreshes every 2 s); a generous bound, not a goal."""


READ_DOM = """(() => {
  const attributes = (node) => Object.fromEntries([...node.attributes].map((a) => [a.name, a.value]));
  const rows = (table) => [...document.querySelectorAll(`#${table} tr`)]
    .map((tr) => ({attrs: attributes(tr), cells: [...tr.querySelectorAll(":scope > td")]
      .map((td) => td.textContent.trim())}))
    .filter((row) => row.cells.length);
  const text = (id) => document.getElementById(id).textContent;
  return {html: document.documentElement.outerHTML,
    rows: {people: rows("people"), timeline: rows("timeline")},
    ids: [...document.querySelectorAll("[id]")].map((node) => node.id),
    headers: [...document.querySelectorAll("#people th")].map((th) => th.textContent.trim()),
    buttons: [...document.querySelectorAll("button")].map(attributes),
    texts: {faults: text("faults"), counters: text("counters")}, body: attributes(document.body)};
})()"""
"""The parts of the rendered page the checks read, taken from the browser's own DOM (`Dom`)."""


@dataclass(frozen=True)
class Dom:
    """The page as rendered: its HTML, table rows (attributes, cells as text), ids, people's column
    headers, buttons' attributes, the faults and counters lines, and the body's attributes."""

    html: str
    rows: dict[str, list[dict[str, Any]]]
    ids: list[str]
    headers: list[str]
    buttons: list[dict[str, str]]
    texts: dict[str, str]
    body: dict[str, str]


def seed(url: str, emulator: Emulator) -> dict[str, str]:
    """A demo's worth of traffic through the emulator's public APIs; returns the people by role."""
    track = requests.Session()
    track.auth = (emulator.site_id, emulator.track_api_key)
    app = requests.Session()
    app.headers["Authorization"] = f"Bearer {emulator.app_api_key}"
    people = {
        "ada": "5f1a0000000000000000ada1",
        "grace": "5f1a00000000000000000ace",
        "one": "5f1a000000000000000000e1",
    }

    def ok(response: requests.Response) -> None:
        if response.status_code != 200:
            raise SystemExit(
                f"seeding failed: {response.request.method} {response.url} -> {response.status_code}"
            )

    def identify(who: str, **attributes: Any) -> None:
        ok(track.put(f"{url}/api/v1/customers/{people[who]}", json=attributes, timeout=10))

    identify(
        "ada",
        email=ADDRESSES[1],
        first_name="Ada",
        email_subscription_status=True,
        unsubscribed=False,
        source_detail=INJECTED,
    )
    identify("grace", phone="+15555550123", sms_status="active", first_name="Grace")
    identify("one", email=ADDRESSES[0], email_subscription_status=True, unsubscribed=False)
    identify("ada", email_subscription_status=False, unsubscribed=True)
    ok(track.delete(f"{url}/api/v1/customers/{people['ada']}", timeout=10))
    ok(
        track.post(
            f"{url}/api/v1/customers/{people['grace']}/events",
            json={"name": "promotions_resubscribe", "data": {"topic": "news"}},
            timeout=10,
        )
    )
    identify("one", unsubscribed=True, email_subscription_status=False)
    for send_to_unsubscribed in (True, False):
        ok(
            app.post(
                f"{url}/v1/send/email",
                timeout=10,
                json={
                    "transactional_message_id": "forgot_password",
                    "to": ADDRESSES[0],
                    "identifiers": {"id": people["one"]},
                    "message_data": {"reset_url": RESET_LINK},
                    "send_to_unsubscribed": send_to_unsubscribed,
                },
            )
        )
    identify("grace", sms_status="active", last_messaged_at=1_700_000_000)
    ok(requests.post(f"{url}/_emulator/faults", json={"rate_limit_per_s": 5}, timeout=10))
    return people


def rendered_dom(page: Page, url: str) -> Dom:
    """The page at `url` once its script has rendered it (the body carries its width)."""
    page.call("Page.navigate", url=url)
    rendered = "document.body?.dataset.scrollWidth !== undefined && location.href"
    if page.wait_for(rendered, WAIT_S, lambda href: href == url) != url:
        raise DevToolsError(f"{url} was not rendered within {WAIT_S:.0f} s")
    return Dom(**page.evaluate(READ_DOM))


def problems_with_page(dom: Dom, people: dict[str, str]) -> list[str]:
    """What a person could not see, or should not see, on the full page."""
    found: list[str] = []

    def need(condition: bool, what: str) -> None:
        if not condition:
            found.append(what)

    people_rows = dom.rows.get("people", [])
    timeline = dom.rows.get("timeline", [])
    shown = {row["attrs"].get("data-person") for row in people_rows}
    need(shown == {people["grace"], people["one"]}, f"people shown: {sorted(s or '' for s in shown)}")
    need(
        dom.headers[:6] == ["id", "email", "email status", "unsubscribed", "sms", "updated"],
        f"people columns: {dom.headers}",
    )
    types = {row["attrs"].get("data-type") for row in timeline}
    for kind in ("identify", "delete", "event", "email", "email_suppressed"):
        need(kind in types, f"a {kind} in the timeline")
    need(
        any(r["attrs"].get("data-type") == "delete" and r["cells"][2] == people["ada"] for r in timeline),
        "the deleted person's delete in the timeline",
    )
    need(
        bool(timeline) and all(ISO_TIME.match(row["cells"][0]) for row in timeline),
        "ISO times in the timeline",
    )
    need(all(ISO_TIME.match(row["cells"][5]) for row in people_rows), "ISO times for people")
    need(any("to m***@example.org: sent" in row["cells"][3] for row in timeline), "the masked recipient")
    need(any("to unsubscribed: no" in row["cells"][3] for row in timeline), "the email's sending options")
    need(any("https://example.org/***" in row["cells"][3] for row in timeline), "the email's data, masked")
    for personal in (*ADDRESSES, RESET_LINK, "+15555550123", "Grace"):
        need(personal not in dom.html, f"{personal!r} masked")
    need("injected" not in dom.ids, "data shown as text, never as markup")
    need("rate limit 5/s" in dom.texts.get("faults", ""), f"faults shown: {dom.texts.get('faults')!r}")
    unsubscribe = {b.get("data-unsubscribe") for b in dom.buttons if b.get("data-unsubscribe")}
    need(unsubscribe == {people["grace"]}, f"an unsubscribe button for the subscribed only: {unsubscribe}")
    for label in ("Rate limit 5/s", "Errors 30%", "Outage", "Clear faults"):
        need(label in dom.html, f"the {label!r} control")
    width = dom.body.get("data-scroll-width", "")
    need(width.isdigit() and int(width) <= WIDTH, f"the page fits {WIDTH} px (it is {width or '?'} px wide)")
    return found


def problems_with_filter(dom: Dom, people: dict[str, str]) -> list[str]:
    """`/?person=...&type=identify`: only that person's identifies, and only them among people."""
    timeline = dom.rows.get("timeline", [])
    found = []
    if not timeline or any(
        row["cells"][2] != people["grace"] or row["attrs"].get("data-type") != "identify" for row in timeline
    ):
        found.append("the filter from the address: only grace's identifies")
    if {row["attrs"].get("data-person") for row in dom.rows.get("people", [])} != {people["grace"]}:
        found.append("the person filter applied to people")
    return found


def _click(page: Page, label: str) -> None:
    page.evaluate(f"[...document.querySelectorAll('button')].find(b => b.textContent === {label!r}).click()")


def _type_person(page: Page, text: str) -> None:
    page.evaluate(
        f"(() => {{ const box = document.getElementById('person'); box.value = {text!r};"
        " box.dispatchEvent(new Event('input')); })()"
    )


def _faults(url: str) -> dict[str, Any]:
    faults: dict[str, Any] = requests.get(f"{url}/_emulator/faults", timeout=10).json()
    return faults


def problems_when_used(url: str, page: Page, emulator: Emulator, people: dict[str, str]) -> list[str]:
    """The live page: it refreshes by itself, its fault buttons set the faults, the person filter filters,
    and the unsubscribe button unsubscribes (or says the emulator has no such control yet)."""
    found: list[str] = []
    rows = "document.querySelectorAll('#people tbody tr').length"
    faults_text = "document.getElementById('faults').textContent"
    rendered_dom(page, f"{url}/")
    if page.wait_for(rows, WAIT_S, lambda n: n == 2) != 2:
        found.append("the live page lists the people")
    requests.put(
        f"{url}/api/v1/customers/{NEWCOMER}",
        json={"sms_status": "active"},
        auth=(emulator.site_id, emulator.track_api_key),
        timeout=10,
    ).raise_for_status()
    if not page.wait_for(f"!!document.querySelector('[data-person=\"{NEWCOMER}\"]')", WAIT_S):
        found.append("auto-refresh: a person identified after the page loaded appears by itself")
    _click(page, "Outage")
    if "outage" not in page.wait_for(faults_text, WAIT_S, lambda text: "outage" in text):
        found.append("the Outage button's fault shown")
    if _faults(url).get("fail_ratio") != 1.0:
        found.append("the Outage button sets fail_ratio 1.0")
    _click(page, "Clear faults")
    page.wait_for(faults_text, WAIT_S, lambda text: text == "none")
    if _faults(url).get("fail_ratio") != 0.0 or _faults(url).get("rate_limit_per_s") is not None:
        found.append("the Clear faults button clears them")
    _type_person(page, NEWCOMER[-6:])
    if page.wait_for(rows, WAIT_S, lambda n: n == 1) != 1:
        found.append("the person filter typed in the page")
    _type_person(page, "")
    page.wait_for(rows, WAIT_S, lambda n: n == 3)
    page.evaluate(f"document.querySelector('[data-unsubscribe=\"{people['grace']}\"]').click()")
    outcome = page.wait_for(
        f"document.querySelector('[data-person=\"{people['grace']}\"]').textContent + ' | ' +"
        " document.getElementById('status').textContent",
        WAIT_S,
        lambda text: "Unsubscribe" not in text or "answered 404" in text,
    )
    if "answered 404" in outcome:
        print("page-check: note: the emulator has no POST /_emulator/unsubscribe yet; the page said so")
    elif "Unsubscribe" in outcome:
        found.append("the unsubscribe button unsubscribes the person")
    return found


def main() -> int:
    chromium = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    if not Path(chromium).exists():
        print(f"page-check needs Chromium at {chromium}: apt-get install -y chromium", file=sys.stderr)
        return 2
    screenshot = Path(".local") / "page-check.png"
    screenshot.parent.mkdir(exist_ok=True)
    with Emulator() as emulator:
        people = seed(emulator.url, emulator)
        flags = (*CHROMIUM_FLAGS, f"--window-size={WIDTH},1400")
        with open_page(chromium, flags, f"{emulator.url}/") as page:
            found = problems_with_page(rendered_dom(page, f"{emulator.url}/"), people)
            screenshot.write_bytes(base64.b64decode(page.call("Page.captureScreenshot")["data"]))
            filtered = f"{emulator.url}/?person={people['grace'][-6:]}&type=identify"
            found += problems_with_filter(rendered_dom(page, filtered), people)
            found += problems_when_used(emulator.url, page, emulator, people)
    for problem in found:
        print(f"page-check: missing: {problem}", file=sys.stderr)
    print(f"page-check: {'FAILED' if found else 'passed'}; screenshot at {screenshot}")
    return 1 if found else 0


if __name__ == "__main__":
    raise SystemExit(main())
