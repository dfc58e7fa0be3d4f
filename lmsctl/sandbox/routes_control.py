"""The control endpoints under /_sandbox/ (not part of Clever's API): for tests and demos.

They need no token and never get faults (the gateway only guards /v3.0 and /v3.1).
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from lmsctl.sandbox.config import FaultConfig
from lmsctl.sandbox.routing import resource
from lmsctl.sandbox.runtime import Sandbox
from lmsctl.sandbox.shapes import message, out_assignment, out_submission
from lmsctl.sandbox.validation import BodyError, parse_go_datetime
from lmsctl.timeutil import format_api_datetime, parse_datetime, utcnow


class Control:
    """The test-only control endpoints: reset, faults, clock, listing and turning in work."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sb = sandbox

    def routes(self) -> list[Route]:
        sec = "/_sandbox/sections/{section_id}"
        asg = sec + "/assignments/{assignment_id}"
        return [
            resource("/_sandbox/reset", {"POST": self.reset}),
            resource("/_sandbox/faults", {"GET": self.faults, "PUT": self.faults}),
            resource("/_sandbox/clock", {"GET": self.clock, "PUT": self.clock}),
            resource(sec + "/assignments", {"GET": self.list_assignments}),
            resource(asg + "/submissions/{user_id}/turn-in", {"POST": self.turn_in}),
        ]

    async def _json(self, request: Request) -> Any:
        raw = await request.body()
        if not raw.strip():
            return {}
        try:
            return json.loads(raw)
        except ValueError as exc:
            raise BodyError(f"body is not JSON: {exc}") from None

    async def reset(self, request: Request) -> Response:
        self.sb.reseed()
        self.sb.reset_rate()
        return JSONResponse({"reset": True, "now": self.sb.now_text()})

    async def list_assignments(self, request: Request) -> Response:
        section_id = request.path_params["section_id"]
        if self.sb.store.get_section(section_id) is None:
            return message(404, "Section not found")
        items = [out_assignment(a) for a in self.sb.store.section_assignments(section_id)]
        return JSONResponse({"data": items})

    async def faults(self, request: Request) -> Response:
        if request.method == "PUT":
            try:
                self.sb.set_faults(FaultConfig.from_dict(await self._json(request)))
            except (ValueError, TypeError) as exc:
                return message(400, str(exc))
        return JSONResponse({"data": self.sb.refresh_faults().to_dict()})

    async def clock(self, request: Request) -> Response:
        if request.method == "PUT":
            try:
                body = await self._json(request)
                if not isinstance(body, dict):
                    raise BodyError("clock body must be a JSON object")
                real = utcnow()
                if body.get("now") is not None:
                    target = parse_go_datetime(str(body["now"]))
                    self.sb.set_clock_offset((target - real).total_seconds())
                elif body.get("advance_seconds") is not None:
                    step = float(body["advance_seconds"])
                    self.sb.set_clock_offset(self.sb.clock_offset() + step)
                elif body.get("reset"):
                    self.sb.set_clock_offset(0.0)
                else:
                    raise BodyError('give "now", "advance_seconds" or "reset": true')
            except (BodyError, ValueError, TypeError) as exc:
                return message(400, str(exc))
        return JSONResponse({"now": self.sb.now_text(), "offset_seconds": self.sb.clock_offset()})

    async def turn_in(self, request: Request) -> Response:
        p = request.path_params
        stored = self.sb.store.get_assignment(p["assignment_id"].lower())
        if stored is None or stored[0] != p["section_id"]:
            return message(404, "Assignment does not exist")
        sub = self.sb.store.get_submission(stored[1]["id"], p["user_id"])
        if sub is None:
            return message(404, "User not found")
        try:
            body = await self._json(request)
        except BodyError as exc:
            return message(400, str(exc))
        now = self.sb.now()
        due_text = sub.get("override_due_date") or stored[1].get("due_date")
        if due_text and now > parse_datetime(due_text):
            flags = list(sub.get("flags") or [])
            if "late" not in flags:
                sub["flags"] = [*flags, "late"]
        if isinstance(body, dict) and isinstance(body.get("attachments"), list):
            sub["attachments"] = body["attachments"]
        sub["state"] = "submitted"
        sub["last_modified"] = format_api_datetime(now)
        self.sb.store.put_submission(stored[1]["id"], p["user_id"], sub)
        return JSONResponse({"data": out_submission(sub)})
