"""Assignments and submissions behave as Clever documents (fields, per-LMS quirks, envelopes)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from tests.support.sandbox_api import SECTION, STUDENT, TEACHER, Api

ASSIGNMENTS = f"/v3.1/sections/{SECTION}/assignments"
CLEVER_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def test_create_answers_200_with_every_stored_field(api: Api) -> None:
    a = api.create(due_date="2031-05-01T18:30:00-05:00", max_attempts=2, grading_type="points")
    assert UUID.match(a["id"])
    assert a["due_date"] == "2031-05-01T23:30:00.000Z"
    for name in ("created", "last_modified", "display_date"):
        assert CLEVER_TIME.match(a[name]), name
    assert a["title"] == "Homework 1"
    assert a["points_possible"] == 10
    assert a["max_attempts"] == 2
    assert a["submission_types"] == ["text"]
    assert api.get(f"{ASSIGNMENTS}/{a['id']}").json() == {"data": a}


def test_patch_changes_only_the_fields_sent(api: Api) -> None:
    a = api.create()
    r = api.patch(f"{ASSIGNMENTS}/{a['id']}", json={"title": "Renamed"})
    assert r.status_code == 200
    b = r.json()["data"]
    assert b["title"] == "Renamed"
    assert {k: v for k, v in b.items() if k not in ("title", "last_modified")} == {
        k: v for k, v in a.items() if k not in ("title", "last_modified")
    }
    assert api.get(f"{ASSIGNMENTS}/{a['id']}").json()["data"] == b


def test_canvas_ignores_state_start_date_and_term_id(api: Api) -> None:
    a = api.create(
        state="draft",
        start_date="2031-01-01T00:00:00Z",
        display_date="2031-02-01T00:00:00Z",
        term_id="5f1a0c0b8e1d2a0001e00001",
    )
    assert a["state"] == "open"
    assert a["term_id"] is None
    assert a["start_date"] == a["display_date"] == "2031-02-01T00:00:00.000Z"
    r = api.patch(f"{ASSIGNMENTS}/{a['id']}", json={"state": "locked", "term_id": "x"})
    assert (r.json()["data"]["state"], r.json()["data"]["term_id"]) == ("open", None)


def test_create_makes_one_submission_per_assignee(api: Api) -> None:
    a = api.create()
    subs = api.get(f"{ASSIGNMENTS}/{a['id']}/submissions").json()
    assert len(subs["data"]) == 25
    assert "links" not in subs
    assert {s["state"] for s in subs["data"]} == {"created"}
    assert all("grade_points" not in s and s["grade"] is None for s in subs["data"])
    assert all(UUID.match(s["id"]) for s in subs["data"])


def test_patching_assignees_adds_and_removes_submissions(api: Api) -> None:
    b = api.create(assignee_mode="individuals", assignee_ids=[STUDENT])
    assert b["assignee_ids"] == [STUDENT]
    path = f"{ASSIGNMENTS}/{b['id']}"
    other = "5f1a0c0b8e1d2a0001b00004"
    api.patch(path, json={"assignee_ids": [other]})
    users = [s["user_id"] for s in api.get(f"{path}/submissions").json()["data"]]
    assert users == [other]
    api.patch(path, json={"assignee_mode": "all"})
    assert len(api.get(f"{path}/submissions").json()["data"]) == 25
    assert "assignee_ids" not in api.get(path).json()["data"]


def test_grading_a_submission(api: Api) -> None:
    a = api.create()
    path = f"{ASSIGNMENTS}/{a['id']}/submissions/{STUDENT}"
    body = {
        "grade_points": 9,
        "grade": "A-",
        "grade_comment": "Nice work",
        "flags": ["late"],
        "state": "returned",
        "extra_attempts": 1,
        "override_due_date": "2031-06-01T00:00:00Z",
        "grader_id": TEACHER,
    }
    r = api.patch(path, json=body)
    assert r.status_code == 200
    got = r.json()["data"]
    assert got | {"last_modified": None} == got | body | {
        "grade_points": 9.0,
        "override_due_date": "2031-06-01T00:00:00.000Z",
        "last_modified": None,
    }
    assert api.get(path).json()["data"] == got
    cleared = api.patch(path, json={"grade_comment": None, "flags": []}).json()["data"]
    assert cleared["grade_comment"] is None and "flags" not in cleared
    assert cleared["grade_points"] == 9.0


def test_teacher_change_and_turn_in_are_visible(api: Api) -> None:
    a = api.create()
    base = f"{ASSIGNMENTS}/{a['id']}/submissions/{STUDENT}"
    turn_in = f"/_sandbox/sections/{SECTION}/assignments/{a['id']}/submissions/{{}}/turn-in"
    r = api.post(turn_in.format(STUDENT))
    assert r.status_code == 200
    assert api.get(base).json()["data"]["state"] == "submitted"
    api.put("/_sandbox/clock", json={"now": "2031-07-01T00:00:00Z"})
    other = "5f1a0c0b8e1d2a0001b00004"
    api.post(turn_in.format(other))
    late = api.get(f"{ASSIGNMENTS}/{a['id']}/submissions/{other}").json()["data"]
    assert late["flags"] == ["late"]


def test_google_classroom_submissions_have_empty_ids(
    make_api: Callable[..., Api], seed_file: Callable[..., Path]
) -> None:
    api = make_api(seed_path=seed_file(sections=1, students=3, lms_type="google_classroom"))
    district = api.get("/v3.1/districts").json()["data"][0]["data"]
    assert district["lms_type"] == "google_classroom"
    section = "6a5e000001a0000000000001"
    a = api.create(section)
    subs = api.get(f"/v3.1/sections/{section}/assignments/{a['id']}/submissions").json()["data"]
    assert [s["id"] for s in subs] == ["", "", ""]


def test_control_list_counts_assignments_and_reset_restores_the_seed(api: Api) -> None:
    first, second = api.create(), api.create(title="Homework 2")
    listed = api.get(f"/_sandbox/sections/{SECTION}/assignments").json()["data"]
    assert [a["id"] for a in listed] == [first["id"], second["id"]]
    assert api.post("/_sandbox/reset").status_code == 200
    assert api.get(f"/_sandbox/sections/{SECTION}/assignments").json()["data"] == []
    assert api.get(f"{ASSIGNMENTS}/{first['id']}").status_code == 404


def test_districts_and_roster_shapes(api: Api) -> None:
    r = api.get("/v3.1/districts").json()
    district = r["data"][0]["data"]
    assert (district["lms_type"], district["lms_state"]) == ("canvas", "success")
    one = api.get(f"/v3.1/districts/{district['id']}").json()
    assert one["data"] == district
    assert "lms_state" not in api.get(f"/v3.0/districts/{district['id']}").json()["data"]
    section = api.get(f"/v3.1/sections/{SECTION}").json()["data"]
    assert section["teachers"] == [TEACHER] and len(section["students"]) == 25
    user = api.get(f"/v3.1/users/{STUDENT}").json()["data"]
    assert user["roles"]["student"]["sis_id"] == "603"
    teachers = api.get(f"/v3.0/sections/{SECTION}/users", params={"role": "teacher"}).json()
    assert [u["data"]["id"] for u in teachers["data"]] == [TEACHER]
    assert api.get(f"/v3.0/sections/{SECTION}/assignments").status_code == 404


def test_concurrent_writes_from_one_event_loop(tmp_path: Path) -> None:
    import asyncio

    import httpx

    from lmsctl.sandbox import DEMO_TOKEN, SandboxConfig, sandbox_transport

    transport = sandbox_transport(SandboxConfig(db_path=tmp_path / "c.db"))
    body = {
        "title": "T",
        "description": "D",
        "due_date": "2031-01-01T00:00:00Z",
        "assignee_mode": "all",
    }

    async def go() -> list[int]:
        async with httpx.AsyncClient(
            transport=transport,
            base_url="http://sandbox.local",
            headers={"Authorization": f"Bearer {DEMO_TOKEN}"},
        ) as client:
            answers = await asyncio.gather(
                *(client.post(f"{ASSIGNMENTS}", json=body) for _ in range(40))
            )
            return [r.status_code for r in answers]

    assert asyncio.run(go()) == [200] * 40
    listed = Api(transport).get(f"/_sandbox/sections/{SECTION}/assignments").json()["data"]
    assert len({a["id"] for a in listed}) == 40


def test_answers_echo_numbers_and_defaults_the_way_the_api_does(api: Api) -> None:
    # points_possible and grade_points are `format: float` (a float32); x-omitempty fields
    # holding their zero value are left out of answers
    a = api.create(points_possible=123456.789, max_attempts=0)
    assert a["points_possible"] == 123456.79
    assert "max_attempts" not in a
    path = f"{ASSIGNMENTS}/{a['id']}/submissions/{STUDENT}"
    sub = api.patch(path, json={"grade_points": 0, "extra_attempts": 0, "flags": []}).json()
    assert not {"grade_points", "extra_attempts", "flags"} & set(sub["data"])
    sub = api.patch(path, json={"grade_points": 7.3, "grade_comment": "Good"}).json()["data"]
    assert sub["grade_points"] == 7.3
    # grade_points is not nullable: a null leaves the grade as it was; nullable fields clear
    sub = api.patch(path, json={"grade_points": None, "grade_comment": None}).json()["data"]
    assert sub["grade_points"] == 7.3 and sub["grade_comment"] is None


def test_google_classroom_rounds_grades_keeps_ungraded_points_unset_and_refuses_student_states(
    make_api: Callable[..., Api], seed_file: Callable[..., Path]
) -> None:
    api = make_api(seed_path=seed_file(sections=1, students=2, lms_type="google_classroom"))
    section, student = "6a5e000001a0000000000001", "6a5e000001b0000000000001"
    a = api.create(section, points_possible=0)
    assert a["points_possible"] is None  # maxPoints 0: ungraded
    path = f"/v3.1/sections/{section}/assignments/{a['id']}/submissions/{student}"
    assert api.patch(path, json={"grade_points": 9.126}).json()["data"]["grade_points"] == 9.13
    for state in ("created", "submitted", "reclaimed"):
        r = api.patch(path, json={"state": state})
        assert r.status_code == 400, state
        assert "does not allow a teacher" in r.json()["message"]
    assert api.patch(path, json={"state": "returned"}).json()["data"]["state"] == "returned"
