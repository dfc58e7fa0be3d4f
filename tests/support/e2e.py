"""End-to-end helpers: run the real CLI in-process, and look at the embedded sandbox's data."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from lmsctl.cli import run
from lmsctl.sandbox import DEMO_TOKEN, SandboxConfig, sandbox_transport

REPO = Path(__file__).resolve().parent.parent.parent
EXAMPLES = REPO / "examples" / "coursework"
ALGEBRA = "5f1a0c0b8e1d2a0001a00001"
ALGEBRA_FILE = "lincoln-high/algebra-1-period-2.yaml"


@dataclass
class CliResult:
    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err


def run_lmsctl(
    capsys: pytest.CaptureFixture[str],
    args: Sequence[str],
    clock: Callable[[], dt.datetime] | None = None,
) -> CliResult:
    """Run ``lmsctl ARGS`` in-process; its exit code and what it printed (only this run's)."""
    capsys.readouterr()
    code = run(list(args), clock=clock)
    out, err = capsys.readouterr()
    return CliResult(code, out, err)


class SandboxPeek:
    """Look at and poke the embedded sandbox's database as a person in the LMS would."""

    def __init__(self, db: Path) -> None:
        self.config = SandboxConfig(db_path=db)

    def call(self, method: str, path: str, body: Any = None, token: str | None = DEMO_TOKEN) -> Any:
        async def go() -> httpx.Response:
            async with httpx.AsyncClient(
                transport=sandbox_transport(self.config), base_url="http://sandbox.local"
            ) as client:
                headers = {"Authorization": f"Bearer {token}"} if token else {}
                return await client.request(method, path, json=body, headers=headers)

        response = asyncio.run(go())
        assert response.status_code < 300, (method, path, response.status_code, response.text)
        return response.json() if response.content else None

    def assignments(self, section: str = ALGEBRA) -> list[dict[str, Any]]:
        data = self.call("GET", f"/_sandbox/sections/{section}/assignments")["data"]
        return list(data)

    def by_title(self, title: str, section: str = ALGEBRA) -> dict[str, Any]:
        matches = [a for a in self.assignments(section) if a["title"] == title]
        assert len(matches) == 1, f"{len(matches)} assignments titled {title!r}"
        return matches[0]

    def submissions(self, section: str, assignment_id: str) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        path = f"/v3.1/sections/{section}/assignments/{assignment_id}/submissions?limit=100"
        while path:
            page = self.call("GET", path)
            for s in page["data"]:
                out[s["user_id"]] = s
            nxt = [link["uri"] for link in page.get("links", []) if link.get("rel") == "next"]
            path = nxt[0] if nxt else ""
        return out


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))
