"""A teacher's grade set between plan and write is never overwritten, by any kind of apply.

Against the sandbox served on a real socket (as against Clever): the plan is shown, a teacher
sets a grade through the API (while the prompt waits, between a saved plan and its apply, or
between the refresh and the writes of ``--auto-approve``), and apply must leave it standing,
report it as changed since the plan was shown, and exit 1. The server counts every request, so
the cost of the re-check is measured, not guessed.
"""

from __future__ import annotations

import asyncio
import os
import pty
import re
import select
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lmsctl.sandbox import DEMO_TOKEN, SandboxConfig, create_app
from lmsctl.sandbox.server import in_thread
from tests.support.e2e import ALGEBRA, ALGEBRA_FILE, EXAMPLES, REPO, CliResult, edit

HW1 = "Homework 1: Linear equations"
QUIZ1 = "Quiz 1: Linear equations"
S6 = "5f1a0c0b8e1d2a0001b00006"  # in the section, no hw-01 grade in the example manifests
NEW_GRADE = f"      {S6}: {{grade_points: 7}}\n"


@dataclass
class _Hook:
    """Run ``action`` once, after the first request matching ``method`` and ``path_re``."""

    method: str
    path_re: str
    action: Callable[[], None]
    fired: bool = False


@dataclass
class Recorder:
    """ASGI middleware in front of the sandbox: records every API request, runs hooks."""

    app: ASGIApp
    requests: list[tuple[str, str]] = field(default_factory=list)
    hooks: list[_Hook] = field(default_factory=list)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not path.startswith(("/v3.0/", "/v3.1/")):
            await self.app(scope, receive, send)
            return
        self.requests.append((scope["method"], path))
        due = [
            h
            for h in self.hooks
            if not h.fired and h.method == scope["method"] and re.search(h.path_re, path)
        ]
        if not due:
            await self.app(scope, receive, send)
            return
        held: list[Message] = []

        async def hold(message: Message) -> None:
            held.append(message)

        await self.app(scope, receive, hold)  # the answer is made before the hook runs
        for hook in due:
            hook.fired = True
            await asyncio.to_thread(hook.action)  # the server goes on serving meanwhile
        for message in held:
            await send(message)

    def mark(self) -> int:
        return len(self.requests)

    def since(self, mark: int) -> list[tuple[str, str]]:
        return self.requests[mark:]


@dataclass
class Served:
    url: str
    recorder: Recorder

    def call(self, method: str, path: str, body: Any = None) -> Any:
        """A teacher (or a test) using the API directly."""
        with httpx.Client(base_url=self.url.removesuffix("/v3.1")) as client:
            response = client.request(
                method, path, json=body, headers={"Authorization": f"Bearer {DEMO_TOKEN}"}
            )
        assert response.status_code < 300, (method, path, response.status_code, response.text)
        return response.json() if response.content else None

    def assignment(self, title: str) -> dict[str, Any]:
        data = self.call("GET", f"/_sandbox/sections/{ALGEBRA}/assignments")["data"]
        (found,) = [a for a in data if a["title"] == title]
        return dict(found)

    def submission(self, title: str, student: str) -> dict[str, Any]:
        aid = self.assignment(title)["id"]
        path = f"/v3.1/sections/{ALGEBRA}/assignments/{aid}/submissions/{student}"
        return dict(self.call("GET", path)["data"])

    def teacher_grades(self, title: str, student: str, points: float) -> Callable[[], None]:
        aid = self.assignment(title)["id"]
        path = f"/v3.1/sections/{ALGEBRA}/assignments/{aid}/submissions/{student}"
        return lambda: self.call("PATCH", path, {"grade_points": points})


@pytest.fixture
def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Served]:
    """The demo district on a real socket, and a copy of the examples in ./coursework."""
    recorder = Recorder(create_app(SandboxConfig(db_path=tmp_path / "sandbox.db")))
    config = uvicorn.Config(recorder, host="127.0.0.1", port=0, lifespan="off", log_level="warning")
    shutil.copytree(EXAMPLES, tmp_path / "coursework", ignore=shutil.ignore_patterns(".lmsctl"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CLEVER_TOKEN", DEMO_TOKEN)
    with in_thread(uvicorn.Server(config), "the sandbox", name="recorded-sandbox") as port:
        yield Served(f"http://127.0.0.1:{port}/v3.1", recorder)


def _first_apply(lmsctl: Callable[..., CliResult], served: Served) -> None:
    done = lmsctl("--api-url", served.url, "apply", "coursework", "--auto-approve")
    assert done.code == 0, done.text
    edit(Path("coursework") / ALGEBRA_FILE, "      sis:603:", NEW_GRADE + "      sis:603:")


def _kept(lmsctl: Callable[..., CliResult], served: Served, result_text: str) -> None:
    """The teacher's 2 stands, the run said why, and the next plan shows it as a conflict."""
    assert served.submission(HW1, S6)["grade_points"] == 2
    assert f"stale: {ALGEBRA}/hw-01/grades/{S6}" in result_text
    assert "grade_points: plan saw null, LMS now 2" in result_text
    again = lmsctl("--api-url", served.url, "plan", "coursework")
    assert again.code == 1, again.text  # not "No changes", not drift: a conflict to resolve
    assert "already set in the LMS, and lmsctl never applied it" in again.out


def test_auto_approve_never_overwrites_a_grade_set_after_the_plan(lmsctl, served) -> None:
    _first_apply(lmsctl, served)
    hw1 = served.assignment(HW1)["id"]
    # the teacher grades right after the refresh read hw-01's submissions (the plan sees none)
    served.recorder.hooks.append(
        _Hook("GET", f"/assignments/{hw1}/submissions$", served.teacher_grades(HW1, S6, 2))
    )
    result = lmsctl("--api-url", served.url, "apply", "coursework", "--auto-approve")
    assert served.recorder.hooks[0].fired
    assert "(5f1a...b00006): grade_points: 7" in result.out  # the plan shown
    assert result.code == 1, result.text
    _kept(lmsctl, served, result.out)


def test_a_saved_plan_never_overwrites_a_grade_set_after_it_was_made(lmsctl, served) -> None:
    _first_apply(lmsctl, served)
    saved = lmsctl("--api-url", served.url, "plan", "coursework", "--out", "plan.json")
    assert saved.code == 0 and "grade_points: 7" in saved.out, saved.text
    served.teacher_grades(HW1, S6, 2)()
    result = lmsctl("--api-url", served.url, "apply", "plan.json")
    assert result.code == 1, result.text
    _kept(lmsctl, served, result.out)


class Terminal:
    """lmsctl run in a pseudo-terminal, as a person at a keyboard runs it."""

    def __init__(self, *args: str) -> None:
        self.master, slave = pty.openpty()
        env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200", "PYTHONPATH": str(REPO)}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "lmsctl", *args],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=env,
            close_fds=True,
        )
        os.close(slave)
        self.output = ""

    def read_until(self, text: str, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        while text not in self.output:
            left = deadline - time.monotonic()
            assert left > 0, f"no {text!r} in:\n{self.output}"
            if not self._read(left):
                break
        assert text in self.output, self.output
        return self.output

    def _read(self, timeout: float) -> bool:
        ready, _, _ = select.select([self.master], [], [], timeout)
        if not ready:
            return True
        try:
            chunk = os.read(self.master, 65536)
        except OSError:  # the child closed the terminal
            return False
        if not chunk:
            return False
        self.output += chunk.decode("utf-8", "replace").replace("\r\n", "\n")
        return True

    def type(self, line: str) -> None:
        os.write(self.master, line.encode() + b"\r")

    def finish(self, timeout: float = 120) -> int:
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < deadline:
            self._read(0.2)
        while self._read(0.05) and self.proc.poll() is not None:
            pass
        code = self.proc.wait(timeout=max(deadline - time.monotonic(), 1))
        os.close(self.master)
        return code


@pytest.mark.slow
def test_the_prompt_never_overwrites_a_grade_set_while_it_waited(lmsctl, served) -> None:
    _first_apply(lmsctl, served)
    term = Terminal("--api-url", served.url, "apply", "coursework")
    shown = term.read_until("Apply these changes? (yes/no)")
    assert "(5f1a...b00006): grade_points: 7" in shown, shown
    served.teacher_grades(HW1, S6, 2)()  # while the prompt waits
    term.type("yes")
    code = term.finish()
    assert code == 1, term.output
    _kept(lmsctl, served, term.output)


@pytest.mark.slow
def test_anything_but_yes_cancels_and_exits_1(lmsctl, served) -> None:
    _first_apply(lmsctl, served)
    before = served.recorder.mark()
    term = Terminal("--api-url", served.url, "apply", "coursework")
    term.read_until("Apply these changes? (yes/no)")
    term.type("y")
    code = term.finish()
    assert code == 1, term.output
    assert "Apply cancelled." in term.output
    assert [r for r in served.recorder.since(before) if r[0] != "GET"] == []  # nothing written
    assert served.submission(HW1, S6).get("grade_points") is None


def test_the_recheck_costs_one_read_per_assignment_written(lmsctl, served) -> None:
    """Measured: apply = the plan's refresh + one read per assignment it writes + the writes."""
    done = lmsctl("--api-url", served.url, "apply", "coursework", "--auto-approve")
    assert done.code == 0, done.text
    path = Path("coursework") / ALGEBRA_FILE
    edit(path, "grade_points: 10, grade_comment: Excellent", "grade_points: 9, grade_comment: Ok")
    edit(path, f"{S6[:-1]}2: {{grade_points: 8.5", f"{S6[:-1]}2: {{grade_points: 8")
    edit(path, "      sis:603:", NEW_GRADE + "      sis:603:")  # 3 grades of hw-01
    edit(path, f"{S6}: {{grade_points: 19.5", f"{S6}: {{grade_points: 18")  # 1 grade of quiz-1
    edit(path, 'title: "Quiz 1 retake"', 'title: "Quiz 1 retake (Friday)"')  # 1 update
    mark = served.recorder.mark()
    planned = lmsctl("--api-url", served.url, "plan", "coursework")
    assert planned.code == 0, planned.text
    refresh = served.recorder.since(mark)
    mark = served.recorder.mark()
    result = lmsctl("--api-url", served.url, "apply", "coursework", "--auto-approve")
    assert result.code == 0, result.text
    assert "0 created, 1 updated, 4 grades set, 0 deleted" in result.out
    calls = served.recorder.since(mark)
    writes = [c for c in calls if c[0] in ("POST", "PATCH", "DELETE")]
    assert len(writes) == 5
    extra = Counter(calls) - Counter(refresh) - Counter(writes)
    # the refresh is the same as plan's; then, just before writing: hw-01's submissions listed
    # once for its 3 grades, quiz-1's one submission read once, quiz-1-retake read once
    assert len(calls) == len(refresh) + len(writes) + 3, (refresh, calls)
    assert sum(extra.values()) == 3, extra
    hw1 = served.assignment(HW1)["id"]
    quiz1 = served.assignment(QUIZ1)["id"]
    assert ("GET", f"/v3.1/sections/{ALGEBRA}/assignments/{hw1}/submissions") in extra
    assert ("GET", f"/v3.1/sections/{ALGEBRA}/assignments/{quiz1}/submissions/{S6}") in extra
    print(f"\nrefresh {len(refresh)} calls, writes {len(writes)}, re-check {sum(extra.values())}")
