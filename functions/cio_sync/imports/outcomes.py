"""What an import did to each row, and the counts the report keeps of it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final, Literal, get_args

Outcome = Literal["muted", "already_muted", "not_found", "invalid", "duplicate"]
OUTCOMES: Final[tuple[Outcome, ...]] = get_args(Outcome)
NOT_MUTED: Final[tuple[Outcome, ...]] = tuple(outcome for outcome in OUTCOMES if outcome != "muted")


@dataclass(frozen=True, slots=True)
class RowOutcome:
    """What happened to one data row. `shown_id` is the id, or the trimmed value of an invalid row."""

    row: int
    shown_id: str
    outcome: Outcome
    reason: str | None = None


def zero_counts() -> dict[Outcome, int]:
    return dict.fromkeys(OUTCOMES, 0)


def count_outcomes(outcomes: Iterable[RowOutcome]) -> dict[Outcome, int]:
    counts = zero_counts()
    for outcome in outcomes:
        counts[outcome.outcome] += 1
    return counts
