"""What a plan keeps of a live submission and a roster student: the same values, each text one
interned string (100k submissions then share one string per student id and per state)."""

from __future__ import annotations

import json
import sys

from lmsctl.client.listing import PLAN_SUBMISSION_KEYS, compact_submission
from lmsctl.roster import compact_user

SUBMISSION = {
    "id": "6867458f-7059-4171-8843-d7462fa4cadb",
    "assignment_id": "1817c8df-2134-44ff-9159-4c4bad1acd9d",
    "user_id": "6a5e000001b0000000000001",
    "state": "returned",
    "grade": None,
    "grade_comment": "Well argued",
    "grader_id": None,
    "grade_points": 9.5,
    "flags": ["late"],
    "created": "2026-12-01T18:58:55.671Z",
}


def _parsed(obj: dict[str, object]) -> dict[str, object]:
    """As the API's JSON decodes: every text a string of its own."""
    out: dict[str, object] = json.loads(json.dumps(obj))
    return out


def test_a_kept_submission_has_the_plan_fields_as_the_api_sent_them() -> None:
    kept = compact_submission(_parsed(SUBMISSION))
    expected = {k: v for k, v in SUBMISSION.items() if k in PLAN_SUBMISSION_KEYS}
    assert kept == expected
    assert list(kept) == [k for k in PLAN_SUBMISSION_KEYS if k in SUBMISSION]
    assert "grade" in kept and kept["grade"] is None  # a null stays a null, not absent
    assert "override_due_date" not in kept  # absent stays absent


def test_the_texts_of_kept_submissions_and_students_are_shared() -> None:
    a, b = compact_submission(_parsed(SUBMISSION)), compact_submission(_parsed(SUBMISSION))
    for name in ("user_id", "state", "grade_comment"):
        assert a[name] is b[name] and sys.intern(str(a[name])) is a[name]
    user = compact_user(_parsed({"id": SUBMISSION["user_id"], "email": "a@example.org"}))
    assert user["id"] is a["user_id"]
