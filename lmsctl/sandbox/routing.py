"""What every route group shares: the request's district and API version, its JSON body, the
path's section and assignment, and routes that answer 405 for methods they do not support."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from lmsctl.sandbox import gojson
from lmsctl.sandbox.runtime import Sandbox
from lmsctl.sandbox.shapes import message
from lmsctl.sandbox.store import District
from lmsctl.sandbox.validation import BodyError, is_object_id, is_uuid

ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]

Handler = Callable[[Request], Awaitable[Response]]


def resource(path: str, handlers: dict[str, Handler]) -> Route:
    """A route that answers 405 with an Allow header for the methods it does not support."""
    allow = ", ".join(handlers)

    async def endpoint(request: Request) -> Response:
        handler = handlers.get(request.method)
        if handler is None:
            return JSONResponse({"message": ""}, status_code=405, headers={"Allow": allow})
        return await handler(request)

    return Route(path, endpoint, methods=ALL_METHODS)


class Routes:
    """A group of endpoint handlers of one sandbox; each answers exactly as Clever documents."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sb = sandbox
        self.store = sandbox.store

    @staticmethod
    def district(request: Request) -> District:
        """The token's district (the gateway found it)."""
        district: District = request.scope["state"]["district"]
        return district

    @staticmethod
    def version(request: Request) -> str:
        """``v3.0`` or ``v3.1``."""
        return str(request.url.path.split("/")[1])

    async def body(self, request: Request) -> Any:
        """The request's JSON body as Clever's Go backend reads it, or BodyError."""
        raw = await request.body()
        text = raw.decode("utf-8", errors="replace")
        if not text.strip() or text.strip() == "null":
            raise BodyError("request body is required, but was empty")
        try:
            return gojson.parse(text)
        except gojson.GoJsonError as exc:
            raise BodyError(str(exc)) from None

    def section(self, request: Request) -> tuple[str, dict[str, Any]] | Response:
        """The path's section if it belongs to the token's district, else a 404 answer."""
        section_id = request.path_params["section_id"]
        found = self.store.get_section(section_id) if is_object_id(section_id) else None
        if found is None or found[0] != self.district(request).id:
            return message(404, "Section not found")
        return found

    def assignment(self, request: Request) -> tuple[dict[str, Any], dict[str, Any]] | Response:
        """(section, assignment) of the path, or the 404 / 400 INVALID_ID answer."""
        found = self.section(request)
        if isinstance(found, Response):
            return found
        assignment_id = request.path_params["assignment_id"]
        if not is_uuid(assignment_id):
            return message(400, "INVALID_ID")
        stored = self.store.get_assignment(assignment_id.lower())
        if stored is None or stored[0] != found[1]["id"]:
            return message(404, "Assignment does not exist")
        return found[1], stored[1]
