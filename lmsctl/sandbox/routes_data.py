"""The Data API (rostering) routes: districts, sections, users, Data API range paging."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from lmsctl.sandbox.paging import data_api_limit, range_links
from lmsctl.sandbox.routing import Routes, resource
from lmsctl.sandbox.shapes import for_version, message, one

#: the Data API's ``count`` query enum on list endpoints (clever-data-api-v3.1.swagger.yml)
COUNT_VALUES = ("", "true", "false", "undefined")
#: the ``role`` query enums of GET /sections/{id}/users and of GET /users
SECTION_ROLES = ("student", "teacher")
USER_ROLES = ("contact", "district_admin", "staff", "student", "teacher")

#: one page of a listing: (role, starting_after, ending_before, limit) -> objects
RolePage = Callable[[str | None, str | None, str | None, int], list[dict[str, Any]]]


class DataApi(Routes):
    """GET-only rostering endpoints, under /v3.0 and /v3.1 (v3.0 leaves out v3.1's fields)."""

    def routes(self, v: str) -> list[Route]:
        """The routes under the version prefix ``v`` (``/v3.0`` or ``/v3.1``)."""
        sec = "/sections/{section_id}"
        return [
            resource(v + "/districts", {"GET": self.districts}),
            resource(v + "/districts/{district_id}", {"GET": self.district_by_id}),
            resource(v + "/sections", {"GET": self.district_listing}),
            resource(v + "/users", {"GET": self.district_listing}),
            resource(v + sec, {"GET": self.section_by_id}),
            resource(v + sec + "/users", {"GET": self.section_users}),
            resource(v + "/users/{user_id}", {"GET": self.user_by_id}),
        ]

    async def districts(self, request: Request) -> Response:
        count = request.query_params.get("count")
        if count is not None and count not in COUNT_VALUES:
            # the Data API spec's enum, in go-openapi's wording
            return message(400, "count in query should be one of [ true false undefined]")
        district = self.district(request)
        v = self.version(request)
        return JSONResponse(
            {
                "data": [{"data": for_version(v, district.data)}],
                "links": [{"rel": "self", "uri": f"/{v}/districts"}],
            }
        )

    async def district_by_id(self, request: Request) -> Response:
        district = self.district(request)
        if request.path_params["district_id"] != district.id:
            return message(404, "Resource not found")
        v = self.version(request)
        return one(for_version(v, district.data), f"/{v}/districts/{district.id}")

    def roster_section(self, request: Request) -> dict[str, Any] | None:
        """The path's section if it belongs to the token's district (the Data API answers
        ``Resource not found`` otherwise, not LMS Connect's ``Section not found``)."""
        found = self.section(request)
        return None if isinstance(found, Response) else found[1]

    async def section_by_id(self, request: Request) -> Response:
        section = self.roster_section(request)
        if section is None:
            return message(404, "Resource not found")
        v = self.version(request)
        data = for_version(v, section)
        return one(data, f"/{v}/sections/{data['id']}")

    async def user_by_id(self, request: Request) -> Response:
        user = self.store.get_user(request.path_params["user_id"])
        if user is None or user.district_id != self.district(request).id:
            return message(404, "Resource not found")
        v = self.version(request)
        return one(for_version(v, user.data), f"/{v}/users/{user.id}")

    async def section_users(self, request: Request) -> Response:
        """GET /sections/{id}/users?role=: the section's people, Data API range paging."""
        section = self.roster_section(request)
        if section is None:
            return message(404, "Resource not found")
        section_id = section["id"]

        def page(
            role: str | None, after: str | None, before: str | None, limit: int
        ) -> list[dict[str, Any]]:
            return self.store.section_users(
                section_id, role, starting_after=after, ending_before=before, limit=limit
            )

        return self._listing(request, f"/sections/{section_id}/users", SECTION_ROLES, page)

    async def district_listing(self, request: Request) -> Response:
        """GET /sections and GET /users?role=: the token's district, Data API range paging."""
        table = "sections" if request.url.path.endswith("/sections") else "users"
        district = self.district(request).id

        def page(
            role: str | None, after: str | None, before: str | None, limit: int
        ) -> list[dict[str, Any]]:
            return self.store.district_page(
                table, district, role=role, starting_after=after, ending_before=before, limit=limit
            )

        roles = USER_ROLES if table == "users" else None
        return self._listing(request, f"/{table}", roles, page)

    def _listing(
        self, request: Request, path: str, roles: tuple[str, ...] | None, page: RolePage
    ) -> Response:
        """A range-paged listing at ``path``; ``roles`` are the values its ``?role=`` may take
        (None: the listing has no role filter)."""
        q = request.query_params
        role = q.get("role") or None
        if roles is None:
            role = None
        elif role is not None and role not in roles:
            return message(400, f"role in query should be one of [{' '.join(roles)}]")
        limit_text = q.get("limit")
        limit = data_api_limit(limit_text)
        if isinstance(limit, Response):
            return limit
        after = q.get("starting_after") or None
        before = q.get("ending_before") or None

        def page_of(after: str | None, before: str | None, limit: int) -> list[dict[str, Any]]:
            return page(role, after, before, limit)

        items = page_of(after, before, limit)
        v = self.version(request)
        fixed = [f"role={role}"] if role else []
        if limit_text is not None:
            fixed.append(f"limit={limit}")
        links = range_links(f"/{v}{path}", fixed, after, before, items, page_of)
        return JSONResponse({"data": [{"data": for_version(v, i)} for i in items], "links": links})
