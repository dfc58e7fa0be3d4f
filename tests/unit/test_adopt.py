"""The manifest entry import --generate writes from a live assignment."""

from __future__ import annotations

import yaml

from lmsctl.usecases.entry import manifest_fields, manifest_grades, render_entry

LIVE = {
    "id": "3f1c2a9e-7d4b-4e0a-9a61-2b7c5d8e9f10",
    "title": "Essay",
    "description": "Two pages.",
    "due_date": "2030-03-01T05:59:00.000Z",
    "start_date": "2030-02-01T00:00:00.000Z",
    "end_date": None,
    "term_id": "t1",
    "points_possible": 20.0,
    "assignee_mode": "all",
    "assignee_ids": ["5f1a0c0b8e1d2a0001b00001"],
    "attachments": [],
    "created": "2029-12-01T00:00:00.000Z",
}


def test_only_reported_fields_the_lms_does_not_ignore() -> None:
    canvas = manifest_fields(LIVE, "canvas")
    assert list(canvas) == ["title", "description", "due_date", "points_possible", "assignee_mode"]
    schoology = manifest_fields(LIVE, "schoology")
    assert "start_date" in schoology and "term_id" in schoology
    assert "assignee_ids" not in schoology  # assignee_mode all: the LMS assigns everyone
    individuals = manifest_fields({**LIVE, "assignee_mode": "individuals"}, "schoology")
    assert individuals["assignee_ids"] == ["5f1a0c0b8e1d2a0001b00001"]


def test_grades_are_what_a_teacher_set() -> None:
    subs = [
        {"user_id": "b2", "state": "submitted", "grade": None},  # the student's own act
        {"user_id": "b1", "state": "returned", "grade_points": 9, "grade_comment": ""},
        {"user_id": "b3", "flags": ["late"], "state": "created"},
    ]
    assert manifest_grades(subs) == {
        "b1": {"grade_points": 9, "state": "returned"},
        "b3": {"flags": ["late"]},
    }


def test_dates_are_written_in_the_project_time_zone() -> None:
    fields = {
        "due_date": "2030-03-01T05:59:00.000Z",  # 23:59 on 28 Feb in Chicago: a date alone
        "display_date": "2030-03-10T15:30:00.000Z",  # summer time from 10 March
        "end_date": "2030-03-10T15:30:00.250Z",
    }
    data = yaml.safe_load("a:\n" + render_entry("k", fields, {}, "America/Chicago"))["a"]["k"]
    assert str(data["due_date"]) == "2030-02-28"
    assert data["display_date"] == "2030-03-10T10:30:00-05:00"
    assert data["end_date"] == "2030-03-10T10:30:00.250-05:00"
    utc = yaml.safe_load("a:\n" + render_entry("k", fields, {}, "UTC"))["a"]["k"]
    assert utc["due_date"] == "2030-03-01T05:59:00+00:00"
