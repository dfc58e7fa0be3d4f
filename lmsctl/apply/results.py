"""What an apply did: each change's outcome, the events sent to the view, the whole result.

Data only: ``lmsctl.render.apply`` puts it in words (the summary line, the final report, the
``--json`` document).
"""

from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from lmsctl.plan.model import Action, Change


class Outcome(enum.StrEnum):
    """How one change ended. The values are written in ``apply --json`` (``outcome``)."""

    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"  # not attempted: what it needed failed, or the run was stopped
    UNKNOWN = "unknown"  # a create whose answer was lost
    #: not written: the live value changed in the LMS since the plan was shown (lmsctl before the
    #: re-check of every apply wrote ``moved``; the rename is documented in docs/plan-format.md)
    STALE = "stale"


@dataclass(frozen=True)
class ChangeResult:
    change: Change
    outcome: Outcome
    message: str = ""
    seconds: float = 0.0


@dataclass(frozen=True)
class ApplyEvent:
    """Sent to the view as each change ends (like Terraform's hooks)."""

    result: ChangeResult
    done: int
    total: int


EventFn = Callable[[ApplyEvent], None]

#: the outcomes that make an apply fail (exit 1)
FAILING_OUTCOMES = frozenset({Outcome.FAILED, Outcome.UNKNOWN, Outcome.STALE})


@dataclass
class ApplyResult:
    results: list[ChangeResult] = field(default_factory=list)
    seconds: float = 0.0
    interrupted: bool = False

    def count(self, action: Action, outcome: Outcome = Outcome.DONE) -> int:
        return sum(1 for r in self.results if r.change.action is action and r.outcome is outcome)

    @property
    def outcomes(self) -> Counter[Outcome]:
        return Counter(r.outcome for r in self.results)

    @property
    def ok(self) -> bool:
        return not self.interrupted and not any(r.outcome in FAILING_OUTCOMES for r in self.results)

    def having(self, outcome: Outcome) -> list[ChangeResult]:
        """The changes that ended with ``outcome``, in the order they ended."""
        return [r for r in self.results if r.outcome is outcome]


__all__ = ["FAILING_OUTCOMES", "ApplyEvent", "ApplyResult", "ChangeResult", "EventFn", "Outcome"]
