"""The apply use case, without the CLI: it returns what it did and never prints; everything
the user sees or answers goes through the view the caller gives it."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
from collections.abc import AsyncIterator, Coroutine, Sequence
from pathlib import Path
from typing import Any, TypeVar

import pytest

from lmsctl.apply.executor import Executor
from lmsctl.apply.results import ApplyEvent, Outcome
from lmsctl.cli.context import embedded_sandbox
from lmsctl.client.lms import LmsClient
from lmsctl.errors import Diagnostic, UsageError
from lmsctl.plan.model import Plan
from lmsctl.plan.planfile import save_plan
from lmsctl.privacy import Scrubber
from lmsctl.usecases.apply import ApplyRequest, apply_planfile, apply_root
from lmsctl.workspace import Workspace, WorkspaceOptions

T = TypeVar("T")
EXAMPLES = Path(__file__).resolve().parent.parent.parent / "examples" / "coursework"


def _options(root: Path) -> WorkspaceOptions:
    return WorkspaceOptions(root=root, sandbox=True, open_sandbox=embedded_sandbox)


class RecordingView:
    """A view that only records what the use case asked of it."""

    def __init__(self, *, answer: bool = True) -> None:
        self.answer = answer
        self.calls: list[str] = []
        self.events: list[ApplyEvent] = []
        self.shown: Plan | None = None

    def privacy(self, scrubber: Scrubber) -> None:
        self.calls.append("privacy")

    def warnings(self, diagnostics: Sequence[Diagnostic]) -> None:
        self.calls.append("warnings")

    def plan(self, plan: Plan, scrubber: Scrubber) -> None:
        self.calls.append("plan")
        self.shown = plan

    def confirm(self) -> bool:
        self.calls.append("confirm")
        return self.answer

    @contextlib.asynccontextmanager
    async def running(
        self, executor: Executor, client: LmsClient, total: int
    ) -> AsyncIterator[None]:
        self.calls.append(f"running {total}")
        yield

    def event(self, event: ApplyEvent) -> None:
        self.events.append(event)

    def run(self, main: Coroutine[Any, Any, T]) -> T:
        return asyncio.run(main)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    target = tmp_path / "coursework"
    shutil.copytree(EXAMPLES, target, ignore=shutil.ignore_patterns(".lmsctl"))
    return target


def test_apply_root_asks_the_view_and_returns_what_it_did(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    view = RecordingView()
    run = apply_root(
        _options(root),
        ApplyRequest(),
        view,
    )
    assert capsys.readouterr() == ("", "")  # the core never prints
    total = len(run.plan.actionable)
    assert total > 0 and view.shown is run.plan
    assert view.calls == ["privacy", "warnings", "plan", "confirm", f"running {total}"]
    assert run.result is not None and run.result.ok and not run.cancelled
    assert [e.result.outcome for e in view.events] == [Outcome.DONE] * total
    assert [e.done for e in view.events] == list(range(1, total + 1))
    # converged: the next apply has nothing to carry out, and never asks
    again = RecordingView(answer=False)
    after = apply_root(
        _options(root),
        ApplyRequest(),
        again,
    )
    assert after.result is None and not after.plan.has_changes
    assert "confirm" not in again.calls and again.events == []


def test_a_refused_confirmation_changes_nothing(root: Path) -> None:
    options = _options(root)
    refused = apply_root(options, ApplyRequest(), RecordingView(answer=False))
    assert refused.cancelled and refused.result is None and refused.plan.has_changes
    # the same changes are still to do: nothing was written
    view = RecordingView()
    run = apply_root(options, ApplyRequest(auto_approve=True), view)
    assert "confirm" not in view.calls
    assert run.result is not None
    assert len(run.result.results) == len(refused.plan.actionable)


def test_apply_planfile_carries_out_the_saved_plan_in_its_root(
    root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    options = _options(root)
    with Workspace.open(options) as ws:
        plan, _, _ = asyncio.run(_plan(ws))
    path = tmp_path / "plan.json"
    save_plan(path, plan, sandbox=True)
    roots: list[Path] = []

    def workspace(at: Path) -> WorkspaceOptions:
        roots.append(at)
        return _options(at)

    view = RecordingView(answer=False)  # a saved plan was reviewed: it is never asked about
    run = apply_planfile(path, ApplyRequest(), view, workspace=workspace)
    assert capsys.readouterr() == ("", "")
    assert roots == [root]  # the root the plan was made in
    assert run.result is not None and run.result.ok
    assert "confirm" not in view.calls and "plan" not in view.calls
    assert len(view.events) == len(plan.actionable) > 0
    # planning choices belong to the plan: refused, before anything is opened
    with pytest.raises(UsageError, match="decided when the plan is made"):
        apply_planfile(path, ApplyRequest(force=True), RecordingView(), workspace=workspace)
    assert roots == [root]


async def _plan(ws: Workspace) -> Any:
    try:
        return await ws.make_plan()
    finally:
        await ws.aclose()
