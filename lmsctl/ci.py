"""One step of the GitOps pipeline (validate, plan or apply), as the GitHub Action runs it.

The action (``action.yml``) calls ``lmsctl ci STEP``, which calls :func:`run_step`; tests call the
same command, so what CI runs is what is tested. The lmsctl commands themselves run through a
``Runner`` the CLI supplies (the real entry point, with the global flags), and their output goes
to the job log as usual; this module decides, reads plan files and talks to GitHub, and never
prints.

- ``plan``: ``lmsctl plan ROOT --out PLANFILE --detailed-exitcode``. The step passes on 0 (no
  changes) and 2 (changes) and fails on anything else (every error exits 1). The plan, as
  Markdown, goes to the job summary and to one sticky pull-request comment found again by a
  hidden marker (``<!-- lmsctl:plan:ROOT -->``) and updated in place, always under GitHub's
  65,536-character limit, with a pointer to the run that holds the full plan.
- ``apply``: the reviewed plan (the pull request's saved plan file) when it still holds: made
  from exactly these manifests (the manifests' digest) against the state as it is now (state
  lineage and serial) and the same API, and doing exactly what a fresh plan of them does now.
  Otherwise that fresh plan of the checked-out commit, saved and applied. Either way what is
  applied is a saved plan file, which apply re-checks under the state lock (a stale plan is
  refused, never half-applied) and which writes no change whose live value changed in the LMS
  since the plan (it is reported as stale).
- ``validate``: ``lmsctl validate ROOT``.

Outputs (``$GITHUB_OUTPUT``): ``exitcode`` (lmsctl's own), ``has-changes``, ``drift``,
``plan-file``, for plan ``needs-approval`` (``true`` when plan exits 3: a ``policies.approval``
rule matched a change), and for apply ``applied`` (``reviewed`` or ``fresh``) and ``reason``.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

import httpx

from lmsctl.errors import LmsctlError
from lmsctl.manifest.config import load_config
from lmsctl.plan.document import plan_to_document
from lmsctl.plan.model import Plan, canonical_json
from lmsctl.plan.planfile import load_plan
from lmsctl.privacy import privatise_document, resolve_privacy
from lmsctl.render.markdown import render_plan_markdown
from lmsctl.state import open_backend
from lmsctl.workspace import manifests_digest

__all__ = [
    "COMMENT_LIMIT",
    "SUMMARY_LIMIT",
    "CiOptions",
    "GitHubContext",
    "Reviewed",
    "Runner",
    "Step",
    "StepResult",
    "comment_marker",
    "reviewed_plan_holds",
    "run_step",
    "sticky_comment",
    "upsert_sticky_comment",
]

#: GitHub refuses a comment body over 65,536 characters
COMMENT_LIMIT = 65_536
#: GitHub aborts a step summary over 1 MiB
SUMMARY_LIMIT = 1024 * 1024

#: runs ``lmsctl ARGV`` (global flags added by the caller) and returns its exit code
Runner = Callable[[Sequence[str]], int]


class Step(Enum):
    VALIDATE = "validate"
    PLAN = "plan"
    APPLY = "apply"


class Reviewed(Enum):
    """Whether the reviewed plan still describes what apply would do now."""

    HOLDS = "holds"
    NOT_GIVEN = "not-given"  # no reviewed plan (a push that was not a pull request, a failed plan)
    UNREADABLE = "unreadable"
    MANIFESTS_CHANGED = "manifests-changed"  # main moved on, or the merge changed the files
    STATE_CHANGED = "state-changed"  # another apply ran since the plan was made
    OTHER_API = "other-api"
    #: same manifests and state, yet a fresh plan of them does something else: the LMS changed
    #: since the review, or the plan file is not what lmsctl made of these manifests
    DIFFERS = "differs-from-main"


@dataclass(frozen=True)
class GitHubContext:
    """What the runner tells a step about itself (the ``GITHUB_*`` variables)."""

    output_file: Path | None = None
    summary_file: Path | None = None
    api_url: str = "https://api.github.com"
    server_url: str = "https://github.com"
    repository: str = ""
    run_id: str = ""
    sha: str = ""
    token: str = field(default="", repr=False)
    pr_number: int | None = None

    @classmethod
    def from_environ(cls, env: Mapping[str, str]) -> GitHubContext:
        pr: int | None = None
        event_path = env.get("GITHUB_EVENT_PATH", "")
        if event_path:
            try:
                event = json.loads(Path(event_path).read_text(encoding="utf-8"))
            except (OSError, ValueError):
                event = {}
            number = (event.get("pull_request") or {}).get("number")
            pr = number if isinstance(number, int) else None

        def path(name: str) -> Path | None:
            value = env.get(name, "")
            return Path(value) if value else None

        return cls(
            output_file=path("GITHUB_OUTPUT"),
            summary_file=path("GITHUB_STEP_SUMMARY"),
            api_url=env.get("GITHUB_API_URL") or cls.api_url,
            server_url=env.get("GITHUB_SERVER_URL") or cls.server_url,
            repository=env.get("GITHUB_REPOSITORY", ""),
            run_id=env.get("GITHUB_RUN_ID", ""),
            sha=env.get("GITHUB_SHA", ""),
            token=env.get("GITHUB_TOKEN", ""),
            pr_number=pr,
        )

    @property
    def run_url(self) -> str:
        if not (self.repository and self.run_id):
            return ""
        return f"{self.server_url}/{self.repository}/actions/runs/{self.run_id}"


@dataclass(frozen=True)
class CiOptions:
    step: Step
    root: Path
    plan_file: Path
    lock_timeout: str = "0"  # as given: plan and apply parse it (a bad value fails the step)
    reviewed_plan: Path | None = None  # apply: the pull request's saved plan
    comment: bool = False  # plan: keep the sticky pull-request comment
    sandbox: bool = False  # the state lmsctl was told to use (as the Runner's flags say)


@dataclass
class StepResult:
    """What a step did: ``code`` is the step's own exit code (0 passes)."""

    code: int
    lmsctl_code: int
    outputs: dict[str, str] = field(default_factory=dict)
    summary: str = ""
    comment: str = ""  # the sticky comment's body, when one was posted
    notes: list[str] = field(default_factory=list)  # one-line messages for the log
    error: LmsctlError | None = None  # raised once outputs and summary are written


# ---------------------------------------------------------------------------- the sticky comment


def comment_marker(root: Path | str) -> str:
    """The hidden marker that finds a root's plan comment again: ``<!-- lmsctl:plan:ROOT -->``."""
    name = Path(root).as_posix().strip("/") or "."
    safe = re.sub(r"[^A-Za-z0-9._/-]", "_", name)  # nothing that could end the HTML comment
    return f"<!-- lmsctl:plan:{safe} -->"


def sticky_comment(markdown: str, *, marker: str, footer: str, limit: int = COMMENT_LIMIT) -> str:
    """The comment's body: marker, plan, footer; the plan cut so the whole fits ``limit``."""
    head = marker + "\n"
    tail = "\n---\n" + footer + "\n"
    room = limit - len(head) - len(tail)
    if len(markdown) > room:
        note = "\n\n... (cut: too long for a comment; the full plan is in the run below)\n"
        markdown = markdown[: max(room - len(note), 0)] + note
    return head + markdown.rstrip("\n") + "\n" + tail


def _footer(gh: GitHubContext, plan_file: Path, sha: str) -> str:
    where = f"[this run]({gh.run_url})" if gh.run_url else "this workflow run"
    commit = f" for commit `{sha[:12]}`" if sha else ""
    return (
        f"Plan{commit}. The full plan: the job summary of {where}, and the plan file "
        f"`{plan_file.name}` in its artifacts (`lmsctl show {plan_file.name}` prints all of it). "
        "This comment is updated in place on every push."
    )


def upsert_sticky_comment(
    client: httpx.Client, repository: str, pr_number: int, marker: str, body: str
) -> str:
    """Update the pull request's comment that starts with ``marker``, or create it.

    Only a bot's comment counts (the workflow's own), so a person quoting the marker is never
    overwritten. Returns ``updated`` or ``created``.
    """
    comments = f"/repos/{repository}/issues/{pr_number}/comments"
    found: int | None = None
    page = 1
    while found is None:
        response = client.get(comments, params={"per_page": 100, "page": page})
        _check(response, "list the pull request's comments")
        batch = response.json()
        for c in batch:
            user = c.get("user") or {}
            if str(c.get("body") or "").startswith(marker) and user.get("type") == "Bot":
                found = int(c["id"])
                break
        if len(batch) < 100:
            break
        page += 1
    if found is not None:
        response = client.patch(f"/repos/{repository}/issues/comments/{found}", json={"body": body})
        _check(response, "update the plan comment")
        return "updated"
    response = client.post(comments, json={"body": body})
    _check(response, "create the plan comment")
    return "created"


def _check(response: httpx.Response, what: str) -> None:
    if response.status_code >= 300:
        hint = (
            "give the job `permissions: pull-requests: write` (a pull request from a fork "
            "gets a read-only token)"
            if response.status_code in (401, 403, 404)
            else "re-run the job"
        )
        raise LmsctlError(f"cannot {what}: GitHub answered {response.status_code}", hint=hint)


def _github_client(gh: GitHubContext) -> httpx.Client:
    return httpx.Client(
        base_url=gh.api_url,
        headers={
            "Authorization": f"Bearer {gh.token}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
        },
        timeout=30.0,
    )


# ---------------------------------------------------------------------------- the steps


def reviewed_plan_holds(options: CiOptions) -> Reviewed:
    """Whether the reviewed plan file is still exactly what apply would do now."""
    path = options.reviewed_plan
    if path is None or not path.is_file():
        return Reviewed.NOT_GIVEN
    try:
        plan, _ = load_plan(path)
    except LmsctlError:
        return Reviewed.UNREADABLE
    if plan.manifests_digest != manifests_digest(options.root):
        return Reviewed.MANIFESTS_CHANGED
    config = load_config(options.root)
    backend = open_backend(options.root, config, sandbox=options.sandbox)
    try:
        snapshot = backend.read()
    finally:
        backend.close()  # a postgres backend holds a connection
    if snapshot.serial != plan.serial or (
        plan.lineage and snapshot.lineage and plan.lineage != snapshot.lineage
    ):
        return Reviewed.STATE_CHANGED
    if plan.api_url and snapshot.api_url and plan.api_url != snapshot.api_url:
        return Reviewed.OTHER_API
    return Reviewed.HOLDS


def _plan_markdown(plan_file: Path, root: Path) -> tuple[str, dict[str, str], str]:
    """The plan as the job summary and the pull-request comment show it, at the privacy level
    of Markdown in CI (pseudonymised with LMSCTL_PSEUDONYM_KEY, else redacted), and the notice
    to log when it fell back to redact. The plan file itself stays full (apply needs it)."""
    plan, _ = load_plan(plan_file)
    choice = resolve_privacy(None, load_config(root).privacy, fmt="markdown", env=os.environ)
    doc = privatise_document(plan_to_document(plan), choice)
    facts = {
        "has-changes": "true" if plan.has_changes or plan.unknown else "false",
        "drift": str(len(plan.drift)),
    }
    return render_plan_markdown(doc), facts, choice.notice


def _lock(options: CiOptions) -> list[str]:
    return ["--lock-timeout", options.lock_timeout]


def _plan_step(options: CiOptions, run: Runner, gh: GitHubContext) -> StepResult:
    plan_file = options.plan_file
    plan_file.unlink(missing_ok=True)  # never show or upload a plan left by an earlier run
    code = run(
        ["plan", str(options.root), "--out", str(plan_file), "--detailed-exitcode", *_lock(options)]
    )
    # 0 no changes, 2 changes, 3 changes that need approval (policies.approval): all reviewable
    result = StepResult(code=0 if code in (0, 2, 3) else 1, lmsctl_code=code)
    result.outputs["plan-file"] = str(plan_file)
    result.outputs["needs-approval"] = "true" if code == 3 else "false"
    if result.code == 0 and plan_file.is_file():
        markdown, facts, notice = _plan_markdown(plan_file, options.root)
        result.outputs.update(facts)
        if notice:
            result.notes.append(notice)
    else:
        result.outputs.update({"has-changes": "false", "drift": "0"})
        markdown = (
            f"### lmsctl plan failed (exit {code})\n\n"
            "Nothing can be applied from this commit until the plan succeeds; "
            "the job log says why.\n"
        )
    result.summary = markdown
    if options.comment:
        if gh.pr_number is None or not gh.repository:
            result.notes.append("not a pull request: no plan comment to keep")
        elif not gh.token:
            result.error = LmsctlError(
                "cannot keep the plan comment: no GITHUB_TOKEN",
                hint="pass github-token to the action, or comment: false",
            )
        else:
            body = sticky_comment(
                markdown,
                marker=comment_marker(options.root),
                footer=_footer(gh, plan_file, gh.sha),
            )
            try:
                with _github_client(gh) as client:
                    what = upsert_sticky_comment(
                        client, gh.repository, gh.pr_number, comment_marker(options.root), body
                    )
            except httpx.HTTPError as exc:
                result.error = LmsctlError(
                    f"cannot reach GitHub to keep the plan comment: {type(exc).__name__}",
                    hint="re-run the job",
                )
            except LmsctlError as exc:
                result.error = exc
            else:
                result.comment = body
                result.notes.append(f"plan comment {what} on pull request #{gh.pr_number}")
    return result


def _what_it_does(plan: Plan) -> list[str]:
    """A plan's effect, for comparing two plans: each call it would make and what it sends."""
    return sorted(
        canonical_json(
            [
                c.address,
                c.action.value,
                c.moved_from,
                dict(c.body),
                sorted([f.field, f.after] for f in c.fields),
            ]
        )
        for c in plan.changes
    )


def _apply_step(options: CiOptions, run: Runner) -> StepResult:
    """Apply the reviewed plan if it still holds, else a fresh plan of the checked-out commit.

    A fresh plan is made either way: the reviewed plan file is an artifact of the pull
    request's run, so it is applied only if it does exactly what lmsctl makes of these
    manifests now (it then also keeps its review-time fingerprints: a change whose live value
    changed in the LMS since the review is not written, and reported as stale).
    """
    reviewed = reviewed_plan_holds(options)
    fresh_file = options.plan_file
    fresh_file.unlink(missing_ok=True)
    code = run(["plan", str(options.root), "--out", str(fresh_file), *_lock(options)])
    if code != 0 or not fresh_file.is_file():
        return StepResult(
            code=1,
            lmsctl_code=code,
            outputs={"applied": "none", "reason": reviewed.value, "has-changes": "false"},
            summary=f"### lmsctl apply: the plan failed (exit {code}); nothing was applied\n",
            notes=[f"the plan of this commit failed (exit {code}); nothing was applied"],
        )
    if reviewed is Reviewed.HOLDS:
        assert options.reviewed_plan is not None
        fresh, _ = load_plan(fresh_file)
        mine, _ = load_plan(options.reviewed_plan)
        if _what_it_does(mine) != _what_it_does(fresh):
            reviewed = Reviewed.DIFFERS
    if reviewed is Reviewed.HOLDS:
        assert options.reviewed_plan is not None
        applied, plan_file = "reviewed", options.reviewed_plan
        why = "the reviewed plan still holds: same manifests, same state, same changes"
        summary_head = "### lmsctl apply: the reviewed plan\n\n" + why + "."
    else:
        applied, plan_file = "fresh", fresh_file
        why = f"no reviewed plan that still holds ({reviewed.value}): a fresh plan of this commit"
        summary_head = "### lmsctl apply: a fresh plan of this commit\n\n" + why + "."
    markdown, facts, _notice = _plan_markdown(plan_file, options.root)
    code = run(["apply", str(plan_file), "--root", str(options.root), *_lock(options)])
    verdict = "applied" if code == 0 else f"apply failed (exit {code}); re-run to converge"
    return StepResult(
        code=0 if code == 0 else 1,
        lmsctl_code=code,
        outputs={
            "applied": applied,
            "reason": reviewed.value,
            "plan-file": str(plan_file),
            **facts,
        },
        summary=f"{summary_head}\n\n**Result: {verdict}.**\n\n{markdown}",
        notes=[f"applying {why}"],
    )


def run_step(options: CiOptions, run: Runner, gh: GitHubContext) -> StepResult:
    """Run one pipeline step; write its outputs and job summary where the runner asks."""
    if options.step is Step.VALIDATE:
        code = run(["validate", str(options.root)])
        result = StepResult(code=0 if code == 0 else 1, lmsctl_code=code)
    elif options.step is Step.PLAN:
        result = _plan_step(options, run, gh)
    else:
        result = _apply_step(options, run)
    result.outputs["exitcode"] = str(result.lmsctl_code)
    if gh.output_file is not None:
        with gh.output_file.open("a", encoding="utf-8") as fh:
            for name, value in result.outputs.items():
                fh.write(f"{name}={value}\n")
    if gh.summary_file is not None and result.summary:
        text = result.summary
        if len(text.encode()) > SUMMARY_LIMIT - 1024:
            text = text.encode()[: SUMMARY_LIMIT - 1024].decode(errors="ignore") + "\n\n(cut)\n"
        with gh.summary_file.open("a", encoding="utf-8") as fh:
            fh.write(text.rstrip("\n") + "\n\n")
    if result.error is not None:
        # a stale comment would show reviewers an old plan: the step fails
        raise result.error
    return result
