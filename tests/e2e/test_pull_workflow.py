"""The example workflow's scheduled pull job: teachers' edits made in the LMS become ONE pull
request, opened on the first night and updated on the next, and nothing when there is nothing
to pull. Its shell step runs as the runner runs it (bash -eo pipefail), in a git clone of a
coursework repository, with the real lmsctl against the embedded sandbox and a stand-in for
GitHub's CLI."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from lmsctl.cli import run
from tests.support.e2e import ALGEBRA, EXAMPLES, SandboxPeek
from tests.support.processes import run_workflow_step

REPO = Path(__file__).resolve().parent.parent.parent
WORKFLOW = yaml.safe_load((REPO / ".github" / "workflows" / "gitops-example.yml").read_text())
BRANCH = "lmsctl/teacher-edits"
ALGEBRA_FILE = "lincoln-high/algebra-1-period-2.yaml"

FAKE_GH = """#!/bin/sh
# GitHub's CLI as the pull job uses it: one pull request per branch, open once created
echo "$*" >> "$FAKE_GH_LOG"
case "$1 $2" in
  "pr view") [ -f "$FAKE_GH_PR" ] && cat "$FAKE_GH_PR" ;;
  "pr create") echo OPEN > "$FAKE_GH_PR" ;;
  "pr edit") [ -f "$FAKE_GH_PR" ] || { echo "no pull request" >&2; exit 1; } ;;
  *) echo "unexpected: gh $*" >&2; exit 1 ;;
esac
"""


def _git(folder: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.org", *args],
        cwd=folder,
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout


def _pull_step() -> str:
    job = WORKFLOW["jobs"]["pull"]
    assert (
        job["if"] == "github.event_name == 'schedule' || github.event_name == 'workflow_dispatch'"
    )
    assert job["concurrency"]["cancel-in-progress"] is False
    assert job["permissions"] == {"contents": "write", "pull-requests": "write"}
    [step] = [
        s for s in job["steps"] if s.get("name") == "Pull teachers' edits into one pull request"
    ]
    assert step["env"] == {"GH_TOKEN": "${{ github.token }}"}
    return str(step["run"])


@pytest.mark.slow
def test_the_nightly_pull_opens_one_pull_request_then_updates_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    origin, work = tmp_path / "origin.git", tmp_path / "work"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(origin)], check=True)
    shutil.copytree(EXAMPLES, work, ignore=shutil.ignore_patterns(".lmsctl"))
    (work / ".gitignore").write_text(".lmsctl/\n")
    _git(work, "init", "-q", "-b", "main")
    _git(work, "add", "-A")
    _git(work, "commit", "-qm", "coursework")
    _git(work, "remote", "add", "origin", str(origin))
    _git(work, "push", "-q", "origin", "main")
    monkeypatch.chdir(work)
    monkeypatch.delenv("CLEVER_TOKEN", raising=False)
    assert run(["--sandbox", "apply", ".", "--auto-approve"]) == 0
    peek = SandboxPeek(work / ".lmsctl" / "sandbox.db")
    bin_dir, log, pr = tmp_path / "bin", tmp_path / "gh.log", tmp_path / "pr-state"
    bin_dir.mkdir()
    (bin_dir / "gh").write_text(FAKE_GH)
    (bin_dir / "gh").chmod(0o755)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("LMSCTL_", "GITHUB_"))},
        "PATH": os.pathsep.join(
            [str(bin_dir), str(Path(sys.executable).parent), os.environ["PATH"]]
        ),
        "CI": "true",
        "GH_TOKEN": "gh-token",
        "LMSCTL_SANDBOX": "1",  # the embedded sandbox stands in for Clever
        "FAKE_GH_LOG": str(log),
        "FAKE_GH_PR": str(pr),
    }
    script = _pull_step()

    def night() -> str:
        """A fresh checkout of main (the sandbox and state in .lmsctl/ stay), then the step."""
        _git(work, "checkout", "-q", "-B", "main", "origin/main")
        _git(work, "reset", "-q", "--hard", "origin/main")
        return run_workflow_step(script, cwd=work, env=env, timeout=120).stdout

    def teacher_renames(title: str, new: str) -> None:
        assignment = peek.by_title(title)
        path = f"/v3.1/sections/{ALGEBRA}/assignments/{assignment['id']}"
        peek.call("PATCH", path, {"title": new})

    def branch_diff() -> str:
        return _git(work, "diff", "origin/main", f"origin/{BRANCH}")

    teacher_renames("Homework 1: Linear equations", "Homework 1 (extended)")
    night()
    calls = log.read_text().splitlines()
    assert [c.split(" --")[0] for c in calls] == [f"pr view {BRANCH}", "pr create"], calls
    first = branch_diff()
    changed = [line for line in first.splitlines() if line[:1] in "+-" and line[:3] not in "+++---"]
    assert changed == [
        '-    title: "Homework 1: Linear equations"',
        '+    title: "Homework 1 (extended)"',
    ], first
    # the next night another edit: the same branch and pull request, now with both edits
    teacher_renames("Homework 2: Slope and intercept", "Homework 2 (extended)")
    log.unlink()
    night()
    calls = log.read_text().splitlines()
    assert [c.split(" --")[0] for c in calls] == [f"pr view {BRANCH}", f"pr edit {BRANCH}"], calls
    second = branch_diff()
    assert '+    title: "Homework 1 (extended)"' in second
    assert '+    title: "Homework 2 (extended)"' in second
    assert _git(work, "log", "--format=%s", f"origin/main..origin/{BRANCH}").splitlines() == [
        "Teachers' edits made in the LMS (lmsctl pull)"
    ]
    # merged: main holds the LMS's values, and the next night there is nothing to pull
    _git(work, "push", "-q", "origin", f"origin/{BRANCH}:main")
    log.unlink()
    assert "Nothing to pull." in night()
    assert not log.exists()  # no pull request touched
    assert ALGEBRA_FILE in second
