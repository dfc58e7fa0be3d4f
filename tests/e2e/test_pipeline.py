"""The GitOps pipeline, run as GitHub runs it: the composite action's own steps (action.yml),
with the inputs the example workflow passes (.github/workflows/gitops-example.yml), in fresh
runner-like folders (copies of a coursework repository's main), against one served sandbox,
one shared state and a stand-in for GitHub's comments API.

The shared state is the ``shared_state`` fixture: here a local file at an absolute path every
runner folder points at; tests/postgres/test_pg_pipeline.py runs the same steps with the
PostgreSQL backend the example workflow uses.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn
import yaml
from render.plans import first_apply_plan
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from lmsctl.ci import (
    COMMENT_LIMIT,
    CiOptions,
    GitHubContext,
    Step,
    comment_marker,
    run_step,
    sticky_comment,
)
from lmsctl.plan.planfile import save_plan
from lmsctl.sandbox import DEMO_TOKEN, SandboxConfig, running_server
from lmsctl.sandbox.server import in_thread
from tests.support.e2e import ALGEBRA, EXAMPLES, SandboxPeek
from tests.support.processes import run_workflow_step

REPO = Path(__file__).resolve().parent.parent.parent
ACTION = yaml.safe_load((REPO / "action.yml").read_text())
WORKFLOW = yaml.safe_load((REPO / ".github" / "workflows" / "gitops-example.yml").read_text())
GITHUB_TOKEN = "ghs_fake-token-for-the-comment-api"
REPOSITORY = "school/coursework"
ALGEBRA_FILE = "lincoln-high/algebra-1-period-2.yaml"


# ---------------------------------------------------------------------------- fixtures


@dataclass(frozen=True)
class SharedState:
    """What every runner shares: the ``state:`` of lmsctl.yaml and the environment it needs."""

    config: dict[str, str]
    env: dict[str, str]


@pytest.fixture
def shared_state(tmp_path: Path) -> SharedState:
    """The one shared state of every runner folder: a local file at an absolute path (the
    postgres variant overrides this fixture alone)."""
    return SharedState({"backend": "local", "path": str(tmp_path / "shared" / "state.json")}, {})


class FakeGitHub:
    """Issue comments of one pull request, as GitHub's REST API serves them (paged by 100)."""

    def __init__(self) -> None:
        self.comments: list[dict[str, Any]] = []
        self.writes: list[str] = []
        self.lock = threading.Lock()
        self.app = Starlette(
            routes=[
                Route(
                    "/repos/{owner}/{repo}/issues/{number:int}/comments",
                    self.comments_route,
                    methods=["GET", "POST"],
                ),
                Route(
                    "/repos/{owner}/{repo}/issues/comments/{cid:int}",
                    self.edit,
                    methods=["PATCH"],
                ),
            ]
        )

    def add(self, body: str, *, bot: bool, number: int = 1) -> None:
        user = {"login": "github-actions[bot]", "type": "Bot"}
        if not bot:
            user = {"login": "a-teacher", "type": "User"}
        self.comments.append(
            {"id": 1000 + len(self.comments), "number": number, "body": body, "user": user}
        )

    def bot_comments(self, number: int) -> list[dict[str, Any]]:
        return [c for c in self.comments if c["number"] == number and c["user"]["type"] == "Bot"]

    async def comments_route(self, request: Request) -> JSONResponse:
        if request.headers.get("authorization") != f"Bearer {GITHUB_TOKEN}":
            return JSONResponse({"message": "Bad credentials"}, status_code=401)
        number = int(request.path_params["number"])
        if request.method == "POST":
            body = (await request.json())["body"]
            if len(body) > COMMENT_LIMIT:
                return JSONResponse({"message": "Body is too long"}, status_code=422)
            with self.lock:
                self.add(body, bot=True, number=number)
                self.writes.append("POST")
            return JSONResponse(self.comments[-1], status_code=201)
        per_page = int(request.query_params.get("per_page", 30))
        page = int(request.query_params.get("page", 1))
        mine = [c for c in self.comments if c["number"] == number]
        return JSONResponse(mine[(page - 1) * per_page : page * per_page])

    async def edit(self, request: Request) -> JSONResponse:
        if request.headers.get("authorization") != f"Bearer {GITHUB_TOKEN}":
            return JSONResponse({"message": "Bad credentials"}, status_code=401)
        body = (await request.json())["body"]
        if len(body) > COMMENT_LIMIT:
            return JSONResponse({"message": "Body is too long"}, status_code=422)
        for c in self.comments:
            if c["id"] == request.path_params["cid"]:
                c["body"] = body
                self.writes.append("PATCH")
                return JSONResponse(c)
        return JSONResponse({"message": "Not Found"}, status_code=404)


@pytest.fixture
def github() -> Iterator[tuple[FakeGitHub, str]]:
    fake = FakeGitHub()
    config = uvicorn.Config(fake.app, host="127.0.0.1", port=0, log_level="warning")
    with in_thread(uvicorn.Server(config), "fake GitHub", name="fake-github") as port:
        yield fake, f"http://127.0.0.1:{port}"


@pytest.fixture
def lms(tmp_path: Path) -> Iterator[tuple[str, SandboxPeek]]:
    """One sandbox on a socket (what ``lmsctl sandbox serve`` runs), the demo district."""
    db = tmp_path / "lms.db"
    with running_server(SandboxConfig(db_path=db)) as url:
        yield url, SandboxPeek(db)


@pytest.fixture
def origin(tmp_path: Path, shared_state: SharedState) -> Path:
    """The coursework repository's main branch: the examples, with the shared state."""
    main = tmp_path / "origin"
    shutil.copytree(EXAMPLES, main, ignore=shutil.ignore_patterns(".lmsctl"))
    config = yaml.safe_load((main / "lmsctl.yaml").read_text())
    config["state"] = shared_state.config
    (main / "lmsctl.yaml").write_text(yaml.safe_dump(config))
    return main


# ---------------------------------------------------------------------------- the runner


@dataclass
class StepRun:
    code: int
    outputs: dict[str, str]
    summary: str
    log: str
    folder: Path


@dataclass
class Pipeline:
    tmp: Path
    origin: Path
    api_url: str
    github_url: str
    state_env: dict[str, str]
    runs: int = 0

    def checkout(self, branch: Path | None = None) -> Path:
        """A fresh runner folder: a clean copy of a branch, nothing left from an earlier run."""
        self.runs += 1
        folder = self.tmp / f"runner-{self.runs}"
        shutil.copytree(branch or self.origin, folder, ignore=shutil.ignore_patterns(".lmsctl"))
        return folder

    def branch(self, name: str) -> Path:
        """A pull request's branch: a copy of main to edit."""
        path = self.tmp / f"branch-{name}"
        shutil.copytree(self.origin, path)
        return path

    def merge(self, branch: Path) -> None:
        if branch == self.origin:
            return
        shutil.rmtree(self.origin)
        shutil.copytree(branch, self.origin)

    def action(
        self, folder: Path, with_: dict[str, str], *, pr: int | None = None, sha: str = ""
    ) -> StepRun:
        """Run the composite action's steps in ``folder`` as the runner does."""
        out, summary, event = folder / ".gh-output", folder / ".gh-summary", folder / ".gh-event"
        for f in (out, summary):
            f.unlink(missing_ok=True)
        event.write_text(json.dumps({"pull_request": {"number": pr}} if pr else {}))
        inputs = {k: str(v.get("default", "")) for k, v in ACTION["inputs"].items()}
        inputs.update({k: str(v) for k, v in with_.items()})
        github = {"token": GITHUB_TOKEN, "action_path": str(REPO)}

        def expand(text: str) -> str:
            def one(m: re.Match[str]) -> str:
                scope, name = m.group(1), m.group(2)
                table = inputs if scope == "inputs" else github
                assert name in table, f"unknown expression {m.group(0)} in action.yml"
                return expand(table[name])

            return re.sub(r"\$\{\{\s*(inputs|github)\.([\w-]+)\s*\}\}", one, text)

        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("LMSCTL_", "GITHUB_"))},
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            "CI": "true",  # as on every GitHub runner: plans are private by default
            "GITHUB_ACTIONS": "true",
            "CLEVER_TOKEN": DEMO_TOKEN,
            "LMSCTL_API_URL": self.api_url,
            "GITHUB_OUTPUT": str(out),
            "GITHUB_STEP_SUMMARY": str(summary),
            "GITHUB_EVENT_PATH": str(event),
            "GITHUB_API_URL": self.github_url,
            "GITHUB_SERVER_URL": "https://github.example",
            "GITHUB_REPOSITORY": REPOSITORY,
            "GITHUB_RUN_ID": str(4000 + self.runs),
            "GITHUB_SHA": sha,
            **self.state_env,
        }
        log, code = "", 0
        for step in ACTION["runs"]["steps"]:
            if "uses" in step:  # actions/setup-python: the tests' own Python
                continue
            if step.get("id") == "install":  # lmsctl is installed from this checkout already
                assert '"${{ github.action_path }}"' in step["run"]
                continue
            step_env = {**env, **{k: expand(str(v)) for k, v in (step.get("env") or {}).items()}}
            # GitHub runs `shell: bash` as: bash --noprofile --norc -eo pipefail {0}
            proc = subprocess.run(
                ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", expand(step["run"])],
                cwd=folder,
                env=step_env,
                capture_output=True,
                text=True,
                timeout=300,
            )
            log += proc.stdout + proc.stderr
            code = proc.returncode
            if code != 0:
                break
        outputs = dict(
            line.split("=", 1) for line in out.read_text().splitlines() if out.exists() and line
        )
        text = summary.read_text() if summary.exists() else ""
        return StepRun(code, outputs, text, log, folder)


def uses(job: str, command: str) -> dict[str, str]:
    """The ``with:`` of the example workflow's step that runs the action with ``command``."""
    for step in WORKFLOW["jobs"][job]["steps"]:
        action = str(step.get("uses", "")).split("@")[0]
        if action.endswith("/lmsctl") and step["with"]["command"] == command:
            return {k: str(v) for k, v in step["with"].items()}
    raise AssertionError(f"no {command} step in job {job}")


@pytest.fixture
def pipeline(
    tmp_path: Path,
    origin: Path,
    lms: tuple[str, SandboxPeek],
    github: tuple[FakeGitHub, str],
    shared_state: SharedState,
) -> Pipeline:
    return Pipeline(tmp_path, origin, lms[0], github[1], shared_state.env)


def pull_request(pipe: Pipeline, branch: Path, number: int) -> tuple[StepRun, StepRun]:
    """The workflow's plan job for a push to pull request ``number``."""
    folder = pipe.checkout(branch)
    validate = pipe.action(folder, uses("plan", "validate"), pr=number)
    assert validate.code == 0, validate.log
    plan = pipe.action(folder, uses("plan", "plan"), pr=number, sha=f"{number:040d}")
    return validate, plan


FAKE_GH = """#!/bin/sh
# GitHub's CLI as the apply job's "Find the reviewed plan" step uses it
echo "$*" >> "$FAKE_GH_LOG"
case "$1 $2" in
  "api repos/$GITHUB_REPOSITORY/commits/"*) printf '%s\\n' "$FAKE_PR_HEAD" ;;
  "run list") printf '%s\\n' "$FAKE_RUN_ID" ;;
  "run download")
    while [ "$#" -gt 0 ]; do [ "$1" = --dir ] && dir=$2; shift; done
    if [ -n "$FAKE_ARTIFACT" ]; then mkdir -p "$dir" && cp "$FAKE_ARTIFACT" "$dir/"; fi ;;
  *) echo "unexpected: gh $*" >&2; exit 1 ;;
esac
"""


def find_reviewed_plan(pipe: Pipeline, folder: Path, reviewed: StepRun | None) -> str:
    """Run the apply job's "Find the reviewed plan" step, with a stand-in for GitHub's CLI
    that serves the pull request's plan run and its artifact. Returns gh's call log."""
    [step] = [
        s for s in WORKFLOW["jobs"]["apply"]["steps"] if s.get("name") == "Find the reviewed plan"
    ]
    bin_dir = pipe.tmp / "fake-bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "gh").write_text(FAKE_GH)
    (bin_dir / "gh").chmod(0o755)
    git = ["git", "-c", "user.name=ci", "-c", "user.email=ci@example.org"]
    subprocess.run([*git, "init", "-q"], cwd=folder, check=True)
    subprocess.run([*git, "add", "-A"], cwd=folder, check=True)
    subprocess.run([*git, "commit", "-qm", "merge"], cwd=folder, check=True)
    artifact = ""
    if reviewed is not None:
        artifact = str(reviewed.folder / uses("plan", "plan")["plan-file"])
    log = pipe.tmp / "gh.log"
    log.unlink(missing_ok=True)
    expressions = {"${{ github.token }}": "gh-token", "${{ github.workflow }}": "coursework"}
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        **{k: expressions[v] for k, v in step["env"].items()},
        "GITHUB_REPOSITORY": REPOSITORY,
        "FAKE_GH_LOG": str(log),
        "FAKE_PR_HEAD": "a" * 40 if reviewed is not None else "",
        "FAKE_RUN_ID": "4242" if reviewed is not None else "",
        "FAKE_ARTIFACT": artifact,
    }
    run_workflow_step(step["run"], cwd=folder, env=env, timeout=60)
    return log.read_text() if log.exists() else ""


def merge_and_apply(pipe: Pipeline, branch: Path, reviewed: StepRun | None) -> StepRun:
    """Merge to main, then the workflow's apply job in a fresh runner folder: find and download
    the pull request's reviewed plan (when there is one), then the action's apply."""
    pipe.merge(branch)
    folder = pipe.checkout()
    calls = find_reviewed_plan(pipe, folder, reviewed)
    with_ = uses("apply", "apply")
    if reviewed is not None:
        assert f"--commit {'a' * 40} --event pull_request --status success" in calls, calls
        assert "run download 4242 --repo school/coursework --name lmsctl-plan" in calls, calls
        assert (folder / with_["reviewed-plan"]).is_file()
    return pipe.action(folder, with_)


def new_assignment(key: str, title: str) -> str:
    return (
        f"assignments:\n  {key}:\n    title: {title}\n    description: Read chapter 3.\n"
        "    due_date: 2027-02-12\n"
    )


def titles(peek: SandboxPeek, section: str = ALGEBRA) -> list[str]:
    return sorted(a["title"] for a in peek.assignments(section))


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


# ---------------------------------------------------------------------------- the tests


@pytest.mark.slow
def test_pr_plan_then_merge_apply_twice_from_fresh_runners(
    pipeline: Pipeline, lms: tuple[str, SandboxPeek], github: tuple[FakeGitHub, str]
) -> None:
    peek = lms[1]
    fake = github[0]
    first = merge_and_apply(pipeline, pipeline.origin, None)  # main as it starts: nothing yet
    assert first.code == 0, first.log
    assert first.outputs["applied"] == "fresh" and first.outputs["reason"] == "not-given"
    before = titles(peek)
    assert len(before) == len(set(before)) == 4

    # PR 1: a new assignment. Plan exits 2 (changes): the step passes.
    pr1 = pipeline.branch("pr1")
    edit(
        pr1 / ALGEBRA_FILE,
        "assignments:\n",
        new_assignment("hw-03", "Homework 3"),
    )
    fake.add(f"{comment_marker('.')}\nquoted by a person", bot=False, number=1)
    _, plan1 = pull_request(pipeline, pr1, 1)
    assert plan1.code == 0, plan1.log
    assert plan1.outputs["exitcode"] == "2" and plan1.outputs["has-changes"] == "true"
    assert plan1.outputs["needs-approval"] == "false"
    assert "Plan: 1 to create, 0 to update, 0 grades to set, 0 to delete." in plan1.summary
    # a second push to the same pull request: the same comment, updated in place
    edit(pr1 / ALGEBRA_FILE, "title: Homework 3\n", "title: Homework 3 (revised)\n")
    _, plan1 = pull_request(pipeline, pr1, 1)
    assert plan1.code == 0, plan1.log
    [sticky] = fake.bot_comments(1)
    assert fake.writes == ["POST", "PATCH"]
    assert sticky["body"].startswith("<!-- lmsctl:plan:. -->\n")
    assert "Homework 3 (revised)" in sticky["body"] and len(sticky["body"]) <= COMMENT_LIMIT
    assert "https://github.example/school/coursework/actions/runs/" in sticky["body"]
    assert fake.comments[0]["body"].endswith("quoted by a person")  # a person's: untouched

    apply1 = merge_and_apply(pipeline, pr1, plan1)
    assert apply1.code == 0, apply1.log
    assert apply1.outputs["applied"] == "reviewed", apply1.log
    assert titles(peek) == sorted([*before, "Homework 3 (revised)"])

    # PR 2, from main after the merge: a grade. Its plan shows only its own change.
    pr2 = pipeline.branch("pr2")
    edit(pr2 / ALGEBRA_FILE, "{grade_points: 8.5, state: returned}", "{grade_points: 9.5}")
    _, plan2 = pull_request(pipeline, pr2, 2)
    assert plan2.code == 0 and plan2.outputs["exitcode"] == "2", plan2.log
    assert "Plan: 0 to create, 0 to update, 1 grades to set, 0 to delete." in plan2.summary
    apply2 = merge_and_apply(pipeline, pr2, plan2)
    assert apply2.code == 0 and apply2.outputs["applied"] == "reviewed", apply2.log

    hw1 = peek.by_title("Homework 1: Linear equations")
    assert peek.submissions(ALGEBRA, hw1["id"])["5f1a0c0b8e1d2a0001b00002"]["grade_points"] == 9.5
    assert titles(peek) == sorted([*before, "Homework 3 (revised)"])  # no duplicate

    # and a runner that never ran before sees nothing left to do
    after = pipeline.action(pipeline.checkout(), uses("drift", "plan"))
    assert after.code == 0 and after.outputs["exitcode"] == "0", after.log
    assert after.outputs["drift"] == "0"
    # no token in any log, summary, output or comment; no student's id or name either (CI is
    # set and no pseudonym key: the Markdown falls back to redacted aggregates)
    student = "5f1a0c0b8e1d2a0001b00002"
    for run in (first, plan1, apply1, plan2, apply2, after):
        text = run.log + run.summary + json.dumps(run.outputs)
        assert GITHUB_TOKEN not in text and DEMO_TOKEN not in text
        assert student not in text, run.log
    assert all(GITHUB_TOKEN not in c["body"] for c in fake.comments)
    assert all(student not in c["body"] for c in fake.comments)


@pytest.mark.slow
def test_a_stale_reviewed_plan_gives_way_to_a_fresh_plan_of_main(
    pipeline: Pipeline, lms: tuple[str, SandboxPeek]
) -> None:
    """Two pull requests planned from the same main, merged one after the other: the second's
    reviewed plan no longer holds (main moved on, another apply ran), so its apply applies a
    fresh plan of main's head, which holds both changes, once each."""
    peek = lms[1]
    assert merge_and_apply(pipeline, pipeline.origin, None).code == 0
    a, b = pipeline.branch("a"), pipeline.branch("b")
    edit(a / ALGEBRA_FILE, "assignments:\n", new_assignment("hw-a", "Homework A"))
    edit(b / ALGEBRA_FILE, "assignments:\n", new_assignment("hw-b", "Homework B"))
    _, plan_a = pull_request(pipeline, a, 3)
    _, plan_b = pull_request(pipeline, b, 4)
    apply_a = merge_and_apply(pipeline, a, plan_a)
    assert apply_a.outputs["applied"] == "reviewed", apply_a.log
    # B rebased on main (it now holds A's change too) and merged, with B's old reviewed plan
    edit(
        pipeline.origin / ALGEBRA_FILE,
        "assignments:\n",
        new_assignment("hw-b", "Homework B"),
    )
    apply_b = merge_and_apply(pipeline, pipeline.branch("b-merged"), plan_b)
    assert apply_b.code == 0, apply_b.log
    assert apply_b.outputs["applied"] == "fresh"
    assert apply_b.outputs["reason"] == "manifests-changed"
    assert "a fresh plan of this commit" in apply_b.summary
    assert titles(peek).count("Homework A") == 1 and titles(peek).count("Homework B") == 1
    assert len(titles(peek)) == 6


@pytest.mark.slow
def test_the_reviewed_plan_is_not_applied_after_another_apply_changed_state(
    pipeline: Pipeline, lms: tuple[str, SandboxPeek]
) -> None:
    peek = lms[1]
    assert merge_and_apply(pipeline, pipeline.origin, None).code == 0
    pr = pipeline.branch("pr")
    edit(pr / ALGEBRA_FILE, "{grade_points: 8.5, state: returned}", "{grade_points: 6}")
    _, plan = pull_request(pipeline, pr, 5)
    # somebody applies a change of their own after the review (state moves on)
    other = pipeline.checkout(pr)
    edit(other / ALGEBRA_FILE, "{grade_points: 6}", "{grade_points: 7}")
    assert pipeline.action(other, uses("apply", "apply")).outputs["applied"] == "fresh"
    applied = merge_and_apply(pipeline, pr, plan)
    assert applied.code == 0, applied.log
    assert applied.outputs["applied"] == "fresh"
    assert applied.outputs["reason"] == "state-changed"
    hw1 = peek.by_title("Homework 1: Linear equations")
    assert peek.submissions(ALGEBRA, hw1["id"])["5f1a0c0b8e1d2a0001b00002"]["grade_points"] == 6


def test_a_usage_error_fails_the_plan_step(
    pipeline: Pipeline, github: tuple[FakeGitHub, str]
) -> None:
    """Under --detailed-exitcode a usage error used to exit 2, read as "changes", and passed."""
    folder = pipeline.checkout()
    run = pipeline.action(folder, {**uses("plan", "plan"), "lock-timeout": "soon"}, pr=6)
    assert run.code != 0, run.log
    assert run.outputs["exitcode"] == "1"
    assert "Invalid value for '--lock-timeout': 'soon'" in run.log
    assert not (folder / "lmsctl-plan.json").exists()  # nothing to upload
    [sticky] = github[0].bot_comments(6)
    assert "lmsctl plan failed (exit 1)" in sticky["body"]


def test_a_manifest_error_fails_the_plan_step(pipeline: Pipeline) -> None:
    folder = pipeline.checkout()
    edit(folder / ALGEBRA_FILE, 'title: "Homework 1', 'titel: "Homework 1')
    run = pipeline.action(folder, {**uses("plan", "plan"), "comment": "false"})
    assert run.code != 0 and run.outputs["exitcode"] == "1", run.log
    assert "titel" in run.log


def test_the_sticky_comment_is_bounded_and_carries_the_marker() -> None:
    marker = comment_marker("district/lincoln high")
    assert marker == "<!-- lmsctl:plan:district/lincoln_high -->"
    assert "-->" not in comment_marker("a-->b").removesuffix(" -->")
    body = sticky_comment("x" * 200_000, marker=marker, footer="Full plan: [run](https://x)")
    assert len(body) <= COMMENT_LIMIT
    assert body.startswith(marker + "\n")
    assert body.rstrip().endswith("Full plan: [run](https://x)")
    assert "cut: too long for a comment" in body
    small = sticky_comment("### plan\n", marker=marker, footer="f")
    assert small == f"{marker}\n### plan\n\n---\nf\n"


def test_the_workflow_keeps_to_its_promises() -> None:
    """What the README promises of the example workflow, checked in the file itself."""
    assert WORKFLOW["permissions"] == {}
    on = WORKFLOW[True] if True in WORKFLOW else WORKFLOW["on"]  # YAML 1.1 reads `on` as true
    assert set(on) >= {"pull_request", "push", "schedule"}
    env = WORKFLOW["env"]
    assert env["CLEVER_TOKEN"] == "${{ secrets.CLEVER_TOKEN }}"
    assert env["LMSCTL_PG_DSN"] == "${{ secrets.LMSCTL_PG_DSN }}"
    apply = WORKFLOW["jobs"]["apply"]
    assert apply["concurrency"]["cancel-in-progress"] is False
    assert apply["steps"][0]["with"]["ref"] == "${{ github.ref }}"  # main's head, not the event
    plan = WORKFLOW["jobs"]["plan"]
    assert plan["permissions"] == {"contents": "read", "pull-requests": "write"}
    upload = next(s for s in plan["steps"] if "upload-artifact" in str(s.get("uses")))
    assert 1 <= upload["with"]["retention-days"] <= 14
    assert uses("plan", "plan")["plan-file"] == upload["with"]["path"]
    # a plan that needs approval (exit 3) is a plan to apply: its file is kept too
    assert all(f"exitcode == '{code}'" in upload["if"] for code in "023")
    # every artifact of every job: short-lived, and never the state (nor a recovery file)
    for job in WORKFLOW["jobs"].values():
        for step in job["steps"]:
            if "upload-artifact" in str(step.get("uses")):
                assert 1 <= step["with"]["retention-days"] <= 14
                assert ".lmsctl" not in step["with"]["path"] and "state" not in step["with"]["path"]
    assert env["LMSCTL_STATE_KEY"] == "${{ secrets.LMSCTL_STATE_KEY }}"  # the artifact sealed
    assert "needs-approval" in ACTION["outputs"]


@pytest.mark.slow
def test_a_huge_plan_makes_a_bounded_comment_that_points_to_the_full_plan(
    tmp_path: Path, github: tuple[FakeGitHub, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """40 sections of 10 assignments of 30 grades: far over GitHub's limit as a whole (with
    the pseudonym key, so every grade line is in the comment: pseudonymised, not redacted)."""
    monkeypatch.setenv("LMSCTL_PSEUDONYM_KEY", "a-secret-of-the-repository")
    fake, url = github
    plan_file = tmp_path / "lmsctl-plan.json"

    def runner(argv: list[str]) -> int:  # lmsctl plan, as far as the step can tell
        assert argv[:4] == ["plan", ".", "--out", str(plan_file)]
        save_plan(plan_file, first_apply_plan(sections=40, assignments=10, students=30))
        return 2

    gh = GitHubContext(
        summary_file=tmp_path / "summary.md",
        api_url=url,
        repository=REPOSITORY,
        run_id="77",
        token=GITHUB_TOKEN,
        pr_number=9,
    )
    options = CiOptions(Step.PLAN, Path("."), plan_file, lock_timeout="600", comment=True)
    result = run_step(options, runner, gh)
    assert result.code == 0 and result.outputs["exitcode"] == "2"
    [sticky] = fake.bot_comments(9)
    body = sticky["body"]
    assert len(body) <= COMMENT_LIMIT and body.startswith("<!-- lmsctl:plan:. -->\n")
    assert "16 more sections not shown (too long for a comment)" in body  # cut, and said so
    assert "https://github.com/school/coursework/actions/runs/77" in body
    assert "`lmsctl show lmsctl-plan.json`" in body
    assert (tmp_path / "summary.md").read_text().startswith("### lmsctl plan")


@pytest.mark.slow
def test_a_plan_artifact_that_does_something_else_is_not_applied(
    pipeline: Pipeline, lms: tuple[str, SandboxPeek]
) -> None:
    """The reviewed plan is an artifact of the pull request's run: one whose changes are not
    what lmsctl makes of the merged manifests (here a grade edited in the file, digest and
    serial left as they were) is never applied; the fresh plan of main is."""
    peek = lms[1]
    assert merge_and_apply(pipeline, pipeline.origin, None).code == 0
    pr = pipeline.branch("pr")
    edit(pr / ALGEBRA_FILE, "{grade_points: 8.5, state: returned}", "{grade_points: 9.5}")
    _, plan = pull_request(pipeline, pr, 8)
    plan_path = plan.folder / uses("plan", "plan")["plan-file"]
    doc = json.loads(plan_path.read_text())
    [grade] = [c for c in doc["plan"]["changes"] if c["kind"] == "grade"]
    grade["body"]["grade_points"] = 0.5
    plan_path.write_text(json.dumps(doc))
    applied = merge_and_apply(pipeline, pr, plan)
    assert applied.code == 0, applied.log
    assert applied.outputs["applied"] == "fresh"
    assert applied.outputs["reason"] == "differs-from-main"
    hw1 = peek.by_title("Homework 1: Linear equations")
    assert peek.submissions(ALGEBRA, hw1["id"])["5f1a0c0b8e1d2a0001b00002"]["grade_points"] == 9.5


def test_a_plan_that_needs_approval_passes_the_step_and_says_so(tmp_path: Path) -> None:
    """plan exits 3 (a policies.approval rule matched): a reviewable plan, whose step passes
    and whose output needs-approval lets the workflow ask a second reviewer."""
    plan_file = tmp_path / "lmsctl-plan.json"

    def runner(argv: list[str]) -> int:
        assert "--detailed-exitcode" in argv
        save_plan(plan_file, first_apply_plan(sections=1, assignments=1, students=2))
        return 3

    options = CiOptions(Step.PLAN, Path("."), plan_file, lock_timeout="0")
    result = run_step(options, runner, GitHubContext(output_file=tmp_path / "out"))
    assert result.code == 0 and result.outputs["exitcode"] == "3"
    assert "needs-approval=true\n" in (tmp_path / "out").read_text()
