"""The sandbox's access log: one JSON line per request, counted at the server."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx

from lmsctl.sandbox import DEMO_TOKEN, SandboxConfig, running_server
from lmsctl.sandbox.accesslog import read_access_log
from lmsctl.sandbox.config import FaultConfig

HEADERS = {"Authorization": f"Bearer {DEMO_TOKEN}"}
SECTION = "5f1a0c0b8e1d2a0001a00001"


def test_every_request_is_logged_with_its_status_and_no_token(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    config = SandboxConfig(rate_limit=3, access_log=log)
    with running_server(config) as base, httpx.Client(base_url=base + "/") as client:
        client.get("districts", headers=HEADERS)
        client.get(f"sections/{SECTION}/users", params={"role": "student"}, headers=HEADERS)
        client.get("districts")  # no token: 401
        client.get("districts", headers=HEADERS)
        client.get("districts", headers=HEADERS)  # the 4th with a token this minute: 429
        client.get(base.removesuffix("/v3.1") + "/_sandbox/faults")
    records, end = read_access_log(log)
    assert [(r["method"], r["path"], r["status"]) for r in records] == [
        ("GET", "/v3.1/districts", 200),
        ("GET", f"/v3.1/sections/{SECTION}/users", 200),  # (the query is not logged)
        ("GET", "/v3.1/districts", 401),
        ("GET", "/v3.1/districts", 200),
        ("GET", "/v3.1/districts", 429),
        ("GET", "/_sandbox/faults", 200),
    ]
    assert all(0 < r["arrived"] <= r["done"] for r in records)
    text = log.read_text()
    assert DEMO_TOKEN not in text and "role=" not in text
    assert end == len(log.read_bytes())
    assert read_access_log(log, end) == ([], end)  # read on from where the last read ended


def test_a_dropped_connection_is_logged_with_no_status(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    config = SandboxConfig(access_log=log, faults=FaultConfig(drop_before_rate=1.0))
    with running_server(config) as base, httpx.Client(base_url=base + "/") as client:
        try:
            client.get("districts", headers=HEADERS)
        except httpx.TransportError:
            pass
        else:  # pragma: no cover - the drop is the point of the test
            raise AssertionError("the connection was not dropped")
    records, _ = read_access_log(log)
    assert [(r["path"], r["status"]) for r in records] == [("/v3.1/districts", 0)]


def test_a_half_written_line_waits_for_the_next_read(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_text('{"method": "GET", "path": "/a", "status": 200}\n{"method": "G')
    records, end = read_access_log(log)
    assert [r["path"] for r in records] == ["/a"]
    with log.open("a") as f:
        f.write('ET", "path": "/b", "status": 404}\n')
    assert [r["path"] for r in read_access_log(log, end)[0]] == ["/b"]


def test_serve_refuses_a_log_it_cannot_write_in_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-folder" / "access.log"
    serve = ["sandbox", "serve", "--port", "0", "--access-log", str(missing)]
    done = subprocess.run(
        [sys.executable, "-m", "lmsctl", *serve],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "cannot write the access log" in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) <= 2  # the error and its hint
