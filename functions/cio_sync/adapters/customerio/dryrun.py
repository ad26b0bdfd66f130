"""Dry run (CUSTOMER_IO_ENABLED=false): say what would be sent, in ids and names only; send nothing.

Like Northstar's DS_ENABLE_CUSTOMER_IO=false, this lets a stage run the whole pipeline without touching
Customer.io. Only the operation, the member id and the *names* of attributes or data fields are logged,
never their values, never an email address.
"""

from __future__ import annotations

from collections.abc import Iterable

from cio_sync.observability import logger


def log_not_sent(
    api: str, operation: str, member_id: str | None, field_names: Iterable[str] = (), **ids: str
) -> None:
    logger.info(
        "Customer.io dry run: not sent",
        extra={
            "api": api,
            "operation": operation,
            "member_id": member_id,
            "field_names": sorted(field_names),
            **ids,
        },
    )
