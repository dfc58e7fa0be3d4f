"""Fingerprints of the live values a plan saw, and the student work a delete destroys.

The planner stores them in each change; apply recomputes them from the live values just before
it writes and refuses a change whose live value moved since the plan was made. Both sides call
these functions, so a saved plan verifies exactly when nothing changed.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from typing import Any

from lmsctl.diff import normalize
from lmsctl.plan.model import DeleteImpact, canonical_json


def fingerprint(value: Any) -> str:
    """A short stable digest of a live value; apply compares it to see what changed since."""
    return hashlib.sha256(canonical_json(value).encode()).hexdigest()[:16]


#: field_fingerprint's digests of scalar values: ((field, type, value), ...) -> digest
_DIGESTS: dict[tuple[tuple[str, type, Any], ...], str] = {}
_DIGESTS_MAX = 65_536


def _scalar(value: Any) -> bool:
    """A value whose (type, value) fixes its canonical JSON (not 0.0 / -0.0, NaN, infinity)."""
    kind = type(value)
    return (
        kind is int
        or kind is str
        or kind is bool
        or value is None
        or (kind is float and value != 0 and math.isfinite(value))
    )


def field_fingerprint(live: Mapping[str, Any], fields: list[str]) -> str:
    """Digest of the live values of ``fields`` (what apply re-checks before writing)."""
    parts = []
    scalar = True
    for f in sorted(fields) if len(fields) > 1 else fields:  # (a grade's change: one field)
        v = normalize(f, live.get(f))
        scalar = scalar and _scalar(v)
        parts.append((f, type(v), v))
    if not scalar:
        return fingerprint({f: v for f, _, v in parts})
    key = tuple(parts)
    found = _DIGESTS.get(key)
    if found is None:
        if len(_DIGESTS) >= _DIGESTS_MAX:
            _DIGESTS.clear()
        # grades repeat a few values
        found = _DIGESTS[key] = fingerprint({f: v for f, _, v in parts})
    return found


def delete_impact(submissions: Mapping[str, Mapping[str, Any]] | None) -> DeleteImpact:
    subs = list((submissions or {}).values())
    return DeleteImpact(
        submissions=len(subs),
        turned_in=sum(1 for s in subs if s.get("state") == "submitted"),
        # a grade of 0 is left out of answers (x-omitempty): a returned submission is graded too
        graded=sum(
            1
            for s in subs
            if s.get("grade_points") is not None
            or s.get("grade") not in (None, "")
            or s.get("state") == "returned"
        ),
    )


def impact_fingerprint(impact: DeleteImpact) -> str:
    return fingerprint([impact.submissions, impact.turned_in, impact.graded])
