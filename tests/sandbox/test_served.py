"""`lmsctl sandbox serve` over real HTTP: the documented flow, and state across restarts."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import yaml

from lmsctl.sandbox import DEMO_TOKEN, SandboxConfig, running_server, sandbox_transport
from tests.support.sandbox_api import FUTURE, Api

HEADERS = {"Authorization": f"Bearer {DEMO_TOKEN}"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def _serve_cli(*args: str) -> Iterator[str]:
    """Run `lmsctl sandbox serve` as a user would; yields its base URL; stops it after."""
    port = _free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "lmsctl", "sandbox", "serve", "--port", str(port), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
        text=True,
    )
    try:
        first_line = proc.stdout.readline() if proc.stdout else ""
        base_url = f"http://127.0.0.1:{port}/v3.1"
        assert base_url in first_line, first_line
        deadline = time.monotonic() + 15
        while True:
            try:
                httpx.get(base_url + "/districts", headers=HEADERS, timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.05)
        yield base_url
    finally:
        proc.terminate()
        proc.communicate(timeout=10)  # waits, and closes its stdout


def _flow(client: httpx.Client, section: str, student: str, teacher: str) -> str:
    """create -> get -> patch -> list submissions -> patch a submission; returns the id."""
    body = {"title": "Quiz", "description": "Ch. 1", "due_date": FUTURE, "assignee_mode": "all"}
    created = client.post(f"sections/{section}/assignments", json=body)
    assert created.status_code == 200
    aid = created.json()["data"]["id"]
    assert client.get(f"sections/{section}/assignments/{aid}").json()["data"]["title"] == "Quiz"
    patched = client.patch(f"sections/{section}/assignments/{aid}", json={"points_possible": 20})
    assert patched.json()["data"]["points_possible"] == 20
    subs = client.get(f"sections/{section}/assignments/{aid}/submissions", params={"limit": 2})
    assert len(subs.json()["data"]) == 2 and subs.json()["links"][0]["rel"] == "next"
    graded = client.patch(
        f"sections/{section}/assignments/{aid}/submissions/{student}",
        json={"grade_points": 18, "grader_id": teacher, "state": "returned"},
    )
    assert graded.json()["data"]["grade_points"] == 18
    return str(aid)


@pytest.mark.slow
def test_serve_answers_the_documented_flow_and_keeps_state_across_restarts(
    tmp_path: Path, seed_file: Callable[..., Path]
) -> None:
    seed = seed_file(sections=2, students=5)
    section = yaml.safe_load(seed.read_text())["districts"][0]["sections"][0]
    student, teacher = section["students"][0]["id"], section["teachers"][0]["id"]
    db = tmp_path / "sandbox.db"
    with (
        _serve_cli("--db", str(db), "--seed", str(seed)) as base_url,
        httpx.Client(base_url=base_url + "/", headers=HEADERS) as client,
    ):
        aid = _flow(client, section["id"], student, teacher)
    with (
        _serve_cli("--db", str(db), "--seed", str(seed)) as base_url,
        httpx.Client(base_url=base_url + "/", headers=HEADERS) as client,
    ):
        sub = client.get(f"sections/{section['id']}/assignments/{aid}/submissions/{student}")
        assert sub.json()["data"]["grade_points"] == 18  # survived the restart
        assert client.delete(f"sections/{section['id']}/assignments/{aid}").status_code == 200
        gone = client.get(f"sections/{section['id']}/assignments/{aid}")
        assert (gone.status_code, gone.json()) == (404, {"message": "Assignment does not exist"})


def test_running_server_and_the_embedded_sandbox_share_a_database(tmp_path: Path) -> None:
    db = tmp_path / "shared.db"
    section, student = "5f1a0c0b8e1d2a0001a00001", "5f1a0c0b8e1d2a0001b00003"
    with (
        running_server(SandboxConfig(db_path=db)) as base_url,
        httpx.Client(base_url=base_url + "/", headers=HEADERS) as client,
    ):
        aid = _flow(client, section, student, "5f1a0c0b8e1d2a0001d00001")
    embedded = Api(sandbox_transport(SandboxConfig(db_path=db)))
    r = embedded.get(f"/v3.1/sections/{section}/assignments/{aid}/submissions/{student}")
    assert r.json()["data"]["state"] == "returned"
