"""A preflight of the Customer.io configuration: can this deployment talk to its workspace at all?

Customer.io answers most requests later, asynchronously, and a wrong key or region otherwise shows only
as every operation failing. Each check here makes one cheap read and says in one line what is wrong:
- Track: `GET /api/v1/accounts/region` with the Track credentials; it also names the workspace's region,
  so a mismatch says which region to configure (a redirect to the other region's host says it too);
- App: `GET /v1/transactional` with the App API key;
- the placeholder profile id is set;
- each transactional message id exists (`GET /v1/transactional/{id}`): only numeric ids can be checked,
  a trigger name is reported as unchecked, not as a failure.

`cio-sync doctor` runs it from an operator's machine; the track and email functions run their part once,
at the first invocation of each execution environment, and log the result.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NamedTuple

from cio_sync.adapters.customerio.client import CustomerIoClient
from cio_sync.customerio.errors import CredentialsError, CustomerIoError, NotFound, WrongRegion
from cio_sync.customerio.regions import Region


class Check(NamedTuple):
    """One preflight line: `ok` False fails the preflight; None means it could not be checked."""

    name: str
    ok: bool | None
    detail: str

    def line(self) -> str:
        mark = {True: "ok", False: "FAILED", None: "unchecked"}[self.ok]
        return f"{mark:9} {self.name}: {self.detail}"


def check_track(client: CustomerIoClient, region: Region, deadline: float | None = None) -> Check:
    """The Track credentials are accepted, and the workspace is in the configured region."""
    name = "Track API credentials and region"
    try:
        answer = client.get_json("/api/v1/accounts/region", operation="region", deadline=deadline)
    except WrongRegion as error:
        return Check(name, False, _wrong_region(error.region, region))
    except (CustomerIoError, CredentialsError) as error:
        return Check(name, False, _failure(error))
    actual = answer.get("region") if isinstance(answer, dict) else None
    if actual not in ("us", "eu"):
        return Check(name, False, "Customer.io did not say which region the workspace is in")
    if actual != region:
        return Check(name, False, _wrong_region(actual, region))
    return Check(name, True, f"accepted; the workspace is in region {actual!r}, as configured")


def check_app(client: CustomerIoClient, region: Region, deadline: float | None = None) -> Check:
    """The App API key is accepted (listing transactional messages needs nothing else)."""
    name = "App API key"
    try:
        client.get_json("/v1/transactional", operation="list_transactional", deadline=deadline)
    except WrongRegion as error:
        return Check(name, False, _wrong_region(error.region, region))
    except (CustomerIoError, CredentialsError) as error:
        return Check(name, False, _failure(error))
    return Check(name, True, "accepted")


def check_placeholder(identifier_id: str) -> Check:
    name = "placeholder profile id (CUSTOMER_IO_APP_IDENTIFIER_ID)"
    if not identifier_id.strip():
        return Check(name, False, "not set: transactional email would have no profile to go to")
    return Check(name, True, f"set to {identifier_id!r}")


def check_messages(
    client: CustomerIoClient, message_ids: Iterable[tuple[str, str]], deadline: float | None = None
) -> list[Check]:
    """Each (purpose, id): a numeric id must name an existing transactional message."""
    checks: list[Check] = []
    for purpose, message_id in message_ids:
        name = f"transactional message for {purpose}"
        if not message_id.isdigit():
            checks.append(
                Check(name, None, f"{message_id!r} is a trigger name; only numeric ids can be checked")
            )
            continue
        try:
            answer: Any = client.get_json(
                f"/v1/transactional/{message_id}", operation="get_transactional", deadline=deadline
            )
        except NotFound:
            checks.append(Check(name, False, f"no transactional message has id {message_id}"))
            continue
        except (CustomerIoError, CredentialsError) as error:
            checks.append(Check(name, False, _failure(error)))
            continue
        found = answer.get("message") if isinstance(answer, dict) else None
        label = found.get("name") if isinstance(found, dict) else None
        checks.append(Check(name, True, f"id {message_id} exists" + (f" ({label!r})" if label else "")))
    return checks


def passed(checks: Iterable[Check]) -> bool:
    return all(check.ok is not False for check in checks)


def _wrong_region(actual: str | None, configured: Region) -> str:
    if actual in ("us", "eu") and actual != configured:
        return f"the workspace is in region {actual!r}, not {configured!r}: set CustomerIoRegion={actual}"
    return f"Customer.io redirected the request: the workspace is not in region {configured!r}"


def _failure(error: Exception) -> str:
    """The typed error's own words (already scrubbed of request values), one line."""
    return " ".join(str(error).split())[:300]
