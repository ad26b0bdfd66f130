"""Log capture for tests that must prove what the logs say (and that they carry no personal data)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from cio_sync.observability import SERVICE, logger


class LogLines(logging.Handler):
    """Every log line exactly as Powertools would print it (JSON with the extra keys)."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(logger.registered_formatter)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))

    @property
    def entries(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.lines]

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


@contextmanager
def captured_logs() -> Iterator[LogLines]:
    """Every line the service logs meanwhile, at DEBUG: the most the logs can ever say."""
    handler = LogLines()
    target = logging.getLogger(SERVICE)  # the standard logger behind Powertools' Logger
    previous = target.level
    target.addHandler(handler)
    target.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        target.setLevel(previous)
        target.removeHandler(handler)
