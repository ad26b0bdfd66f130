"""`cio-sync emulator` as a real process: starts on the given port, answers, and stops on SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

STARTUP_TIMEOUT_S = 20


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "cio_sync_local.emulator_cli", "emulator", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_until_serving(url: str, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stderr.read() if process.stderr else "exited"
        try:
            requests.get(f"{url}/_emulator/stats", timeout=5)
            return
        except requests.RequestException:  # not listening yet, or a first answer slowed by load
            time.sleep(0.1)
    pytest.fail("the emulator did not start in time")


@pytest.fixture
def port() -> int:
    return free_port()


@pytest.fixture
def emulator_process(port: int) -> Iterator[subprocess.Popen[str]]:
    process = start("--port", str(port), "--site-id", "S", "--track-api-key", "K", "--app-api-key", "A")
    yield process
    if process.poll() is None:
        process.kill()
        process.wait(timeout=10)


def test_cli_serves_with_the_given_credentials_and_stops_on_sigterm(
    emulator_process: subprocess.Popen[str], port: int
) -> None:
    url = f"http://127.0.0.1:{port}"
    wait_until_serving(url, emulator_process)

    assert (
        requests.put(f"{url}/api/v1/customers/m-1", json={"a": 1}, auth=("S", "K"), timeout=5).status_code
        == 200
    )
    assert requests.put(f"{url}/api/v1/customers/m-1", json={}, auth=("S", "x"), timeout=5).status_code == 401
    assert (
        requests.post(
            f"{url}/v1/send/email",
            json={"to": "a@example.com", "transactional_message_id": 1, "identifiers": {"id": "p"}},
            headers={"Authorization": "Bearer A"},
            timeout=5,
        ).status_code
        == 200
    )
    assert requests.get(f"{url}/_emulator/profiles", timeout=5).json() == {"m-1": {"a": 1}, "p": {}}

    emulator_process.send_signal(signal.SIGTERM)
    stdout, _ = emulator_process.communicate(timeout=10)

    assert emulator_process.returncode == 0
    assert f"serving on {url}" in stdout
    assert "stopped" in stdout


def test_cli_defaults_are_the_documented_local_credentials(port: int) -> None:
    process = start("--port", str(port))
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_serving(url, process)
        auth = ("cio-sync-local", "local-track-key")
        assert requests.put(f"{url}/api/v1/customers/m-1", json={}, auth=auth, timeout=5).status_code == 200
        app = {"Authorization": "Bearer local-app-key"}
        assert requests.post(f"{url}/v1/send/email", json={}, headers=app, timeout=5).status_code == 400
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=10)
    assert process.returncode == 0


def test_cli_stops_on_sigint_even_when_started_with_sigint_ignored(port: int) -> None:
    """As from a shell's background job (`make test &`): Python then raises no KeyboardInterrupt."""
    command = f"trap '' INT; exec {sys.executable} -m cio_sync_local.emulator_cli emulator --port {port}"
    process = subprocess.Popen(
        ["/bin/sh", "-c", command], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        wait_until_serving(f"http://127.0.0.1:{port}", process)
        process.send_signal(signal.SIGINT)
        stdout, _ = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
    assert process.returncode == 0
    assert "stopped" in stdout


def test_cli_fault_options_are_applied(port: int) -> None:
    process = start("--port", str(port), "--rate-limit", "1", "--latency-ms", "1")
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_serving(url, process)
        faults = requests.get(f"{url}/_emulator/faults", timeout=5).json()
        assert faults["rate_limit_per_s"] == 1
        assert faults["latency_ms"] == 1
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=10)


def test_cli_refuses_to_start_without_the_openapi_document(tmp_path: Path, port: int) -> None:
    env = {**os.environ, "CIO_OPENAPI_PATH": str(tmp_path / "absent.json")}
    result = subprocess.run(
        [sys.executable, "-m", "cio_sync_local.emulator_cli", "emulator", "--port", str(port)],
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
        check=False,
    )

    assert result.returncode == 1
    assert "OpenAPI document is not at" in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_region_identifier_and_log_options_are_applied(port: int) -> None:
    eu_port = free_port()
    process = start(
        "--port",
        str(port),
        "--eu-port",
        str(eu_port),
        "--region",
        "eu",
        "--email-identifier",
        "unique",
        "--request-log-size",
        "5",
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_serving(url, process)
        config = requests.get(f"{url}/_emulator/config", timeout=5).json()
        auth = ("cio-sync-local", "local-track-key")
        redirected = requests.put(
            f"{url}/api/v1/customers/m-1", json={}, auth=auth, allow_redirects=False, timeout=5
        )
        region = requests.get(f"http://127.0.0.1:{eu_port}/api/v1/accounts/region", auth=auth, timeout=5)
    finally:
        process.send_signal(signal.SIGTERM)
        stdout, _ = process.communicate(timeout=10)

    assert config["region"] == "eu"
    assert config["email_identifier"] == "unique"
    assert config["request_log"]["size"] == 5
    assert config["urls"]["eu"] == f"http://127.0.0.1:{eu_port}"
    assert redirected.status_code == 301
    assert redirected.headers["Location"] == f"http://127.0.0.1:{eu_port}/api/v1/customers/m-1"
    assert region.json()["region"] == "eu"
    assert f"EU hosts on http://127.0.0.1:{eu_port}" in stdout


def test_cli_refuses_a_request_log_of_no_size(port: int) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "cio_sync_local.emulator_cli",
            "emulator",
            "--port",
            str(port),
            "--request-log-size",
            "0",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )

    assert result.returncode == 1
    assert "at least one request" in result.stderr
    assert "Traceback" not in result.stderr
