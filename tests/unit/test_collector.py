"""The cycle collector around the data a command loads: paused while the manifests and the
state are read, and, in the console's own process, kept off that data afterwards (each of its
full passes over a district's manifests and state costs as long as reading the state)."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lmsctl.heap import COMMAND_YOUNG_THRESHOLD
from lmsctl.model import DesiredState, ProjectConfig
from lmsctl.state import LocalBackend
from lmsctl.workspace import Workspace, WorkspaceOptions
from tests.support.cli import run
from tests.support.factories import make_record, make_snapshot

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "coursework"


@pytest.fixture
def collections() -> Iterator[list[int]]:
    """The generation of every collection the collector runs while the test does."""
    seen: list[int] = []

    def count(phase: str, info: dict[str, Any]) -> None:
        if phase == "stop":
            seen.append(int(info["generation"]))

    was = gc.isenabled()
    gc.enable()
    gc.callbacks.append(count)
    try:
        yield seen
    finally:
        gc.callbacks.remove(count)
        gc.enable() if was else gc.disable()


def test_reading_the_state_runs_no_collection(tmp_path: Path, collections: list[int]) -> None:
    grades = {f"5f1a0c0b8e1d2a0001b{n:05d}": {"grade_points": n % 10} for n in range(40)}
    records = [make_record(f"hw-{n:03d}", grades=grades) for n in range(200)]
    backend = LocalBackend(tmp_path / ".lmsctl" / "state.json")
    backend.write(make_snapshot(*records))
    ws = Workspace(
        WorkspaceOptions(root=tmp_path), DesiredState(tmp_path, ProjectConfig()), [], backend
    )
    collections.clear()
    snapshot = ws.read_state()
    assert collections == []  # (8000 grades: a few dozen passes with the collector on)
    assert len(snapshot.resources) == 200
    assert snapshot.resources[records[7].address].grades == grades
    assert gc.isenabled()
    assert gc.get_freeze_count() == 0  # a library's caller: collectable as before


def test_the_console_keeps_what_a_command_loaded_off_the_collector(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # the console runs one command and ends: while it runs, the manifests it loaded stay
    # frozen (never walked again by the collector's passes), the collector on for the rest
    # and walking its youngest objects less often
    from lmsctl.cli.commands import validate

    real, during = validate.validate_root, []

    def validate_root(root: Path) -> Any:
        report = real(root)
        during.append((gc.get_freeze_count(), gc.isenabled(), gc.get_threshold()[0]))
        return report

    monkeypatch.setattr(validate, "validate_root", validate_root)
    assert gc.get_freeze_count() == 0
    thresholds = gc.get_threshold()
    code, out, _ = run("validate", str(EXAMPLES))
    assert code == 0, out
    ((frozen, enabled, young),) = during
    assert frozen > 1000 and enabled
    assert young == max(thresholds[0], COMMAND_YOUNG_THRESHOLD)  # (fewer, larger young passes)
    # after it, nothing is left frozen or changed for whoever ran it in their own process
    assert gc.get_freeze_count() == 0
    assert gc.isenabled()
    assert gc.get_threshold() == thresholds
