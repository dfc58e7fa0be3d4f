"""The LMS Connect routes (/v3.1 only): a section's assignments and their submissions."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from lmsctl.lms import LmsProfile, profile
from lmsctl.sandbox.paging import SUBMISSIONS_MAX_LIMIT, query_limit
from lmsctl.sandbox.routing import Routes, resource
from lmsctl.sandbox.rules import (
    apply_assignment_fields,
    check_refused_types,
    check_submission_state,
    no_valid_users,
    round_grades,
    stored_value,
)
from lmsctl.sandbox.shapes import message, out_assignment, out_submission
from lmsctl.sandbox.validation import (
    ASSIGNMENT_FIELDS,
    SUBMISSION_FIELDS,
    BodyError,
    decode_body,
    missing_required,
)

SECTION = "/sections/{section_id}"
ASSIGNMENT = SECTION + "/assignments/{assignment_id}"


class Coursework(Routes):
    """Assignments and submissions, with the rules of the district's LMS."""

    def routes(self, v31: str = "/v3.1") -> list[Route]:
        asg = v31 + ASSIGNMENT
        return [
            resource(v31 + SECTION + "/assignments", {"POST": self.create_assignment}),
            resource(
                asg,
                {
                    "GET": self.assignment_resource,
                    "PATCH": self.assignment_resource,
                    "DELETE": self.assignment_resource,
                },
            ),
            resource(asg + "/submissions", {"GET": self.submissions}),
            resource(
                asg + "/submissions/{user_id}",
                {"GET": self.submission_resource, "PATCH": self.submission_resource},
            ),
        ]

    def lms(self, request: Request) -> LmsProfile:
        """The profile of the token's district's LMS."""
        return profile(self.district(request).lms_type)

    def new_submission(
        self, assignment_id: str, user_id: str, lms: LmsProfile, now: str
    ) -> dict[str, Any]:
        return {
            "id": self.sb.new_uuid() if lms.submission_ids else "",
            "assignment_id": assignment_id,
            "user_id": user_id,
            "state": "created",
            "grade": None,
            "grade_comment": None,
            "grader_id": None,
            "override_due_date": None,
            "created": now,
            "last_modified": now,
        }

    # assignments ------------------------------------------------------------------------------

    async def create_assignment(self, request: Request) -> Response:
        found = self.section(request)
        if isinstance(found, Response):
            return found
        section = found[1]
        lms = self.lms(request)
        try:
            fields = decode_body(await self.body(request), ASSIGNMENT_FIELDS, "AssignmentRequest")
            missing = missing_required(fields, ("title", "description", "due_date"))
            if missing:
                raise BodyError(f"missing required field(s): {', '.join(missing)}")
            self._check_due_date(fields)
            check_refused_types(fields, lms)
            assignees = self._assignees(fields, section, lms, mode=None)
        except BodyError as exc:
            return message(400, str(exc))
        now = self.sb.now_text()
        data = _new_assignment(self.sb.new_uuid(), now)
        apply_assignment_fields(data, fields, lms)
        if data["display_date"] is None:
            data["display_date"] = now
            if lms.start_date_is_display_date:
                data["start_date"] = now
        data["assignee_mode"], ids = assignees
        if data["assignee_mode"] == "individuals":
            data["assignee_ids"] = ids
        submissions = {uid: self.new_submission(data["id"], uid, lms, now) for uid in ids}
        self.store.insert_assignment(section["id"], data, submissions)
        return JSONResponse({"data": out_assignment(data)})

    async def assignment_resource(self, request: Request) -> Response:
        found = self.assignment(request)
        if isinstance(found, Response):
            return found
        section, data = found
        if request.method == "GET":
            return JSONResponse({"data": out_assignment(data)})
        if request.method == "DELETE":
            self.store.delete_assignment(data["id"])
            return JSONResponse({})
        lms = self.lms(request)
        try:
            fields = decode_body(await self.body(request), ASSIGNMENT_FIELDS, "AssignmentRequest")
            for name in ("title", "description"):
                if fields.get(name, "") is None:
                    del fields[name]
            self._check_due_date(fields)
            check_refused_types(fields, lms)
            mode_changes = "assignee_mode" in fields or "assignee_ids" in fields
            assignees = (
                self._assignees(fields, section, lms, mode=data["assignee_mode"], current=data)
                if mode_changes
                else None
            )
        except BodyError as exc:
            return message(400, str(exc))
        now = self.sb.now_text()
        apply_assignment_fields(data, fields, lms)
        add: dict[str, dict[str, Any]] = {}
        remove: list[str] = []
        if assignees is not None:
            mode, ids = assignees
            old = set(self._current_assignees(data, section))
            data["assignee_mode"] = mode
            if mode == "individuals":
                data["assignee_ids"] = ids
            else:
                data.pop("assignee_ids", None)
            new = set(ids)
            add = {uid: self.new_submission(data["id"], uid, lms, now) for uid in sorted(new - old)}
            remove = sorted(old - new)
        data["last_modified"] = now
        self.store.update_assignment(data, add=add, remove=remove)
        return JSONResponse({"data": out_assignment(data)})

    def _current_assignees(self, data: dict[str, Any], section: dict[str, Any]) -> list[str]:
        if data.get("assignee_mode") == "individuals":
            return list(data.get("assignee_ids", []))
        return self.store.section_member_ids(section["id"], "student")

    def _assignees(
        self,
        fields: dict[str, Any],
        section: dict[str, Any],
        lms: LmsProfile,
        *,
        mode: str | None,
        current: dict[str, Any] | None = None,
    ) -> tuple[str, list[str]]:
        """(mode, the student ids it assigns) for a create or a PATCH that touches assignees."""
        mode = fields.get("assignee_mode", mode)
        students = self.store.section_member_ids(section["id"], "student")
        if mode is None:
            raise no_valid_users(lms)
        if mode == "all":
            if not students:
                raise no_valid_users(lms)
            return "all", students
        requested = fields.get("assignee_ids")
        if requested is None and current is not None:
            requested = current.get("assignee_ids")
        if not requested:
            raise BodyError("MISSING_REQUIRED_FIELD")
        enrolled = set(students)
        ids = [uid for uid in dict.fromkeys(requested) if uid in enrolled]  # order kept
        if not ids:
            raise no_valid_users(lms)
        return "individuals", ids

    def _check_due_date(self, fields: dict[str, Any]) -> None:
        due = fields.get("due_date")
        if due is not None and due <= self.sb.now():
            raise BodyError("due_date must be in the future")

    # submissions ------------------------------------------------------------------------------

    async def submissions(self, request: Request) -> Response:
        found = self.assignment(request)
        if isinstance(found, Response):
            return found
        section, data = found
        q = request.query_params
        limit_text = q.get("limit")
        limit = query_limit(
            limit_text, default=SUBMISSIONS_MAX_LIMIT, maximum=SUBMISSIONS_MAX_LIMIT, too_large=400
        )
        if isinstance(limit, Response):
            return limit
        after: str | None = None
        started = self.sb.now().timestamp()
        cursor = q.get("cursor")
        if cursor is not None:
            try:
                state = self.sb.read_cursor(cursor, data["id"])
            except ValueError as exc:
                if str(exc) == "expired":
                    return message(400, "cursor expired: restart the listing without a cursor")
                return message(400, "invalid cursor")
            after, started = str(state["u"]), float(state["t"])
            if limit_text is None:
                limit = int(state.get("l", limit))
        page, more = self.store.submission_page(data["id"], after, limit)
        result: dict[str, Any] = {"data": [out_submission(s) for s in page]}
        if more and page:
            token = self.sb.make_cursor(data["id"], page[-1]["user_id"], started, limit)
            uri = (
                f"/v3.1/sections/{section['id']}/assignments/{data['id']}/submissions"
                f"?cursor={token}&limit={limit}"
            )
            result["links"] = [{"rel": "next", "uri": uri}]
        return JSONResponse(result)

    async def submission_resource(self, request: Request) -> Response:
        found = self.assignment(request)
        if isinstance(found, Response):
            return found
        section, data = found
        user_id = request.path_params["user_id"]
        sub = self.store.get_submission(data["id"], user_id)
        if sub is None:
            return message(404, "User not found")
        if request.method == "GET":
            return JSONResponse({"data": out_submission(sub)})
        lms = self.lms(request)
        try:
            fields = decode_body(await self.body(request), SUBMISSION_FIELDS, "SubmissionRequest")
            grader = fields.get("grader_id")
            if grader is not None and grader not in self.store.section_member_ids(
                section["id"], "teacher"
            ):
                raise BodyError(
                    f"NOT_FOUND: Person with id clever:{grader} not found for this integration."
                )
            check_refused_types({"attachments": fields.get("attachments")}, lms)
            check_submission_state(fields, lms)
        except BodyError as exc:
            return message(400, str(exc))
        if lms.grade_needs_student_launch:
            user = self.store.get_user(user_id)
            if user is not None and not user.launched:
                return message(500, "Error updating submission")
        round_grades(fields, lms)
        for name, value in fields.items():
            sub[name] = stored_value(value)
        sub["last_modified"] = self.sb.now_text()
        self.store.put_submission(data["id"], user_id, sub)
        return JSONResponse({"data": out_submission(sub)})


def _new_assignment(assignment_id: str, now: str) -> dict[str, Any]:
    """A new assignment before its body's fields are applied: what the API shows for each."""
    return {
        "id": assignment_id,
        "title": "",
        "description": "",
        "description_plaintext": None,
        "state": "open",
        "assignee_mode": "all",
        "due_date": None,
        "display_date": None,
        "start_date": None,
        "end_date": None,
        "grading_type": "points",
        "points_possible": None,
        "term_id": None,
        "category_id": None,
        "created": now,
        "last_modified": now,
    }
