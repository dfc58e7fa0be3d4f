"""Many machines, one state: fresh clones that share only a PostgreSQL database and a served
sandbox, as CI runners do. Each clone runs the real ``lmsctl`` in a process of its own."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from lmsctl.sandbox import DEMO_TOKEN, SandboxConfig, running_server
from lmsctl.sandbox.config import FaultConfig
from lmsctl.state.recovery import load as load_recovery
from tests.support.coursework import copy_with_postgres_state
from tests.support.e2e import CliResult

SECTIONS = [f"5f1a0c0b8e1d2a0001a0000{n}" for n in range(1, 5)]
ALGEBRA_FILE = "lincoln-high/algebra-1-period-2.yaml"
GRADE_LINE = "5f1a0c0b8e1d2a0001b00002: {grade_points: 8.5, state: returned}"


class Clone:
    """A fresh checkout of examples/coursework on its own 'runner', using postgres state."""

    def __init__(self, folder: Path, url: str, dsn: str, schema: str) -> None:
        copy_with_postgres_state(folder, schema)
        self.root = folder
        self.url = url
        self.env = {
            **os.environ,
            "CLEVER_TOKEN": DEMO_TOKEN,
            "LMSCTL_PG_DSN": dsn,
            "NO_COLOR": "1",
        }
        for name in ("LMSCTL_SANDBOX", "LMSCTL_API_URL", "GITHUB_RUN_ID"):
            self.env.pop(name, None)

    def argv(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "lmsctl", "--api-url", self.url, *args]

    def run(self, *args: str, timeout: float = 120) -> CliResult:
        p = subprocess.run(
            self.argv(*args),
            cwd=self.root,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
        return CliResult(p.returncode, p.stdout, p.stderr)

    def start(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            self.argv(*args),
            cwd=self.root,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            stdin=subprocess.DEVNULL,
        )


class Sandbox:
    def __init__(self, url: str) -> None:
        self.url = url
        self.base = url.rsplit("/v3.1", 1)[0]

    def titles(self) -> Counter[tuple[str, str]]:
        seen: Counter[tuple[str, str]] = Counter()
        with httpx.Client(base_url=self.base, timeout=30) as client:
            for section in SECTIONS:
                r = client.get(
                    f"/_sandbox/sections/{section}/assignments",
                    headers={"Authorization": f"Bearer {DEMO_TOKEN}"},
                )
                r.raise_for_status()
                for a in r.json()["data"]:
                    seen[(section, a["title"])] += 1
        return seen

    def assert_no_duplicates(self, expected: int = 11) -> None:
        titles = self.titles()
        dupes = {k: n for k, n in titles.items() if n > 1}
        assert dupes == {}, f"duplicate assignments: {dupes}"
        assert sum(titles.values()) == expected


def _serve(tmp: Path, patch_latency: float = 0.0) -> Iterator[str]:
    faults = FaultConfig(latency={"PATCH": (patch_latency, patch_latency)} if patch_latency else {})
    with running_server(SandboxConfig(db_path=tmp / "sandbox.db", faults=faults)) as url:
        yield url


@pytest.fixture
def world(tmp_path: Path, pg_dsn: str, pg_schema: str) -> Iterator[tuple[Sandbox, Clone, Clone]]:
    for url in _serve(tmp_path):
        a = Clone(tmp_path / "runner-a" / "coursework", url, pg_dsn, pg_schema)
        b = Clone(tmp_path / "runner-b" / "coursework", url, pg_dsn, pg_schema)
        yield Sandbox(url), a, b


@pytest.fixture
def slow_world(
    tmp_path: Path, pg_dsn: str, pg_schema: str
) -> Iterator[tuple[Sandbox, Clone, Clone]]:
    """Each grade write takes 0.25 s: an apply is long enough to interfere with."""
    for url in _serve(tmp_path, patch_latency=0.25):
        a = Clone(tmp_path / "runner-a" / "coursework", url, pg_dsn, pg_schema)
        b = Clone(tmp_path / "runner-b" / "coursework", url, pg_dsn, pg_schema)
        yield Sandbox(url), a, b


def _grades_saved(dsn: str, schema: str) -> int:
    with psycopg.connect(dsn) as conn:
        try:
            row = conn.execute(
                f"SELECT coalesce(sum((SELECT count(*) FROM jsonb_object_keys(record->'grades'))),"
                f' 0) FROM "{schema}".resources'
            ).fetchone()
        except psycopg.errors.UndefinedTable:
            return 0
    return int(row[0]) if row else 0


def _grade_count(records: Mapping[str, Any]) -> int:
    return sum(len(r.get("grades") or {}) for r in records.values() if isinstance(r, dict))


def _records(dsn: str, schema: str, addresses: list[str]) -> dict[str, object]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            f'SELECT address, record FROM "{schema}".resources WHERE address = ANY(%s)',
            [addresses],
        ).fetchall()
    return dict(rows)


def _wait_for_grades(dsn: str, schema: str, at_least: int, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60
    while _grades_saved(dsn, schema) < at_least:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the apply saved no grades"
        time.sleep(0.05)


@pytest.mark.slow
def test_two_fresh_clones_share_state_through_postgres(
    world: tuple[Sandbox, Clone, Clone],
) -> None:
    sandbox, a, b = world
    applied = a.run("apply", "--auto-approve")
    assert applied.code == 0, applied.text
    assert "11 created" in applied.out and "23 grades set" in applied.out

    planned = b.run("plan", "--detailed-exitcode")  # B never ran before
    assert planned.code == 0, planned.text
    assert "No changes" in planned.out

    manifest = b.root / ALGEBRA_FILE
    text = manifest.read_text()
    assert GRADE_LINE in text
    manifest.write_text(text.replace(GRADE_LINE, GRADE_LINE.replace("8.5", "9.5")))
    changed = b.run("apply", "--auto-approve")
    assert changed.code == 0, changed.text
    assert "0 created" in changed.out and "1 grades set" in changed.out

    (a.root / ALGEBRA_FILE).write_text(manifest.read_text())  # A pulls the merged change
    again = a.run("plan", "--detailed-exitcode")
    assert again.code == 0, again.text
    assert "No changes" in again.out
    sandbox.assert_no_duplicates()


@pytest.mark.slow
def test_two_applies_at_once_one_writes_the_other_is_refused_or_waits(
    slow_world: tuple[Sandbox, Clone, Clone],
) -> None:
    sandbox, a, b = slow_world
    first = a.start("apply", "--auto-approve", "--parallelism", "1")
    try:
        _wait_for_grades_started(first, a)
        refused = b.run("apply", "--auto-approve")
        assert refused.code == 1, refused.text
        user_host = f"@{socket.gethostname()}"
        assert "state is locked by" in refused.err and user_host in refused.err
        assert "`lmsctl apply`" in refused.err and f"pid {first.pid}" in refused.err

        waited = b.run("apply", "--auto-approve", "--lock-timeout", "120")
        out, err = first.communicate(timeout=120)
    finally:
        first.kill()
    assert first.returncode == 0, out + err
    assert "11 created" in out
    assert waited.code == 0, waited.text
    assert "No changes" in waited.out  # it waited, then found the work done: nothing twice
    sandbox.assert_no_duplicates()


def _wait_for_grades_started(proc: subprocess.Popen[str], clone: Clone) -> None:
    dsn, schema = clone.env["LMSCTL_PG_DSN"], _schema_of(clone)
    _wait_for_grades(dsn, schema, 1, proc)


def _schema_of(clone: Clone) -> str:
    for line in (clone.root / "lmsctl.yaml").read_text().splitlines():
        if line.strip().startswith("schema:"):
            return line.split(":", 1)[1].strip()
    raise AssertionError("no schema in lmsctl.yaml")


@pytest.mark.slow
def test_a_killed_holder_does_not_block_the_next_apply(
    slow_world: tuple[Sandbox, Clone, Clone], pg_dsn: str, pg_schema: str
) -> None:
    sandbox, a, b = slow_world
    first = a.start("apply", "--auto-approve", "--parallelism", "1")
    try:
        _wait_for_grades(pg_dsn, pg_schema, 3, first)
        first.send_signal(signal.SIGKILL)  # the runner dies mid-apply
        first.wait(10)
    finally:
        first.kill()
        first.communicate()  # waits, and closes its pipes
    started = time.monotonic()
    rerun = b.run("apply", "--auto-approve")  # no force-unlock, no lock timeout
    assert time.monotonic() - started < 60
    assert rerun.code == 0, rerun.text
    assert "took over a stale state lock" in rerun.err
    assert "0 created" in rerun.out
    final = b.run("plan", "--detailed-exitcode")
    assert final.code == 0, final.text
    sandbox.assert_no_duplicates()
    assert _grades_saved(pg_dsn, pg_schema) == 23  # no grade lost


class Proxy:
    """A TCP forwarder to the database that can be cut (the database 'stops') and restored."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = 0
        self._conns: list[socket.socket] = []
        self._listener: socket.socket | None = None
        self.start()

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        deadline = time.monotonic() + 10
        while True:
            try:
                listener.bind(("127.0.0.1", self.port))
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        listener.listen(64)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            self._conns += [client, upstream]
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        if self._listener is not None:
            with contextlib.suppress(OSError):  # shutdown wakes the thread in accept()
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
            self._listener = None
        for s in self._conns:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()
        self._conns = []


@pytest.mark.slow
def test_database_lost_mid_apply_keeps_a_recovery_file_that_push_stores(
    slow_world: tuple[Sandbox, Clone, Clone], pg_dsn: str, pg_schema: str
) -> None:
    sandbox, a, _b = slow_world
    params = psycopg.conninfo.conninfo_to_dict(pg_dsn)
    proxy = Proxy((str(params.get("host") or "127.0.0.1"), int(params.get("port") or 5432)))
    params.update(host="127.0.0.1", port=str(proxy.port))
    a.env["LMSCTL_PG_DSN"] = psycopg.conninfo.make_conninfo(**params)
    try:
        proc = a.start("apply", "--auto-approve", "--parallelism", "2")
        _wait_for_grades(pg_dsn, pg_schema, 4, proc)
        proxy.cut()  # the database goes away in the middle of the grades
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 1, out + err
        files = sorted((a.root / ".lmsctl").glob("recovery-*.json"))
        assert len(files) == 1, err
        rel = f".lmsctl/{files[0].name}"
        assert f"lmsctl state push {rel}" in err
        assert "lost the state database on 127.0.0.1" in err and "Traceback" not in err
        assert stat.S_IMODE(files[0].stat().st_mode) == 0o600
        saved_before = _grades_saved(pg_dsn, pg_schema)

        proxy.start()  # the database is back (same address)
        blocked = a.run("apply", "--auto-approve")
        assert blocked.code == 1 and f"lmsctl state push {rel}" in blocked.err
        kept = load_recovery(files[0]).resources
        assert kept  # the run kept what it could not save
        stored = _records(pg_dsn, pg_schema, list(kept))
        pushed = a.run("state", "push", rel)
        assert pushed.code == 0, pushed.text
        assert not files[0].exists()
        assert _records(pg_dsn, pg_schema, list(kept)) == kept  # acknowledged, now stored
        # and nothing else moved: the grades saved grew by exactly those the file added (none
        # when the cut lost a grade's intent, or came between a save's commit and its answer,
        # so that the database held that save already)
        added = _grade_count(kept) - _grade_count(stored)
        assert _grades_saved(pg_dsn, pg_schema) == saved_before + added

        rerun = a.run("apply", "--auto-approve")
        assert rerun.code == 0, rerun.text
        assert "0 created" in rerun.out or "No changes" in rerun.out
        final = a.run("plan", "--detailed-exitcode")
        assert final.code == 0, final.text
    finally:
        proxy.cut()
    sandbox.assert_no_duplicates()
    assert _grades_saved(pg_dsn, pg_schema) == 23


@pytest.mark.slow
def test_two_applies_started_at_the_same_moment_exactly_one_writes(
    slow_world: tuple[Sandbox, Clone, Clone],
) -> None:
    sandbox, a, b = slow_world
    procs = [c.start("apply", "--auto-approve", "--parallelism", "1") for c in (a, b)]
    results = [(p, *p.communicate(timeout=180)) for p in procs]
    codes = sorted(p.returncode for p, _out, _err in results)
    assert codes == [0, 1], [(p.returncode, out, err) for p, out, err in results]
    winner = next(r for r in results if r[0].returncode == 0)
    loser = next(r for r in results if r[0].returncode == 1)
    assert "11 created" in winner[1] and "23 grades set" in winner[1]
    assert "state is locked by" in loser[2] and f"pid {winner[0].pid}" in loser[2]
    assert "`lmsctl apply`" in loser[2] and f"@{socket.gethostname()}" in loser[2]
    assert "created" not in loser[1]  # the loser made no call at all
    sandbox.assert_no_duplicates()
