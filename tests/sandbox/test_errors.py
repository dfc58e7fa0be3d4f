"""Every row of Clever's LMS Connect error table, reproduced by the sandbox (status + message)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import yaml

from lmsctl.sandbox.seed import dump_seed, generate_seed
from tests.support.sandbox_api import FUTURE, OTHER_SECTION_STUDENT, SECTION, STUDENT, TEACHER, Api

ASSIGNMENTS = f"/v3.1/sections/{SECTION}/assignments"


def _error(r: httpx.Response, status: int, text: str) -> None:
    assert r.status_code == status, r.text
    assert r.json() == {"message": text}


def test_missing_required_fields_on_create(api: Api) -> None:
    r = api.post(ASSIGNMENTS, json={"assignee_mode": "all"})
    _error(r, 400, "missing required field(s): title, description, due_date")
    r = api.post(ASSIGNMENTS, json={"title": "T", "assignee_mode": "all"})
    _error(r, 400, "missing required field(s): description, due_date")


def test_empty_body_on_create(api: Api) -> None:
    _error(api.post(ASSIGNMENTS, content=b""), 400, "request body is required, but was empty")


def test_due_date_in_the_past_on_create_and_update(api: Api) -> None:
    body = {"title": "T", "description": "D", "due_date": "2020-01-01T00:00:00Z"}
    _error(
        api.post(ASSIGNMENTS, json=body | {"assignee_mode": "all"}),
        400,
        "due_date must be in the future",
    )
    a = api.create()
    r = api.patch(f"{ASSIGNMENTS}/{a['id']}", json={"due_date": "2020-01-01T00:00:00Z"})
    _error(r, 400, "due_date must be in the future")


def test_due_date_follows_the_sandbox_clock(api: Api) -> None:
    api.put("/_sandbox/clock", json={"now": "2031-06-01T00:00:00Z"})
    r = api.post(
        ASSIGNMENTS,
        json={"title": "T", "description": "D", "due_date": FUTURE, "assignee_mode": "all"},
    )
    _error(r, 400, "due_date must be in the future")


def test_invalid_string_escape(api: Api) -> None:
    r = api.post(ASSIGNMENTS, content=b'{"title": "a\\ b"}')
    _error(r, 400, "invalid character ' ' in string escape code")


def test_submission_types_enum(api: Api) -> None:
    body = {
        "title": "T",
        "description": "D",
        "due_date": FUTURE,
        "assignee_mode": "all",
        "submission_types": ["essay"],
    }
    r = api.post(ASSIGNMENTS, json=body)
    _error(
        r,
        400,
        "validation failure list:\nsubmission_types.0 in body should be one of "
        "[link file text discussion]",
    )


def test_missing_value_before_comma(api: Api) -> None:
    r = api.post(ASSIGNMENTS, content=b'{\n"assignee_mode": ,\n}')
    _error(r, 400, "invalid character ',' looking for beginning of value")


def test_invalid_json_formatting(api: Api) -> None:
    r = api.post(ASSIGNMENTS, content=b'{"title": "T" : "x"}')
    _error(r, 400, "invalid character ':' after object key:value pair")


def test_malformed_assignment_id_is_invalid_id(api: Api) -> None:
    for method in ("GET", "PATCH", "DELETE"):
        _error(api.request(method, f"{ASSIGNMENTS}/not-a-uuid", json={}), 400, "INVALID_ID")
    _error(api.get(f"{ASSIGNMENTS}/123/submissions"), 400, "INVALID_ID")


def test_unknown_grader_id(api: Api) -> None:
    a = api.create()
    path = f"{ASSIGNMENTS}/{a['id']}/submissions/{STUDENT}"
    stranger = "5f1a0c0b8e1d2a0001d00002"  # the teacher of another section
    r = api.patch(path, json={"grade_points": 5, "grader_id": stranger})
    _error(r, 400, f"NOT_FOUND: Person with id clever:{stranger} not found for this integration.")
    assert api.patch(path, json={"grader_id": TEACHER}).status_code == 200


def test_impossible_date_on_update(api: Api) -> None:
    a = api.create()
    r = api.patch(f"{ASSIGNMENTS}/{a['id']}", json={"due_date": "2031-02-30T00:00:00Z"})
    _error(r, 400, 'parsing time "2031-02-30T00:00:00Z": day out of range')


def test_individuals_without_assignee_ids(api: Api) -> None:
    body = {"title": "T", "description": "D", "due_date": FUTURE, "assignee_mode": "individuals"}
    _error(api.post(ASSIGNMENTS, json=body), 400, "MISSING_REQUIRED_FIELD")


def test_no_assignee_mode_means_no_valid_users(api: Api) -> None:
    body = {"title": "T", "description": "D", "due_date": FUTURE}
    _error(api.post(ASSIGNMENTS, json=body), 400, "no valid users found in Canvas")
    outsider = {"assignee_mode": "individuals", "assignee_ids": [OTHER_SECTION_STUDENT]}
    _error(api.post(ASSIGNMENTS, json=body | outsider), 400, "no valid users found in Canvas")


def test_no_token(api: Api) -> None:
    _error(api.get("/v3.1/districts", token=None), 401, "No authorization provided")


def test_unknown_token(api: Api) -> None:
    _error(api.get("/v3.1/districts", token="WRONG"), 403, "Could not authorize token")


def test_deleted_assignment(api: Api) -> None:
    a = api.create()
    assert api.delete(f"{ASSIGNMENTS}/{a['id']}").status_code == 200
    _error(api.get(f"{ASSIGNMENTS}/{a['id']}"), 404, "Assignment does not exist")
    _error(api.delete(f"{ASSIGNMENTS}/{a['id']}"), 404, "Assignment does not exist")
    unknown = "00000000-0000-4000-8000-000000000000"
    _error(api.get(f"{ASSIGNMENTS}/{unknown}"), 404, "Assignment does not exist")


def test_user_not_enrolled_or_not_assigned(api: Api) -> None:
    a = api.create()
    _error(
        api.get(f"{ASSIGNMENTS}/{a['id']}/submissions/{OTHER_SECTION_STUDENT}"),
        404,
        "User not found",
    )
    b = api.create(assignee_mode="individuals", assignee_ids=[STUDENT])
    other = "5f1a0c0b8e1d2a0001b00004"  # enrolled in SECTION, not assigned to b
    path = f"{ASSIGNMENTS}/{b['id']}/submissions/{other}"
    _error(api.get(path), 404, "User not found")
    _error(api.patch(path, json={"grade_points": 1}), 404, "User not found")


def test_unsupported_method_gets_405_with_allow(api: Api) -> None:
    r = api.put(ASSIGNMENTS, json={})
    assert r.status_code == 405
    assert r.headers["Allow"] == "POST"
    assert r.json() == {"message": ""}
    r = api.post(f"{ASSIGNMENTS}/00000000-0000-4000-8000-000000000000")
    assert r.status_code == 405
    assert r.headers["Allow"] == "GET, PATCH, DELETE"


def test_section_of_another_district_is_not_found(
    make_api: Callable[..., Api], two_districts: Path
) -> None:
    api = make_api(seed_path=two_districts)
    theirs = yaml.safe_load(two_districts.read_text())["districts"][1]
    their_section = theirs["sections"][0]["id"]
    body = {"title": "T", "description": "D", "due_date": FUTURE, "assignee_mode": "all"}
    r = api.post(f"/v3.1/sections/{their_section}/assignments", json=body)
    _error(r, 404, "Section not found")
    assert api.get(f"/v3.1/sections/{their_section}").status_code == 404
    assert api.get(f"/v3.1/districts/{theirs['id']}").status_code == 404
    r = api.post(f"/v3.1/sections/{their_section}/assignments", json=body, token="DEMO_TOKEN_2")
    assert r.status_code == 200


def test_flag_and_state_enums_on_submissions(api: Api) -> None:
    a = api.create()
    path = f"{ASSIGNMENTS}/{a['id']}/submissions/{STUDENT}"
    r = api.patch(path, json={"flags": ["late", "excluded"], "state": "graded"})
    _error(
        r,
        400,
        "validation failure list:\nflags.1 in body should be one of [excused late missing]"
        "\nstate in body should be one of [created submitted returned reclaimed]",
    )


def test_wrong_json_type_is_a_go_unmarshal_error(api: Api) -> None:
    a = api.create()
    r = api.patch(f"{ASSIGNMENTS}/{a['id']}", json={"points_possible": "ten"})
    _error(
        r,
        400,
        "json: cannot unmarshal string into Go struct field "
        "AssignmentRequest.points_possible of type float64",
    )


def test_schoology_quirks(make_api: Callable[..., Api], tmp_path: Path) -> None:
    data = generate_seed(sections=1, students=2, lms_type="schoology")
    data["districts"][0]["sections"][0]["students"][1]["launched"] = False
    seed = tmp_path / "schoology.yaml"
    seed.write_text(dump_seed(data))
    api = make_api(seed_path=seed)
    section = data["districts"][0]["sections"][0]["id"]
    launched, never = (s["id"] for s in data["districts"][0]["sections"][0]["students"])
    body = {"title": "T", "description": "D", "due_date": FUTURE, "assignee_mode": "all"}
    r = api.post(
        f"/v3.1/sections/{section}/assignments", json=body | {"submission_types": ["link"]}
    )
    _error(r, 400, "Schoology does not support submission type of link")
    a = api.create(section, submission_types=["file"])
    base = f"/v3.1/sections/{section}/assignments/{a['id']}/submissions"
    _error(api.patch(f"{base}/{never}", json={"grade_points": 3}), 500, "Error updating submission")
    r = api.patch(
        f"{base}/{launched}", json={"attachments": [{"type": "link", "url": "https://x"}]}
    )
    _error(r, 400, "Schoology does not support submission type of link")
    assert api.patch(f"{base}/{launched}", json={"grade_points": 3}).status_code == 200
