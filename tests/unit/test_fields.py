"""The field table: echoes compare equal to what was sent, clears go out as the API takes them,
and each LMS's documented refusals are found before any write."""

from __future__ import annotations

import pytest

from lmsctl.diff import MISSING, Decision, decide
from lmsctl.fields import (
    ASSIGNMENT_RULES,
    GRADE_RULES,
    Clear,
    Refusal,
    Resource,
    assignment_refusals,
    equal,
    grade_refusal_fields,
    grade_refusals,
    grade_rounding,
    grade_rounding_fields,
    ignored_fields,
    to_float32,
    to_wire,
)
from lmsctl.lms import LMS_TYPES
from lmsctl.model import ASSIGNMENT_FIELDS, GRADE_FIELDS


def test_every_writable_field_has_a_rule() -> None:
    assert set(ASSIGNMENT_RULES) == set(ASSIGNMENT_FIELDS)
    assert set(GRADE_RULES) == set(GRADE_FIELDS)


@pytest.mark.parametrize(
    ("field", "sent", "echo", "lms"),
    [
        ("extra_attempts", 0, None, ""),  # x-omitempty: 0 is left out of answers
        ("max_attempts", 0, None, ""),
        ("grade_points", 0, None, ""),
        ("flags", [], None, ""),
        ("submission_types", [], None, ""),
        ("attachments", [], None, ""),
        ("points_possible", 123456.789, 123456.79, "canvas"),  # format: float is a float32
        ("grade_points", 0.1, 0.10000000149011612, "schoology"),
        ("grade_points", 9.125, 9.12, "google_classroom"),  # 2 decimals, half-even
        ("grade_points", 9.125, 9.13, "google_classroom"),  # or half-up
        ("points_possible", 0, None, "google_classroom"),  # maxPoints 0 = ungraded = unset
        ("points_possible", 7.6e-139, None, "google_classroom"),  # 0 as a float32
        ("override_due_date", "2027-01-15T17:59:00.1239-06:00", "2027-01-15T23:59:00.123Z", ""),
        ("assignee_ids", ["b", "a", "a"], ["a", "b"], ""),
    ],
)
def test_what_the_api_echoes_compares_equal(
    field: str, sent: object, echo: object, lms: str
) -> None:
    assert equal(field, sent, echo, lms)
    # so apply, then plan, is in sync rather than drift forever
    assert decide(field, sent, sent, echo, lms) is Decision.IN_SYNC


@pytest.mark.parametrize(
    ("field", "a", "b", "lms"),
    [
        ("extra_attempts", 1, None, ""),
        ("grade_points", 9.12, 9.14, "google_classroom"),
        ("grade_points", 9.125, 9.12, "canvas"),  # only Google Classroom rounds
        ("points_possible", 0, None, "canvas"),  # Canvas keeps 0 points
        ("grade_points", 0.5, None, ""),
    ],
)
def test_real_differences_still_differ(field: str, a: object, b: object, lms: str) -> None:
    assert not equal(field, a, b, lms)


def test_a_teacher_grade_of_zero_is_not_mistaken_for_drift_on_a_newly_managed_field() -> None:
    assert decide("grade_points", 0, MISSING, None) is Decision.IN_SYNC


def test_float32_matches_go_encoding() -> None:
    assert to_float32(0.1) == 0.1
    assert to_float32(123456.789) == 123456.79
    assert to_float32(16777217.0) == 16777216.0


def test_clearing_is_sent_the_way_the_api_takes_it() -> None:
    assert to_wire("grade_comment", None, Resource.GRADE) is None
    assert to_wire("flags", None, Resource.GRADE) == []
    refusing = {name for name, rule in GRADE_RULES.items() if rule.clear is Clear.NEVER}
    assert refusing == {"grade_points", "extra_attempts", "state"}
    for name in refusing:
        assert GRADE_RULES[name].clear_reason and GRADE_RULES[name].clear_hint


def test_lms_refusals() -> None:
    assert [
        r.refusal for r in assignment_refusals("schoology", {"submission_types": ["link"]})
    ] == [Refusal.LMS_SUBMISSION_TYPE]
    assert assignment_refusals("canvas", {"submission_types": ["link"]}) == []
    attachments = {"attachments": [{"type": "link", "url": "u"}]}
    assert [r.field for r in assignment_refusals("schoology", attachments)] == ["attachments"]
    for state in ("created", "submitted", "reclaimed"):
        assert [r.refusal for r in grade_refusals("google_classroom", {"state": state})] == [
            Refusal.STUDENT_ONLY_STATE
        ]
    assert grade_refusals("google_classroom", {"state": "returned"}) == []
    assert grade_refusals("canvas", {"state": "submitted"}) == []
    assert grade_rounding("google_classroom", "grade_points", 9.125) == 9.13
    assert grade_rounding("google_classroom", "grade_points", 9.5) is None
    assert grade_rounding("canvas", "grade_points", 9.125) is None
    assert ignored_fields("canvas") == {"start_date", "term_id"}
    assert ignored_fields("schoology") == frozenset()


@pytest.mark.parametrize("lms", [*LMS_TYPES, "moodle"])
def test_the_planner_skips_only_grades_its_lms_can_neither_refuse_nor_round(lms: str) -> None:
    # the planner checks a grade against its LMS only when it holds one of these fields: a
    # refusal or a rounding of any other field would go unreported
    values: list[object] = ["created", "submitted", "reclaimed", "returned", 9.125, 1e-9, 7, "x"]
    for name in GRADE_RULES:
        for value in values:
            if grade_refusals(lms, {name: value}):
                assert name in grade_refusal_fields(lms)
            if grade_rounding(lms, name, value) is not None:
                assert name in grade_rounding_fields(lms)
    assert ("state" in grade_refusal_fields(lms)) is (lms == "google_classroom")
    assert ("grade_points" in grade_rounding_fields(lms)) is (lms == "google_classroom")


@pytest.mark.parametrize(
    "value", [3.40282e38, 3.402823e38, 3.4028234e38, 3.4028234663852886e38, -3.40282e38, 1e-46]
)
def test_float32_rounding_near_the_largest_float32_agrees_with_the_sandbox(value: float) -> None:
    # lmsctl's comparison and the sandbox's echo round the same way up to float32's largest
    # (a value in reach of it once raised OverflowError while rounding: a 500 in the sandbox)
    from lmsctl.fields import to_float32
    from lmsctl.sandbox.validation import go_float32

    assert to_float32(value) == go_float32(value)
    assert to_float32(to_float32(value)) == to_float32(value)
