"""Sandbox test helpers: demo ids and a synchronous client over the embedded sandbox."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from lmsctl.sandbox import DEMO_TOKEN

SECTION = "5f1a0c0b8e1d2a0001a00001"  # demo: Algebra 1, 25 students
TEACHER = "5f1a0c0b8e1d2a0001d00001"  # demo: the teacher of SECTION
STUDENT = "5f1a0c0b8e1d2a0001b00003"  # demo: sis 603, in SECTION
OTHER_SECTION_STUDENT = "5f1a0c0b8e1d2a0001b0001a"  # demo: in section 2, not SECTION
FUTURE = "2031-05-01T23:59:00.000Z"


class Api:
    """Calls the sandbox through lmsctl's own kind of transport, one request at a time."""

    def __init__(
        self, transport: httpx.AsyncBaseTransport, base_url: str = "http://sandbox.local"
    ) -> None:
        self.transport = transport
        self.base_url = base_url

    def request(
        self,
        method: str,
        path: str,
        *,
        token: str | None = DEMO_TOKEN,
        json: Any = None,
        content: bytes | str | None = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        extra = headers or {}

        async def go() -> httpx.Response:
            headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
            headers |= extra
            async with httpx.AsyncClient(
                transport=self.transport, base_url=self.base_url, headers=headers
            ) as client:
                return await client.request(method, path, json=json, content=content, params=params)

        return asyncio.run(go())

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return self.request("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> httpx.Response:
        return self.request("POST", path, **kw)

    def patch(self, path: str, **kw: Any) -> httpx.Response:
        return self.request("PATCH", path, **kw)

    def delete(self, path: str, **kw: Any) -> httpx.Response:
        return self.request("DELETE", path, **kw)

    def put(self, path: str, **kw: Any) -> httpx.Response:
        return self.request("PUT", path, **kw)

    def create(self, section: str = SECTION, **fields: Any) -> dict[str, Any]:
        body = {
            "title": "Homework 1",
            "description": "Problems 1-20",
            "due_date": FUTURE,
            "assignee_mode": "all",
            "submission_types": ["text"],
            "points_possible": 10,
        } | fields
        r = self.post(f"/v3.1/sections/{section}/assignments", json=body)
        assert r.status_code == 200, r.text
        data: dict[str, Any] = r.json()["data"]
        return data
