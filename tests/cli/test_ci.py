"""lmsctl ci's sticky comment against GitHub's comments API (faked at the HTTP boundary)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import httpx
import pytest

from lmsctl.ci import upsert_sticky_comment
from lmsctl.cli import run
from lmsctl.errors import LmsctlError

MARKER = "<!-- lmsctl:plan:. -->"
EXAMPLES = Path(__file__).resolve().parent.parent.parent / "examples" / "coursework"


def _github(
    comments: list[dict[str, object]], calls: list[tuple[str, str]], status: int = 200
) -> httpx.Client:
    def handler(request: httpx.Request) -> httpx.Response:
        calls.append((request.method, request.url.path))
        if status != 200:
            return httpx.Response(status, json={"message": "Resource not accessible"})
        if request.method == "GET":
            page = int(request.url.params["page"])
            per = int(request.url.params["per_page"])
            return httpx.Response(200, json=comments[(page - 1) * per : page * per])
        body = json.loads(request.content)["body"]
        return httpx.Response(201 if request.method == "POST" else 200, json={"body": body})

    return httpx.Client(transport=httpx.MockTransport(handler), base_url="https://api.gh")


def _comment(i: int, body: str, kind: str = "User") -> dict[str, object]:
    return {"id": i, "body": body, "user": {"type": kind}}


def test_the_bot_comment_is_found_on_a_later_page_and_updated() -> None:
    comments = [_comment(i, f"comment {i}") for i in range(150)]
    comments[30] = _comment(30, f"> {MARKER} quoted")  # a quote: does not start with it
    comments[60] = _comment(60, f"{MARKER}\nby a person")  # a person's: never overwritten
    comments[130] = _comment(130, f"{MARKER}\nold plan", "Bot")
    calls: list[tuple[str, str]] = []
    with _github(comments, calls) as client:
        assert upsert_sticky_comment(client, "o/r", 7, MARKER, f"{MARKER}\nnew") == "updated"
    assert calls[-1] == ("PATCH", "/repos/o/r/issues/comments/130")
    assert [c for c in calls if c[0] == "GET"] == [("GET", "/repos/o/r/issues/7/comments")] * 2


def test_without_a_bot_comment_one_is_created() -> None:
    calls: list[tuple[str, str]] = []
    with _github([_comment(1, f"{MARKER}\nby a person")], calls) as client:
        assert upsert_sticky_comment(client, "o/r", 7, MARKER, f"{MARKER}\nnew") == "created"
    assert calls == [
        ("GET", "/repos/o/r/issues/7/comments"),
        ("POST", "/repos/o/r/issues/7/comments"),
    ]


def test_a_read_only_token_is_one_clear_error() -> None:
    with _github([], [], status=403) as client, pytest.raises(LmsctlError) as info:
        upsert_sticky_comment(client, "o/r", 7, MARKER, "x")
    assert str(info.value).startswith(
        "cannot list the pull request's comments: GitHub answered 403"
    )
    assert "pull-requests: write" in str(info.value)


def test_a_comment_that_cannot_be_kept_fails_the_step_after_the_outputs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """An old sticky comment would show reviewers an outdated plan: the step must fail, but
    the outputs and the job summary are written first."""
    root = tmp_path / "coursework"
    shutil.copytree(EXAMPLES, root, ignore=shutil.ignore_patterns(".lmsctl"))
    monkeypatch.chdir(root)
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"pull_request": {"number": 3}}))
    for name in list(os.environ):
        if name.startswith(("GITHUB_", "LMSCTL_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("GITHUB_EVENT_PATH", str(event))
    monkeypatch.setenv("GITHUB_REPOSITORY", "o/r")
    monkeypatch.setenv("GITHUB_OUTPUT", str(tmp_path / "out"))
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path / "summary"))
    code = run(["--sandbox", "ci", "plan", ".", "--comment"])
    err = capsys.readouterr().err
    assert code == 1
    assert "Error: cannot keep the plan comment: no GITHUB_TOKEN" in err
    assert "exitcode=2\n" in (tmp_path / "out").read_text()
    assert "Plan: 11 to create" in (tmp_path / "summary").read_text()
