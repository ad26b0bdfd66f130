"""A headless Chromium driven over the DevTools protocol: open a page, evaluate JavaScript in it.

`make page-check` clicks the emulator page's buttons and watches it refresh with this. The protocol runs
over a WebSocket; the few lines of RFC 6455 a local client needs (masked text frames out, plain frames
in) are written here so that no browser-automation package is needed.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import struct
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

START_TIMEOUT_S = 60.0
CALL_TIMEOUT_S = 60.0


class DevToolsError(RuntimeError):
    """Chromium did not start, or a script in the page threw."""


class Page:
    """One page's DevTools socket: `evaluate` runs an expression (awaiting a promise), gives its value."""

    def __init__(self, ws_url: str) -> None:
        parts = urlsplit(ws_url)
        self._socket = socket.create_connection((parts.hostname, parts.port), timeout=CALL_TIMEOUT_S)
        key = base64.b64encode(os.urandom(16)).decode()
        self._socket.sendall(
            f"GET {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        head = b""
        while b"\r\n\r\n" not in head:
            head += self._socket.recv(1)
        status = head.split(b"\r\n", 1)[0]
        if b" 101 " not in status:
            raise DevToolsError(f"no WebSocket: {status!r}")
        self._next_id = 0

    def close(self) -> None:
        self._socket.close()

    def _read(self, size: int) -> bytes:
        data = b""
        while len(data) < size:
            chunk = self._socket.recv(size - len(data))
            if not chunk:
                raise DevToolsError("Chromium closed the DevTools connection")
            data += chunk
        return data

    def _send(self, text: str) -> None:
        payload, mask = text.encode(), os.urandom(4)
        size = len(payload)
        header = bytes([0x81]) + (
            bytes([0x80 | size])
            if size < 126
            else bytes([0x80 | 126]) + struct.pack(">H", size)
            if size < 65536
            else bytes([0x80 | 127]) + struct.pack(">Q", size)
        )
        self._socket.sendall(header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))

    def _receive(self) -> dict[str, Any]:
        message = b""
        while True:
            first, second = self._read(2)
            size = second & 0x7F
            if size == 126:
                size = struct.unpack(">H", self._read(2))[0]
            elif size == 127:
                size = struct.unpack(">Q", self._read(8))[0]
            message += self._read(size)
            if first & 0x80:
                decoded: dict[str, Any] = json.loads(message)
                return decoded

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self._next_id += 1
        self._send(json.dumps({"id": self._next_id, "method": method, "params": params}))
        while True:
            reply = self._receive()
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise DevToolsError(f"{method}: {reply['error']}")
                result: dict[str, Any] = reply["result"]
                return result

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True)
        if "exceptionDetails" in result:
            thrown = result["exceptionDetails"].get("exception", {}).get("description", "")
            raise DevToolsError(f"the page threw evaluating {expression!r}: {thrown}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout_s: float, check: Callable[[Any], bool] = bool) -> Any:
        """Evaluate until `check` accepts the value (every 0.2 s, at most `timeout_s`); the last value."""
        deadline = time.monotonic() + timeout_s
        value = self.evaluate(expression)
        while not check(value) and time.monotonic() < deadline:
            time.sleep(0.2)
            value = self.evaluate(expression)
        return value


@contextmanager
def open_page(chromium: str, flags: Sequence[str], url: str) -> Iterator[Page]:
    """Chromium with a new empty profile showing `url`, and the DevTools connection to that page."""
    with tempfile.TemporaryDirectory(prefix="devtools-") as profile:
        process = subprocess.Popen(  # noqa: S603 - the Chromium named by the operator, fixed arguments
            [chromium, *flags, f"--user-data-dir={profile}", "--remote-debugging-port=0", url],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            page = Page(_page_socket(Path(profile) / "DevToolsActivePort", url))
            try:
                yield page
            finally:
                page.close()
        finally:
            process.terminate()
            process.wait(30)


def _page_socket(port_file: Path, url: str) -> str:
    """The page target's WebSocket URL, once Chromium has written its DevTools port and opened `url`."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if port_file.exists() and port_file.read_text().strip():
            port = port_file.read_text().split()[0]
            targets = requests.get(f"http://127.0.0.1:{port}/json/list", timeout=10).json()
            for target in targets:
                if target.get("type") == "page" and target.get("url", "").startswith(url):
                    return str(target["webSocketDebuggerUrl"])
        time.sleep(0.2)
    raise DevToolsError(f"Chromium did not open {url} with DevTools within {START_TIMEOUT_S:.0f} s")
