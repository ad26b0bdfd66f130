"""The preflight against the emulator: one line per check, and a wrong key or region says so plainly."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from cio_sync.adapters.customerio.app_client import AppClient
from cio_sync.adapters.customerio.credentials import Credentials
from cio_sync.adapters.customerio.preflight import (
    check_app,
    check_messages,
    check_placeholder,
    check_track,
    passed,
)
from cio_sync.adapters.customerio.track_client import TrackClient
from cio_sync.adapters.customerio.transport_policy import RetryPolicy
from cio_sync_local.emulator import Emulator
from tests.integration.customerio.conftest import EMULATOR_CREDENTIALS

pytestmark = pytest.mark.integration

ONE_TRY = RetryPolicy(max_attempts=1)


@pytest.fixture(scope="module")
def eu_workspace() -> Iterator[Emulator]:
    with Emulator(region="eu") as emulator:
        yield emulator


def test_a_right_configuration_passes_every_check(cio_emulator: Emulator) -> None:
    track = TrackClient(EMULATOR_CREDENTIALS, base_url=cio_emulator.url, retry=ONE_TRY)
    app = AppClient(EMULATOR_CREDENTIALS, base_url=cio_emulator.url, retry=ONE_TRY)
    checks = [
        check_track(track, "us"),
        check_app(app, "us"),
        check_placeholder("cio-sync-transactional"),
        *check_messages(app, [("forgot_password", "1"), ("password_updated", "password_updated")]),
    ]
    assert passed(checks), [check.line() for check in checks]
    assert [check.ok for check in checks] == [True, True, True, True, None]  # a trigger name: unchecked


def test_a_wrong_track_key_fails_with_one_line(cio_emulator: Emulator) -> None:
    wrong = Credentials("site", "wrong-key", "wrong-key")
    check = check_track(TrackClient(wrong, base_url=cio_emulator.url, retry=ONE_TRY), "us")
    assert check.ok is False
    assert "401" in check.detail
    assert "wrong-key" not in check.line()
    app_check = check_app(AppClient(wrong, base_url=cio_emulator.url, retry=ONE_TRY), "us")
    assert app_check.ok is False


def test_the_wrong_region_names_the_right_one(eu_workspace: Emulator) -> None:
    # Configured for the US, the workspace is in the EU: the US hosts redirect, the EU hosts say "eu".
    on_us_hosts = TrackClient(EMULATOR_CREDENTIALS, base_url=eu_workspace.url, retry=ONE_TRY)
    redirected = check_track(on_us_hosts, "us")
    assert redirected.ok is False
    assert "region" in redirected.detail
    on_eu_hosts = TrackClient(EMULATOR_CREDENTIALS, base_url=eu_workspace.eu_url, retry=ONE_TRY)
    misconfigured = check_track(on_eu_hosts, "us")
    assert misconfigured.ok is False
    assert "set CustomerIoRegion=eu" in misconfigured.detail
    assert check_track(on_eu_hosts, "eu").ok is True


def test_an_unknown_message_id_and_an_unset_placeholder_fail(cio_emulator: Emulator) -> None:
    app = AppClient(EMULATOR_CREDENTIALS, base_url=cio_emulator.url, retry=ONE_TRY)
    (missing,) = check_messages(app, [("forgot_password", "999")])
    assert missing.ok is False
    assert "999" in missing.detail
    assert check_placeholder(" ").ok is False


class _HtmlPage(BaseHTTPRequestHandler):
    """A proxy or captive portal: 200 to everything, and the body is a web page."""

    def do_GET(self) -> None:
        body = b"<html><body>Sign in to continue</body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def html_host() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _HtmlPage)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_a_200_that_is_not_json_fails_the_check_instead_of_raising(html_host: str) -> None:
    track = TrackClient(EMULATOR_CREDENTIALS, base_url=html_host, retry=ONE_TRY)
    app = AppClient(EMULATOR_CREDENTIALS, base_url=html_host, retry=ONE_TRY)
    checks = [
        check_track(track, "us"),
        check_app(app, "us"),
        *check_messages(app, [("forgot_password", "1")]),
    ]
    assert [check.ok for check in checks] == [False, False, False]
    assert all("not JSON" in check.detail for check in checks)
