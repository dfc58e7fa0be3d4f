"""The three-way decision per field, and normalisation (an unchanged manifest never diffs)."""

import pytest

from lmsctl.diff import MISSING, Decision, decide, equal, is_set, normalize


@pytest.mark.parametrize(
    ("field", "a", "b"),
    [
        ("due_date", "2027-01-15T23:59:00Z", "2027-01-15T23:59:00.000Z"),
        ("due_date", "2027-01-15T17:59:00-06:00", "2027-01-15T23:59:00.000Z"),
        ("points_possible", 10, 10.0),
        ("submission_types", ["text", "link"], ("link", "text")),
        ("flags", ["late", "missing"], ["missing", "late"]),
        ("flags", None, []),
        ("extra_attempts", "2", 2),
        ("attachments", [{"type": "file", "url": "u"}], [{"type": "file", "url": "u", "size": 3}]),
    ],
)
def test_equivalent_values_are_equal(field: str, a: object, b: object) -> None:
    assert equal(field, a, b)


def test_different_values_differ() -> None:
    assert not equal("title", "Homework 1", "Homework 2")
    assert not equal("points_possible", 10, 10.5)
    assert normalize("grade", 9) == "9"


@pytest.mark.parametrize(
    ("desired", "applied", "live", "expected"),
    [
        ("a", "a", "a", Decision.IN_SYNC),
        ("b", "a", "b", Decision.IN_SYNC),  # the LMS already holds the new value
        ("b", "a", "a", Decision.UPDATE),
        ("a", "a", "b", Decision.DRIFT),
        ("c", "a", "b", Decision.CONFLICT),
        ("b", MISSING, "a", Decision.NEWLY_MANAGED),
    ],
)
def test_three_way_decision(desired: str, applied: object, live: str, expected: Decision) -> None:
    assert decide("title", desired, applied, live) is expected


def test_what_counts_as_set_by_a_person() -> None:
    assert is_set("grade_points", 0)
    assert not is_set("grade_points", None)
    assert not is_set("flags", [])
    assert is_set("flags", ["late"])
    assert not is_set("state", "created")
    assert not is_set("state", "submitted")
    assert is_set("state", "returned")
    assert not is_set("grade_comment", "")


def test_a_returned_zero_grade_counts_as_graded_work_on_delete() -> None:
    from lmsctl.plan.fingerprints import delete_impact

    # the API leaves a grade of 0 out of its answers (x-omitempty): the returned state remains
    impact = delete_impact({"s1": {"state": "returned"}, "s2": {"state": "created"}})
    assert (impact.submissions, impact.graded) == (2, 1)
    assert impact.holds_student_work
