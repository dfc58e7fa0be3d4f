"""Slow writes against the in-process sandbox: apply keeps as many in flight as the rate limit
needs (Little's law), far beyond the old fixed 10, and never draws a 429 from the server."""

from __future__ import annotations

import asyncio
import math
import time
from pathlib import Path

import httpx
import pytest

from lmsctl.apply.executor import Executor, Outcome
from lmsctl.client import ratelimit
from lmsctl.client.factory import SandboxConnection
from lmsctl.sandbox import DEMO_TOKEN, FaultConfig, SandboxConfig, sandbox_transport
from lmsctl.workspace import Workspace, WorkspaceOptions
from tests.support.workload import write_workload

WINDOW = 2.0  # seconds: the client's window and the server's, shortened like the benchmark's
LIMIT = 50  # requests per window on both sides (1500/min): the limiter binds within seconds
WRITE_LATENCY = 1.0


class WindowedServer(httpx.AsyncBaseTransport):
    """In front of the sandbox: a fixed-window limit of LIMIT per WINDOW (429 with Retry-After
    over it, as Clever answers), counting what arrives and the writes in flight."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.arrivals: list[float] = []
        self.rejected = 0
        self.writes_in_flight = 0
        self.most_writes_in_flight = 0
        self._windows: dict[int, int] = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        now = time.monotonic()
        window = math.floor(now / WINDOW)
        self._windows[window] = self._windows.get(window, 0) + 1
        self.arrivals.append(now)
        if self._windows[window] > LIMIT:
            self.rejected += 1
            reset = (window + 1) * WINDOW - now
            headers = {"Retry-After": str(max(1, math.ceil(reset))), "X-RateLimit-Remaining": "0"}
            return httpx.Response(429, headers=headers, json={"message": "rate limited"})
        write = request.method in ("POST", "PATCH")
        if write:
            self.writes_in_flight += 1
            self.most_writes_in_flight = max(self.most_writes_in_flight, self.writes_in_flight)
        try:
            return await self.inner.handle_async_request(request)
        finally:
            if write:
                self.writes_in_flight -= 1


def test_slow_writes_get_more_in_flight_than_the_old_fixed_ten_and_no_429(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Given 1 s writes and a limit of 25 requests/s, when apply runs with its default flags,
    then more than 10 writes are in flight at the server at once (Little's law: 25/s x 1 s),
    the server answers no 429, and every change is done."""
    monkeypatch.setattr(ratelimit, "WINDOW", WINDOW)
    root = tmp_path / "work"
    write_workload(root, assignments=1)  # 4 creates and 100 grades
    faults = FaultConfig(
        latency={"POST": (WRITE_LATENCY, WRITE_LATENCY), "PATCH": (WRITE_LATENCY, WRITE_LATENCY)},
        rate_limit=0,  # the windowed server in front limits instead, in 2 s windows
    )
    servers: list[WindowedServer] = []

    def open_sandbox(db: Path) -> SandboxConnection:
        server = WindowedServer(sandbox_transport(SandboxConfig(db_path=db, faults=faults)))
        servers.append(server)
        return SandboxConnection(DEMO_TOKEN, server)

    options = WorkspaceOptions(root=root, sandbox=True, rate_limit=LIMIT, open_sandbox=open_sandbox)

    async def apply() -> tuple[int, Executor]:
        ws = Workspace.open(options)
        with ws:
            plan, _, snapshot = await ws.make_plan()
            executor = Executor(plan, ws.client(), ws.backend, snapshot)
            result = await executor.run()
            rate_limited = ws.client().stats.rate_limited
            await ws.aclose()
        assert result.outcomes[Outcome.DONE] == len(plan.actionable) == 104
        return rate_limited, executor

    rate_limited, executor = asyncio.run(apply())
    (server,) = servers
    assert server.rejected == 0 and rate_limited == 0
    # the limiter alone kept the pace: at most LIMIT arrivals in any WINDOW s
    arrivals = server.arrivals
    busiest = max(sum(1 for b in arrivals[i:] if b < a + WINDOW) for i, a in enumerate(arrivals))
    assert busiest <= LIMIT
    # the old fixed parallelism of 10 capped this at 10; Little's law wants about 25
    assert server.most_writes_in_flight > 10, server.most_writes_in_flight
    assert executor.gate is not None and executor.gate.most_in_flight > 10
