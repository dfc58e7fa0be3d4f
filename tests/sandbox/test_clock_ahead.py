"""The demo keeps working on any date: the embedded sandbox's clock runs relative to the
examples (it starts at DEMO_CLOCK_START when its database is seeded), and plan judges due dates
by the API's clock (its Date header), not the machine's.

time-machine moves the machine's clock in-process (as faketime does for a whole process).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
from pathlib import Path

import pytest
import time_machine

from lmsctl.cli import run
from lmsctl.sandbox.config import DEMO_CLOCK_START

REPO = Path(__file__).resolve().parent.parent.parent
EXAMPLES = REPO / "examples" / "coursework"


def _readme_first_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    shutil.copytree(EXAMPLES, tmp_path / "coursework", ignore=shutil.ignore_patterns(".lmsctl"))
    root = str(tmp_path / "coursework")
    capsys.readouterr()
    assert run(["--sandbox", "apply", root, "--auto-approve"]) == 0, capsys.readouterr()
    applied = capsys.readouterr().out
    assert run(["--sandbox", "plan", root, "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["summary"]["has_changes"] is False
    return applied


@pytest.mark.parametrize("years", [0, 2, 10])
def test_the_readmes_first_command_works_with_the_machine_clock_years_ahead(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    years: int,
) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.delenv("LMSCTL_SANDBOX", raising=False)
    monkeypatch.delenv("LMSCTL_API_URL", raising=False)
    ahead = dt.datetime.now(dt.UTC) + dt.timedelta(days=365 * years + 30)
    with time_machine.travel(ahead, tick=True):
        out = _readme_first_command(tmp_path, capsys)
    assert "Apply complete: 11 created" in out, out


def test_the_demo_sandbox_clock_starts_at_its_anchor_whatever_the_date(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lmsctl.sandbox import SandboxConfig, sandbox_transport
    from tests.support.sandbox_api import Api

    with time_machine.travel(dt.datetime(2031, 3, 3, tzinfo=dt.UTC), tick=False):
        api = Api(sandbox_transport(SandboxConfig(db_path=tmp_path / "s.db")))
        clock = api.get("/_sandbox/clock").json()
        assert clock["now"] == "2026-12-01T12:00:00.000Z"
        assert api.get("/v3.1/districts").headers["Date"] == "Tue, 01 Dec 2026 12:00:00 GMT"
        # a reset starts it there again; another seed keeps the machine's time
        api.put("/_sandbox/clock", json={"advance_seconds": 86400 * 90})
        api.post("/_sandbox/reset")
        assert api.get("/_sandbox/clock").json()["now"] == "2026-12-01T12:00:00.000Z"


def test_the_demo_clock_starts_weeks_before_every_date_in_the_examples() -> None:
    found = [
        dt.datetime.fromisoformat(m).replace(tzinfo=dt.UTC)
        for path in EXAMPLES.rglob("*.yaml")
        for m in re.findall(r"\b(20\d\d-\d\d-\d\d)\b", path.read_text(encoding="utf-8"))
    ]
    assert len(found) > 10
    assert min(found) - DEMO_CLOCK_START > dt.timedelta(weeks=6)
