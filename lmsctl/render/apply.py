"""An apply's result in words and as the ``apply --json`` document (like Terraform's apply view).

Pure functions of :class:`lmsctl.apply.results.ApplyResult`: no I/O. The command prints what
they return, at the run's privacy level.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lmsctl.apply.results import ApplyResult, ChangeResult, Outcome
from lmsctl.errors import unknown_outcome_ways_out
from lmsctl.plan.model import Action
from lmsctl.safetext import escape_controls

__all__ = [
    "APPLY_FORMAT_VERSION",
    "MAX_SKIPPED_LISTED",
    "NO_CHANGES",
    "apply_report",
    "apply_result_document",
    "apply_summary",
    "not_done_lines",
    "unknown_left_words",
]

#: the version of the ``apply --json`` document (docs/plan-format.md)
APPLY_FORMAT_VERSION = "1.0"
#: skipped changes listed one by one in the final report; the rest are counted
MAX_SKIPPED_LISTED = 20

NO_CHANGES = "No changes. The LMS matches the manifests."

STALE_WORDS = (
    "A change marked stale was not written: its value changed in the LMS after the plan was "
    "shown (a teacher's edit is never overwritten silently). Run lmsctl plan again to see it: "
    "a grade lmsctl never set shows as a conflict."
)

UNKNOWN_WORDS = (
    "A create whose answer was lost is never retried automatically (it could make a duplicate "
    "in front of students): look for each address above in the LMS. "
)


def apply_summary(result: ApplyResult) -> str:
    """The last line: what was done, and what went wrong (``Apply complete: ...``)."""
    done = (
        f"{result.count(Action.CREATE)} created, {result.count(Action.UPDATE)} updated, "
        f"{result.count(Action.GRADE)} grades set, {result.count(Action.DELETE)} deleted"
    )
    n = result.outcomes
    problems = []
    if n[Outcome.FAILED]:
        problems.append(f"{n[Outcome.FAILED]} failed")
    if n[Outcome.UNKNOWN]:
        problems.append(f"{n[Outcome.UNKNOWN]} with unknown outcome")
    if n[Outcome.STALE]:
        problems.append(f"{n[Outcome.STALE]} changed in the LMS since the plan was shown")
    if n[Outcome.SKIPPED]:
        problems.append(f"{n[Outcome.SKIPPED]} not done")
    took = f" in {result.seconds:.1f} s."
    if result.interrupted:
        return f"Apply interrupted: {done}; " + ", ".join(problems) + took
    if problems:
        return f"Apply finished with errors: {done}; " + ", ".join(problems) + took
    return f"Apply complete: {done}{took}"


def apply_result_document(result: ApplyResult) -> dict[str, Any]:
    """The ``apply --json`` document."""
    return {
        "format_version": APPLY_FORMAT_VERSION,
        "ok": result.ok,
        "interrupted": result.interrupted,
        "seconds": round(result.seconds, 3),
        "summary": apply_summary(result),
        "results": [
            {
                "address": r.change.address,
                "action": r.change.action.value,
                "outcome": r.outcome.value,
                "message": r.message,
                "source": r.change.source,
            }
            for r in result.results
        ],
    }


def not_done_lines(result: ApplyResult) -> list[str]:
    """What the final report lists: each change not done, once, failures first.

    Skipped changes (not started: Ctrl-C, or what they needed failed) are listed up to
    MAX_SKIPPED_LISTED, then counted; a new plan shows every one of them.
    """
    order = [Outcome.FAILED, Outcome.UNKNOWN, Outcome.STALE, Outcome.SKIPPED]
    lines: list[str] = []
    for outcome in order:
        items: list[ChangeResult] = result.having(outcome)
        shown = items[:MAX_SKIPPED_LISTED] if outcome is Outcome.SKIPPED else items
        for r in shown:
            where = f" [{r.change.source}]" if r.change.source else ""
            lines.append(
                escape_controls(f"  {r.outcome.value}: {r.change.address}{where}: {r.message}")
            )
        if len(items) > len(shown):
            lines.append(
                f"  ... and {len(items) - len(shown)} more not started "
                "(lmsctl plan shows everything still to do)"
            )
    return lines


def apply_report(
    result: ApplyResult,
    scrub: Callable[[str], str] | None = None,
    *,
    command: str = "lmsctl",
    root: str = "",
) -> list[str]:
    """The final report as text lines: the changes not done, what to do about them, the summary.

    The changes not done name addresses (a grade's names its student): ``scrub`` is the run's
    privacy scrubber, applied to them.
    """
    lines: list[str] = []
    not_done = not_done_lines(result)  # each change not done, once
    if not_done:
        lines += ["", *(scrub(line) if scrub is not None else line for line in not_done)]
    if result.having(Outcome.STALE):
        lines += ["", STALE_WORDS]
    if result.having(Outcome.UNKNOWN):
        lines += ["", UNKNOWN_WORDS + unknown_outcome_ways_out(command=command, root=root) + "."]
    lines.append(apply_summary(result))
    return lines


def unknown_left_words(pending: int, *, command: str = "lmsctl", root: str = "") -> str:
    """After an apply, for the creates of unknown outcome the plan listed (never carried out).
    ``command`` and ``root`` complete the commands it suggests."""
    return (
        f"{pending} create(s) have an unknown outcome; nothing is done to them until you resolve "
        f"each (see the plan above). {unknown_outcome_ways_out(command=command, root=root)}."
    )
