"""The sandbox's access log (``lmsctl sandbox serve --access-log FILE``): one JSON line per
request, written when its answer is done, so that a benchmark counts requests at the server
without a proxy in between (a proxy on the same machine costs as much CPU as the client it
measures, and takes it from the client).

Each line: ``{"arrived": ..., "done": ..., "method": ..., "path": ..., "status": ...}``, the
times the machine's (``time.time()``, not the sandbox clock), the path without its query (no
cursor), ``status`` 0 when no answer was sent (a connection dropped on purpose, or the client
went away). Nothing of the request's headers is written: no token reaches the log.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class AccessLog:
    """Pure ASGI middleware, outside everything else (faults and 429s are logged too)."""

    def __init__(self, app: ASGIApp, path: Path) -> None:
        self.app = app
        self._path = path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        record: dict[str, Any] = {
            "arrived": time.time(),
            "done": 0.0,
            "method": scope["method"],
            "path": scope["path"],
            "status": 0,
        }

        status = 0

        async def logged_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                record["status"] = status  # only an answer sent whole counts as answered

        try:
            await self.app(scope, receive, logged_send)
        finally:
            record["done"] = time.time()
            # opened for each line (appended, so a log kept across restarts reads as one, and
            # a reader sees each request whole as soon as it is done; nothing left open)
            with self._path.open("a", encoding="utf-8") as out:
                out.write(json.dumps(record) + "\n")


def read_access_log(path: Path, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
    """The records of ``path`` from byte ``offset`` on, and the offset after the last whole
    line (a line still being written is left for the next read)."""
    with path.open("rb") as f:
        f.seek(offset)
        data = f.read()
    end = data.rfind(b"\n") + 1
    records = [json.loads(line) for line in data[:end].splitlines() if line.strip()]
    return records, offset + end


__all__ = ["AccessLog", "read_access_log"]
