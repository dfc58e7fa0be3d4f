"""State fixes: the corrections a plan records in state without any API call."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from lmsctl.plan.model import StateFix
from lmsctl.state.model import StateSnapshot


def fix_addresses(fixes: Sequence[StateFix]) -> list[str]:
    """The records the fixes change, each once (what the save after them must store)."""
    return list(dict.fromkeys(fix.address for fix in fixes))


def apply_state_fixes(
    snapshot: StateSnapshot, fixes: Sequence[StateFix], failed: Collection[str] = ()
) -> None:
    """Record ``fixes`` in ``snapshot``, except on the assignments in ``failed`` (whose changes
    did not happen in this run: the next plan decides again)."""
    for fix in fixes:
        record = snapshot.resources.get(fix.address)
        if record is None or fix.address in failed:
            continue
        if fix.forget:
            snapshot.resources.pop(fix.address, None)
            continue
        if fix.protect is not None:
            record.protect = fix.protect
        if fix.clear_delete:
            record.deleting = False
        record.forget_intent(fix.clear_intents, fix.student)
        target = (
            record.applied if fix.student is None else record.grades.setdefault(fix.student, {})
        )
        target.update(fix.set_fields)
        for name in fix.drop_fields:
            target.pop(name, None)
        if fix.student is not None and not target:
            record.grades.pop(fix.student, None)
