"""The words for the plan's typed data: reasons, conflicts, consents.

Field reasons (``FieldChange.why``) have no words here: the plan shows each field's before and
after, and the JSON form carries the code.

The plan carries enums and small records (lmsctl.plan.model); nothing decides on text. These
tables are the only place their words live, so rewording a message can never change what apply
does (tests/apply/test_consent.py rewords every entry and checks that every gate still refuses).
They live with the plan because its document (lmsctl.plan.document, and so a saved plan file)
carries them for people reading the JSON; the renderers read them from here.

Pure: no I/O.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from typing import Any

from lmsctl.errors import unknown_outcome_ways_out
from lmsctl.plan.model import ApprovalRule, ConflictReason, Consent, Reason

__all__ = [
    "APPROVAL_WORDS",
    "CONFLICT_WORDS",
    "CONSENT_WORDS",
    "HIDDEN_REASONS",
    "REASON_WORDS",
    "UNKNOWN_OUTCOME_WORDS",
    "UNKNOWN_REMOVED_WORDS",
    "approval_words",
    "conflict_words",
    "consent_words",
    "frozen_words",
    "reason_words",
    "unknown_outcome_words",
]

#: why a change happens, as the plan shows it next to the change
REASON_WORDS: dict[Reason, str] = {
    Reason.NOT_IN_LMS: "not yet in the LMS",
    Reason.DELETED_IN_LMS: "deleted in the LMS (it answered 404); will be created again",
    Reason.MANIFEST_CHANGED: "changed in the manifests",
    Reason.GRADE: "grade of its assignment",
    Reason.REVERTS_DRIFT: "reverts drift",
    Reason.FORCED: "overwrites a conflict (--force)",
    Reason.NEWLY_MANAGED: "field newly managed",
    Reason.MOVED_FROM: "moved_from (state only; nothing changes in the LMS)",
    Reason.REMOVED_FROM_MANIFESTS: "no longer in the manifests",
    Reason.OUTCOME_UNKNOWN: "a create was sent but its answer was lost",
    Reason.GONE_FROM_LMS: "removed from the manifests and already gone from the LMS",
    Reason.NO_LONGER_MANAGED: "grade no longer in the manifests: no longer managed",
}

#: reasons the text plan leaves out next to a change: its symbol already says them
HIDDEN_REASONS = frozenset({Reason.NOT_IN_LMS, Reason.MANIFEST_CHANGED, Reason.GRADE})

CONFLICT_WORDS: dict[ConflictReason, str] = {
    ConflictReason.NEVER_APPLIED: "already set in the LMS, and lmsctl never applied it",
    ConflictReason.BOTH_CHANGED: (
        "changed both in the manifests and in the LMS since lmsctl applied it"
    ),
}

#: what each consent guards, with ``{...}`` filled from the consent record
CONSENT_WORDS: dict[Consent, str] = {
    Consent.DESTROY_SUBMISSIONS: (
        "{address}: deleting it destroys student work ({turned_in} turned in, {graded} graded); "
        "apply requires {flag} for that"
    ),
    Consent.MASS_DELETE: (
        "section {address}: deletes {deleting} of its {tracked} tracked assignments; "
        "apply requires {flag} for that"
    ),
}

#: the ``?`` entry's explanation and the two ways out
UNKNOWN_OUTCOME_WORDS = (
    "{removed}a create was sent but its answer was lost, so lmsctl cannot tell whether the "
    "assignment exists. " + unknown_outcome_ways_out("{address}", "<assignment id>")
)
UNKNOWN_REMOVED_WORDS = "removed from the manifests, but "


def _enum_values(codes: Iterable[Any], kind: type[Reason]) -> list[Reason]:
    out = []
    for code in codes:
        try:
            out.append(kind(code))
        except ValueError:
            continue  # a newer lmsctl's reason: nothing to say about it here
    return out


def reason_words(codes: Iterable[Any], *, hide_obvious: bool = False) -> str:
    """The reasons as one ``; ``-joined phrase (``hide_obvious`` leaves out what the symbol
    already says)."""
    key = tuple(codes)
    try:
        reasons = _cached_reasons(key)  # a plan repeats a few combinations
    except TypeError:  # an unhashable code (a damaged document): nothing to remember
        reasons = tuple(_enum_values(key, Reason))
    if hide_obvious:
        reasons = tuple(r for r in reasons if r not in HIDDEN_REASONS)
    return "; ".join(REASON_WORDS[r] for r in reasons)


@functools.lru_cache(maxsize=256)
def _cached_reasons(codes: tuple[Any, ...]) -> tuple[Reason, ...]:
    return tuple(_enum_values(codes, Reason))


def conflict_words(code: Any) -> str:
    try:
        return CONFLICT_WORDS[ConflictReason(code)]
    except ValueError:
        return ""


def consent_words(need: Mapping[str, Any]) -> str:
    """One consent record of the plan document as a sentence naming its flag."""
    consent = Consent(need["consent"])
    impact = need.get("impact") or {}
    return CONSENT_WORDS[consent].format(
        address=need.get("address", ""),
        turned_in=impact.get("turned_in", 0),
        graded=impact.get("graded", 0),
        deleting=need.get("deleting", 0),
        tracked=need.get("tracked", 0),
        flag=consent.flag,
    )


def unknown_outcome_words(
    address: str, codes: Iterable[Any], *, command: str = "lmsctl", root: str = ""
) -> str:
    """The ``?`` entry's words; ``command`` and ``root`` complete the commands it suggests, as
    a terminal's user would paste them (see :func:`unknown_outcome_ways_out`)."""
    removed = Reason.REMOVED_FROM_MANIFESTS in _enum_values(codes, Reason)
    words = UNKNOWN_OUTCOME_WORDS
    if command != "lmsctl" or root:
        ways_out = unknown_outcome_ways_out(
            "{address}", "<assignment id>", command=command, root=root
        )
        words = words.replace(unknown_outcome_ways_out("{address}", "<assignment id>"), ways_out)
    return words.format(address=address, removed=UNKNOWN_REMOVED_WORDS if removed else "")


APPROVAL_WORDS = {
    ApprovalRule.RETURNED_GRADE: "{address}: changes a grade already returned to the student",
    ApprovalRule.GRADE_DROP: "{address}: lowers the grade by {drop:g} points",
    ApprovalRule.DELETE: "{address}: deletes the assignment",
}


def approval_words(need: Mapping[str, Any]) -> str:
    """One approval record of the plan document as a sentence."""
    rule = ApprovalRule(need["rule"])
    return APPROVAL_WORDS[rule].format(address=need.get("address", ""), drop=need.get("drop") or 0)


def frozen_words(item: Mapping[str, Any]) -> str:
    """One frozen change of the plan document as a sentence naming its window."""
    if item.get("allowed"):
        return (
            f"{item.get('address', '')}: inside freeze window {item.get('window', '')!r}, "
            "allowed by --allow-frozen"
        )
    return (
        f"{item.get('address', '')}: frozen by window {item.get('window', '')!r} "
        f"(policies.freeze); pass --allow-frozen {item.get('window', '')} to change it anyway"
    )
