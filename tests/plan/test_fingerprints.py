"""Fingerprints keep their values: a plan saved by an earlier lmsctl must still verify.

The values below were computed by lmsctl before fingerprints were made cheaper (one shared JSON
encoder, cached LMS profiles); any change to them would make every saved plan read as stale.
"""

from __future__ import annotations

from typing import Any

import pytest

from lmsctl.plan.fingerprints import delete_impact, field_fingerprint, impact_fingerprint

LIVE: dict[str, Any] = {
    "grade_points": 8.5,
    "grade": "B+",
    "grade_comment": "Très bien \u202e ok",
    "flags": ["late", "missing", "late"],
    "state": "returned",
    "extra_attempts": 0,
    "override_due_date": "2026-12-04T18:59:00-05:00",
    "grader_id": None,
    "title": "Homework 1",
    "due_date": "2026-12-04T23:59:00Z",
    "points_possible": 123456.789,
    "submission_types": ["text", "file"],
    "max_attempts": "3",
    "assignee_ids": ["b", "a"],
    "attachments": [{"type": "file", "url": "https://x/y", "title": "T", "size": 3}],
}


@pytest.mark.parametrize(
    ("live", "fields", "expected"),
    [
        (LIVE, list(LIVE), "ffc4f37a6a31a4ae"),
        (LIVE, ["grade_points"], "d2627bdd201bbf9a"),
        (LIVE, ["grade_points", "grade_comment"], "bfe5d430e0d91588"),
        (LIVE, ["grade", "flags"], "7f5d485108ff5c14"),
        ({}, ["grade_points", "state", "flags"], "e50410487cd7e71b"),
        ({"grade_points": -0.0}, ["grade_points"], "ba63dddf74543f9e"),
        ({"grade_points": 0}, ["grade_points"], "3395c7d7a67ff4bc"),
        ({"grade_points": 7}, ["grade_points"], "f12a674c777c53e3"),
    ],
)
def test_field_fingerprints_keep_the_values_saved_plans_hold(
    live: dict[str, Any], fields: list[str], expected: str
) -> None:
    assert field_fingerprint(live, fields) == expected
    assert field_fingerprint(live, fields) == expected  # the same again (nothing cached wrong)


def test_a_zero_and_a_negative_zero_keep_their_own_fingerprints() -> None:
    first = field_fingerprint({"grade_points": -0.0}, ["grade_points"])
    assert field_fingerprint({"grade_points": 0.0}, ["grade_points"]) == "3395c7d7a67ff4bc"
    assert field_fingerprint({"grade_points": -0.0}, ["grade_points"]) == first


def test_delete_impact_fingerprint_keeps_its_value() -> None:
    subs = {"a": {"state": "submitted"}, "b": {"state": "returned"}, "c": {}}
    assert impact_fingerprint(delete_impact(subs)) == "a713b0fb5b4f2a9e"
