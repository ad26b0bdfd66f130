"""Plain `requests` helpers for talking to the emulator the way any HTTP client would."""

from __future__ import annotations

from typing import Any

import requests

from cio_sync_local.emulator import Emulator


class Api:
    """A thin caller bound to one emulator: Track with Basic auth, App with Bearer, control without auth."""

    def __init__(self, emulator: Emulator, url: str | None = None) -> None:
        """Calls `url` (the emulator's main URL, its US hosts, unless told otherwise)."""
        self.emulator = emulator
        self.url = url or emulator.url
        self.track = requests.Session()
        self.track.auth = (emulator.site_id, emulator.track_api_key)
        self.app = requests.Session()
        self.app.headers["Authorization"] = f"Bearer {emulator.app_api_key}"
        self.plain = requests.Session()

    def identify(self, person_id: str, body: Any) -> requests.Response:
        return self.track.put(f"{self.url}/api/v1/customers/{person_id}", json=body, timeout=5)

    def delete(self, person_id: str) -> requests.Response:
        return self.track.delete(f"{self.url}/api/v1/customers/{person_id}", timeout=5)

    def event(self, person_id: str, body: Any) -> requests.Response:
        return self.track.post(f"{self.url}/api/v1/customers/{person_id}/events", json=body, timeout=5)

    def entity(self, body: Any) -> requests.Response:
        return self.track.post(f"{self.url}/api/v2/entity", json=body, timeout=5)

    def batch(self, items: list[Any]) -> requests.Response:
        return self.track.post(f"{self.url}/api/v2/batch", json={"batch": items}, timeout=5)

    def send_email(self, body: Any) -> requests.Response:
        return self.app.post(f"{self.url}/v1/send/email", json=body, timeout=5)

    def app_get(self, path: str, **params: Any) -> requests.Response:
        return self.app.get(f"{self.url}{path}", params=params, timeout=5)

    def app_post(self, path: str, body: Any, **params: Any) -> requests.Response:
        return self.app.post(f"{self.url}{path}", params=params, json=body, timeout=5)

    def region(self) -> requests.Response:
        return self.track.get(f"{self.url}/api/v1/accounts/region", timeout=5)

    def control(self, path: str) -> Any:
        response = self.plain.get(f"{self.url}/_emulator/{path}", timeout=5)
        response.raise_for_status()
        return response.json()

    def set_faults(self, **faults: Any) -> requests.Response:
        return self.plain.post(f"{self.url}/_emulator/faults", json=faults, timeout=5)

    def profiles(self) -> dict[str, dict[str, Any]]:
        result: dict[str, dict[str, Any]] = self.control("profiles")
        return result

    def close(self) -> None:
        for session in (self.track, self.app, self.plain):
            session.close()


def person(person_id: str, action: str, **fields: Any) -> dict[str, Any]:
    """A v2 person operation, as the OpenAPI document shapes it."""
    return {"type": "person", "identifiers": {"id": person_id}, "action": action, **fields}
