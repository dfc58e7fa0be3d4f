"""Client test helpers: a fake clock, scripted transports and a client factory."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Callable
from typing import Any

import httpx

from lmsctl.client.lms import LmsClient

TOKEN = "tok_SECRET_5f1a0c0b8e1d2a"  # a token that must never show up anywhere
BASE = "https://api.example.test/v3.1"
SECTION = "5f1a0c0b8e1d2a0001a00001"
ASSIGNMENT = "3f1c2a9e-7d4b-4e0a-9a61-2b7c5d8e9f10"
USER = "5f1a0c0b8e1d2a0001b00003"

Handler = Callable[[httpx.Request], httpx.Response]


class FakeTime:
    """A monotonic clock that only moves when someone sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += max(0.0, seconds)
        await asyncio.sleep(0)


def make_client(
    handler: Handler,
    ft: FakeTime | None = None,
    *,
    base_url: str = BASE,
    **kw: Any,
) -> LmsClient:
    ft = ft or FakeTime()
    kw.setdefault("rng", random.Random(1))
    return LmsClient(
        base_url,
        TOKEN,
        transport=httpx.MockTransport(handler),
        sleep=ft.sleep,
        clock=ft.clock,
        **kw,
    )


def ok(data: Any = None, **extra: Any) -> httpx.Response:
    body = {"data": data if data is not None else {"id": "x"}} | extra
    return httpx.Response(200, json=body)


def message(status: int, text: str, **headers: str) -> httpx.Response:
    return httpx.Response(status, json={"message": text}, headers=headers)


class Script:
    """A handler answering from a list of steps (a Response, an exception, or a callable)."""

    def __init__(self, *steps: Any, then: Any = None) -> None:
        self.steps = list(steps)
        self.then = then
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        step = self.steps.pop(0) if self.steps else self.then
        if step is None:
            raise AssertionError(f"unexpected request {request.method} {request.url}")
        if isinstance(step, type) and issubclass(step, Exception):
            step = step("scripted failure", request=request)  # type: ignore[call-arg]
        if isinstance(step, BaseException):
            raise step
        if callable(step):
            return step(request)  # type: ignore[no-any-return]
        assert isinstance(step, httpx.Response)
        return step

    @property
    def count(self) -> int:
        return len(self.requests)


def body_of(request: httpx.Request) -> Any:
    return json.loads(request.content) if request.content else None


def run(coro: Any) -> Any:
    return asyncio.run(coro)
