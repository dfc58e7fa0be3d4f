"""The consents a plan needs before apply may start: no blocking conflicts, and each danger
(destroying student work, deleting most of a section) allowed by its own flag."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lmsctl.errors import PlanError
from lmsctl.plan.model import Consent, DeleteImpact, Plan

if TYPE_CHECKING:
    from lmsctl.apply.executor import ApplyOptions


def check_consent(plan: Plan, options: ApplyOptions) -> None:
    """Refuse a plan with conflicts, or one that needs a consent its flag did not give.

    Decided on the plan's typed data only (conflicts, consent records, delete impacts), never
    on its words: each danger has its own flag (``Consent.flag``), named in the refusal.
    """
    if plan.blocking_conflicts:
        raise PlanError(
            f"the plan has {len(plan.blocking_conflicts)} conflict(s); nothing was changed",
            hint="resolve them in the manifests, or re-run with --force to overwrite the LMS",
        )
    missing = [n for n in plan.required_consents() if n.consent not in options.consents]
    if not missing:
        return
    parts = []
    for need in missing:
        if need.consent is Consent.DESTROY_SUBMISSIONS:
            impact = need.impact or DeleteImpact()
            parts.append(
                f"{need.address} holds student work ({impact.turned_in} turned in, "
                f"{impact.graded} graded): {need.consent.flag}"
            )
        else:
            parts.append(
                f"section {need.address}: deletes {need.deleting} of its {need.tracked} tracked "
                f"assignments: {need.consent.flag}"
            )
    flags = sorted({n.consent.flag for n in missing})
    raise PlanError(
        "refusing to apply without consent: " + "; ".join(parts) + "; nothing was changed",
        hint=f"re-run with {' and '.join(flags)} if that is really meant",
    )
