"""A disk that fills up in the middle of an apply (``RLIMIT_FSIZE`` on the apply process).

Against an LMS on a socket (the test's own process, not limited): once state can no longer be
saved, apply starts no new write, the writes that reached the LMS without being recorded are
kept in the recovery file and named, and after ``lmsctl state push`` a re-run converges.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from lmsctl.sandbox import DEMO_TOKEN, SandboxConfig, running_server
from lmsctl.state.local import LocalBackend
from tests.support.e2e import SandboxPeek
from tests.support.workload import check_converged, write_workload

LIMIT = 48 * 1024  # bytes any one file of the apply process may grow to


def _disk_fills_up() -> None:  # runs in the child before exec
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails (EFBIG)
    resource.setrlimit(resource.RLIMIT_FSIZE, (LIMIT, LIMIT))


def _lms_writes(sandbox: SandboxPeek, expected: dict[str, dict[str, dict[str, float]]]) -> int:
    """Writes the LMS carried out: assignments created plus grades set (but those of 0, which
    the API leaves out of its answers)."""
    n = 0
    for section_id in expected:
        for a in sandbox.assignments(section_id):
            n += 1
            subs = sandbox.submissions(section_id, a["id"])
            n += sum(1 for s in subs.values() if s.get("grade_points") is not None)
    return n


def _recorded(records: dict[str, object]) -> int:
    """Writes state records, counted as :func:`_lms_writes` can see them at the API (which
    leaves a grade of 0 out of its answers, so neither side counts those)."""
    n = 0
    for raw in records.values():
        if raw is None:
            continue
        assert isinstance(raw, dict)
        n += raw.get("status") == "created"
        n += sum(
            1 for g in raw.get("grades", {}).values() if g.get("grade_points") not in (None, 0)
        )
    return n


@pytest.mark.slow
def test_a_full_disk_stops_the_writes_lists_what_was_not_recorded_and_rerun_converges(
    lmsctl, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CLEVER_TOKEN", DEMO_TOKEN)
    root = Path("work")
    expected = write_workload(root, assignments=2)
    db = tmp_path / "lms.db"
    sandbox = SandboxPeek(db)
    parallelism = 4
    with running_server(SandboxConfig(db_path=db)) as url:
        connect = ("--api-url", url)
        env = {**os.environ, "NO_COLOR": "1", "CLEVER_TOKEN": DEMO_TOKEN}
        run = subprocess.run(
            [
                *(sys.executable, "-m", "lmsctl", *connect, "apply", str(root)),
                *("--auto-approve", "--parallelism", str(parallelism)),
            ],
            capture_output=True,
            text=True,
            env=env,
            preexec_fn=_disk_fills_up,
            timeout=300,
        )
        out = run.stdout + run.stderr
        assert run.returncode == 1, out
        assert "Traceback" not in out
        assert "nothing more is sent to the LMS" in out, out
        recoveries = sorted((root / ".lmsctl").glob("recovery-*.json"))
        assert len(recoveries) == 1, out
        kept = json.loads(recoveries[0].read_text())["resources"]

        stored = LocalBackend(root / ".lmsctl" / "state.json").read().to_dict()["resources"]
        lms_writes = _lms_writes(sandbox, expected)
        in_state = _recorded(stored)
        total = 4 * 2 * 26  # every create and grade of the workload
        # it stopped midway (with none, or only grades of 0, left unrecorded the two counts tie:
        # neither sees a grade of 0; which writes were left unrecorded is checked below)
        assert 0 < in_state <= lms_writes < total, (in_state, lms_writes)
        # nothing the LMS carried out is lost: state plus the recovery file hold all of it
        assert _recorded({**stored, **kept}) == lms_writes
        # no write started after the first failed save: only those in flight then went on
        assert lms_writes - in_state <= parallelism, (lms_writes, in_state)
        # and the run named each of them in its error
        unrecorded = []
        for address, record in kept.items():
            before = stored.get(address) or {}
            if record["status"] == "created" and before.get("status") != "created":
                unrecorded.append(address)
            for student, grade in record["grades"].items():
                if "grade_points" in grade and student not in before.get("grades", {}):
                    unrecorded.append(f"{address}/grades/{student}")
        error = next(line for line in out.splitlines() if line.startswith("Error:"))
        if unrecorded:  # the save that failed came after writes already on their way
            assert f"{len(unrecorded)} write(s) reached the LMS but are not recorded" in error
            assert all(a in error for a in unrecorded), (unrecorded, error)
        else:
            # the save that failed was an intent, written before its write is sent, and no
            # other write was on its way: none reached the LMS unrecorded, and none is claimed
            # (the postgres lost-answer test names unrecorded writes deterministically)
            assert "reached the LMS but are not recorded" not in error, error

        pushed = lmsctl(*connect, "state", "push", str(recoveries[0]), "--root", str(root))
        assert pushed.code == 0, pushed.text
        final = lmsctl(*connect, "apply", str(root), "--auto-approve")
        assert final.code == 0, final.text
        assert check_converged(sandbox, expected) == []
        again = lmsctl(*connect, "plan", str(root), "--detailed-exitcode")
        assert again.code == 0, again.text
