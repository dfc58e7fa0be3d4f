"""What the benchmarks share: a served sandbox, a counting proxy in front of it, synthetic
manifests, a fast first apply to set a district up, and lmsctl run as a child process.

Requests are counted at the server side: every request lmsctl sends goes through
:class:`CountingProxy`, which notes when it arrived, its method, path and the status the
sandbox answered. The client's own counters are never used for a figure.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import math
import os
import pstats
import re
import resource
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import uvicorn
import yaml

from lmsctl.apply.executor import ApplyOptions, Executor
from lmsctl.client.lms import LmsClient
from lmsctl.render.apply import apply_summary
from lmsctl.sandbox import DEMO_TOKEN, SandboxConfig, sandbox_transport
from lmsctl.sandbox.accesslog import read_access_log
from lmsctl.sandbox.server import in_thread
from lmsctl.sandbox.store import Store
from lmsctl.state.local import LocalBackend
from lmsctl.state.model import ResourceRecord
from lmsctl.workspace import Workspace, WorkspaceOptions

HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


# -- the counting proxy ---------------------------------------------------------------------


@dataclasses.dataclass
class Seen:
    """One request as the server side saw it."""

    arrived: float  # time.time() when the request reached the proxy
    method: str
    path: str
    status: int = 0  # 0: no answer (the client went away first, or the upstream failed)
    done: float = 0.0


class CountingProxy:
    """An ASGI reverse proxy that records every request, optionally enforcing a rate window.

    ``window``/``limit`` set: the proxy answers 429 itself (with the sandbox's headers:
    X-RateLimit-Limit/-Remaining/-Reset and Retry-After) to a request beyond ``limit`` in the
    current fixed window of ``window`` seconds, counting refused requests as the sandbox does.
    Used only when the window is shortened (the sandbox's window is a fixed 60 s).
    """

    def __init__(self, upstream: str, window: float = 0.0, limit: int = 0) -> None:
        self.upstream = upstream.rstrip("/")
        self.window = window
        #: the sandbox clock less the machine's (``clock_offset``): the window is the sandbox's
        #: time, so its X-RateLimit-Reset and the sandbox's Date are one clock, as a server's are
        self.clock_offset = 0.0
        self.limit = limit
        self.seen: list[Seen] = []
        self.in_flight = 0
        self.most_in_flight = 0
        self._lock = threading.Lock()
        self._rate: tuple[int, int] = (0, 0)
        self._client: httpx.AsyncClient | None = None

    def mark(self) -> int:
        """An index into ``seen``: requests after it belong to what runs next."""
        with self._lock:
            return len(self.seen)

    def since(self, mark: int) -> list[Seen]:
        with self._lock:
            return list(self.seen[mark:])

    def reset_in_flight_peak(self) -> None:
        with self._lock:
            self.most_in_flight = self.in_flight

    def _take(self, arrived: float) -> tuple[bool, dict[str, str]]:
        now = arrived + self.clock_offset  # the sandbox's clock: its Date says the same time
        slot = math.floor(now / self.window)
        with self._lock:
            seen_slot, used = self._rate
            used = used + 1 if seen_slot == slot else 1
            self._rate = (slot, used)
        reset = (slot + 1) * self.window
        headers = {
            "x-ratelimit-limit": str(self.limit),
            "x-ratelimit-remaining": str(max(self.limit - used, 0)),
            "x-ratelimit-reset": str(math.ceil(reset)),
        }
        if used > self.limit:
            headers["retry-after"] = str(max(1, math.ceil(reset - now)))
            return False, headers
        return True, headers

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            msg = await receive()
            body += msg.get("body", b"")
            if not msg.get("more_body"):
                break
        path = scope["path"] + (
            f"?{scope['query_string'].decode()}" if scope["query_string"] else ""
        )
        record = Seen(time.time(), scope["method"], scope["path"])
        with self._lock:
            self.seen.append(record)
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await self._forward(scope, path, body, record, send)
        finally:
            record.done = time.time()
            with self._lock:
                self.in_flight -= 1

    async def _forward(self, scope: Any, path: str, body: bytes, record: Seen, send: Any) -> None:
        extra: dict[str, str] = {}
        if self.window and path.startswith(("/v3.0/", "/v3.1/")):
            allowed, extra = self._take(record.arrived)
            if not allowed:
                record.status = 429
                await _answer(
                    send,
                    429,
                    {"content-type": "application/json", **extra},
                    b'{"message":"Too Many Requests"}',
                )
                return
        if self._client is None:
            # keep-alive bounded: httpcore walks every connection, and every idle one again,
            # on each request; with a thousand slow writes in flight an unbounded pool took the
            # proxy's whole CPU and held other requests for up to a minute
            self._client = httpx.AsyncClient(
                timeout=None,
                limits=httpx.Limits(max_connections=None, max_keepalive_connections=64),
            )
        headers = [
            (k.decode(), v.decode())
            for k, v in scope["headers"]
            if k.decode().lower() not in HOP_HEADERS
        ]
        try:
            answer = await self._client.request(
                scope["method"], self.upstream + path, headers=headers, content=body
            )
        except httpx.HTTPError:
            await _answer(send, 502, {}, b"")
            return
        record.status = answer.status_code
        out = {k: v for k, v in answer.headers.items() if k.lower() not in HOP_HEADERS}
        if extra:  # the proxy's window is the limit in force: its headers replace the sandbox's
            out = {k: v for k, v in out.items() if not k.lower().startswith("x-ratelimit")}
            out.update(extra)
        with contextlib.suppress(Exception):  # the client may have gone (a timeout)
            await _answer(send, answer.status_code, out, answer.content)


async def _answer(send: Any, status: int, headers: dict[str, str], body: bytes) -> None:
    raw = [(k.encode(), v.encode()) for k, v in headers.items()]
    raw.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


class ServerLog:
    """The requests the served sandbox logged (``--access-log``): counted at the server with
    no proxy in between. A proxy on a 2-core machine is a third busy process: measured, it
    raised the 100k plan's own CPU by about 30% (cache and core contention), which a plan
    against a remote API never pays."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def mark(self) -> int:
        """Where the log ends now: requests after it belong to what runs next."""
        return self.path.stat().st_size if self.path.exists() else 0

    def since(self, mark: int) -> list[Seen]:
        if not self.path.exists():
            return []
        records, _ = read_access_log(self.path, mark)
        return [
            Seen(r["arrived"], r["method"], r["path"], status=r["status"], done=r["done"])
            for r in records
        ]


@contextlib.contextmanager
def proxy_running(proxy: CountingProxy, port: int) -> Iterator[str]:
    """Serve ``proxy`` on 127.0.0.1:``port`` in a thread; yields its /v3.1 base URL."""
    config = uvicorn.Config(
        proxy,
        host="127.0.0.1",
        port=port,
        lifespan="off",
        log_level="error",
        access_log=False,
        backlog=4096,
        # the upstream's own Date and Server are passed on: uvicorn's would make two of each
        date_header=False,
        server_header=False,
    )
    with in_thread(uvicorn.Server(config), "the counting proxy", name="bench-proxy"):
        yield f"http://127.0.0.1:{port}/v3.1"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


# -- the served sandbox ---------------------------------------------------------------------


@contextlib.contextmanager
def sandbox_served(
    db: Path,
    seed: Path,
    rate_limit: int,
    latency: str = "",
    port: int = 0,
    access_log: Path | None = None,
) -> Iterator[str]:
    """``lmsctl sandbox serve`` in a child process on ``port`` (0: a free one); yields its
    origin URL. With ``access_log``, the sandbox logs every request there (see
    :class:`ServerLog`)."""
    port = port or free_port()
    cmd = [
        sys.executable,
        "-m",
        "lmsctl",
        "sandbox",
        "serve",
        "--port",
        str(port),
        "--db",
        str(db),
        "--seed",
        str(seed),
        "--rate-limit",
        str(rate_limit),
    ]
    if latency:
        cmd += ["--latency", latency]
    if access_log is not None:
        cmd += ["--access-log", str(access_log)]
    child = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    origin = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 600  # a big seed takes a while to read
        while True:
            if child.poll() is not None:
                raise RuntimeError(f"the sandbox did not start: {child.stderr.read().decode()}")  # type: ignore[union-attr]
            with contextlib.suppress(httpx.HTTPError):
                httpx.get(origin + "/_sandbox/faults", timeout=2).raise_for_status()
                break
            if time.monotonic() > deadline:
                raise RuntimeError("the sandbox did not answer within 600 s")
            time.sleep(0.2)
        yield origin
    finally:
        child.terminate()
        try:
            child.wait(timeout=15)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def clock_offset(origin: str) -> float:
    """Seconds the sandbox clock is ahead of the machine's (GET /_sandbox/clock)."""
    answer = httpx.get(origin + "/_sandbox/clock", timeout=10)
    answer.raise_for_status()
    return float(answer.json()["offset_seconds"])


def set_faults(origin: str, faults: dict[str, Any]) -> None:
    """PUT /_sandbox/faults straight to the sandbox (not through the proxy: never counted)."""
    httpx.put(origin + "/_sandbox/faults", json=faults, timeout=10).raise_for_status()


# -- a district ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Shape:
    sections: int
    roster: int  # students enrolled per section
    graded: int  # students graded per assignment (the first ``graded`` of the roster)
    assignments: int  # per section

    @property
    def grades(self) -> int:
        return self.sections * self.graded * self.assignments


def write_manifests(
    root: Path, seed: dict[str, Any], shape: Shape, value: int, changed: int | None = None
) -> int:
    """One manifest per section; every grade is ``(value + i + k) % 10`` ...

    ... for the first ``changed`` grades (all when None) and ``(i + k) % 10`` (value 0) for the
    rest, so a later call with another ``value`` changes exactly ``changed`` grades.
    Returns how many grades the manifests hold.
    """
    (root / "lmsctl.yaml").write_text("timezone: UTC\n")
    count = 0
    for n, section in enumerate(seed["districts"][0]["sections"][: shape.sections]):
        items = {}
        for i in range(shape.assignments):
            grades = {}
            for k, student in enumerate(section["students"][: shape.graded]):
                bump = value if changed is None or count < changed else 0
                grades[student["id"]] = {"grade_points": (bump + i + k) % 10}
                count += 1
            items[f"a-{i + 1:03d}"] = {
                "title": f"Assignment {i + 1}",
                "description": "bench",
                "due_date": "2027-05-01",
                "points_possible": 10,
                "assignee_mode": "all",
                "grades": grades,
            }
        doc = {"section": section["id"], "assignments": items}
        (root / f"s{n:03d}.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    return count


def first_apply(root: Path, db: Path, seed: Path, api_url: str, parallelism: int = 50) -> str:
    """Create everything in the manifests quickly, in-process, with no limit and no latency.

    The sandbox is embedded (same database the served one opens later) but the client is
    bound to ``api_url``, so the state it writes belongs to the proxy's URL that the measured
    runs use. Returns the apply's summary.
    """
    config = SandboxConfig(db_path=db, seed_path=seed, rate_limit=0)

    async def run() -> str:
        ws = Workspace.open(WorkspaceOptions(root=root, api_url=api_url, rate_limit=1_000_000))
        ws._client = LmsClient(
            api_url, DEMO_TOKEN, transport=sandbox_transport(config), rate_limit=1_000_000
        )
        with ws:
            plan, _, snapshot = await ws.make_plan()
            result = await Executor(
                plan, ws.client(), ws.backend, snapshot, ApplyOptions(parallelism=parallelism)
            ).run()
            await ws.aclose()
        if not result.ok:
            raise RuntimeError(f"setup apply failed: {apply_summary(result)}")
        return apply_summary(result)

    return asyncio.run(run())


def cloned_district(
    root: Path, db: Path, seed_path: Path, seed: dict[str, Any], shape: Shape, api_url: str
) -> str:
    """Set a district up fast: a real first apply of section 1, then copies of it.

    lmsctl applies section 1's manifest (through :func:`first_apply`); its assignments and
    submissions are then copied in the sandbox's database to every other section (new ids,
    that section's students in the same order), and its state records likewise, so the state
    and the sandbox agree as if lmsctl had applied every section. The plan that follows checks
    it: no changes. Returns a summary.
    """
    one = root.parent / (root.name + "-section-1")
    one.mkdir()
    (one / "lmsctl.yaml").write_text((root / "lmsctl.yaml").read_text())
    first = sorted(root.glob("s*.yaml"))[0]
    (one / first.name).write_text(first.read_text())
    summary = first_apply(one, db, seed_path, api_url)
    snapshot = LocalBackend(one / ".lmsctl" / "state.json").read()
    records = list(snapshot.resources.values())
    sections = seed["districts"][0]["sections"]
    store = Store(db)
    try:
        for target in sections[1 : shape.sections]:
            ids = {sections[0]["id"]: target["id"]}
            for old, new in zip(sections[0]["students"], target["students"], strict=True):
                ids[old["id"]] = new["id"]
            for record in records:
                assert record.assignment_id is not None
                ids[record.assignment_id] = str(uuid.uuid4())
                found = store.get_assignment(record.assignment_id)
                assert found is not None
                subs, _ = store.submission_page(record.assignment_id, None, 100_000)
                for sub in subs:
                    ids[sub["id"]] = str(uuid.uuid4())
                store.insert_assignment(
                    target["id"],
                    _renamed(found[1], ids),
                    {ids[sub["user_id"]]: _renamed(sub, ids) for sub in subs},
                )
                copy = ResourceRecord.from_dict(_renamed(record.to_dict(), ids))
                snapshot.resources[copy.address] = copy
    finally:
        store.close()
    LocalBackend(root / ".lmsctl" / "state.json").write(snapshot)
    return f"section 1 by lmsctl ({summary}), copied to {shape.sections - 1} more"


_ID = re.compile(r'"([0-9a-f]{24}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})"')


def _renamed(data: dict[str, Any], ids: dict[str, str]) -> dict[str, Any]:
    text = _ID.sub(lambda m: '"' + ids.get(m[1], m[1]) + '"', json.dumps(data))
    out: dict[str, Any] = json.loads(text)
    return out


# -- lmsctl as a child process --------------------------------------------------------------


@dataclasses.dataclass
class ChildRun:
    returncode: int
    cpu: float  # user + system seconds of the lmsctl process
    peak_mb: float  # its RSS high-water mark
    wall: float
    stderr_tail: str
    stopped: bool = False  # SIGINT sent
    killed: bool = False  # SIGKILL sent (SIGINT's grace ran out)


def lmsctl_command(
    args: list[str], patch_window: float = 0.0, profile: Path | None = None
) -> list[str]:
    """``python -m lmsctl ARGS``; with ``patch_window`` the client limiter's window is set to
    that many seconds first (for a shortened window, matched on both sides); with ``profile``
    it runs under cProfile timing CPU (process_time, not wall time) and saves the stats there.
    """
    if profile is not None:
        code = (
            "import cProfile, sys, time; from lmsctl.cli import main; "
            "sys.argv = ['lmsctl', *sys.argv[1:]]; p = cProfile.Profile(time.process_time)\n"
            "try:\n    p.runcall(main)\n"
            f"finally:\n    p.dump_stats({str(profile)!r})"
        )
        return [sys.executable, "-c", code, *args]
    if not patch_window:
        return [sys.executable, "-m", "lmsctl", *args]
    code = (
        "import sys, lmsctl.client.ratelimit as r; "
        f"r.WINDOW = {patch_window!r}; "
        "from lmsctl.cli import main; sys.argv = ['lmsctl', *sys.argv[1:]]; main()"
    )
    return [sys.executable, "-c", code, *args]


def env_for_lmsctl() -> dict[str, str]:
    env = dict(os.environ, CLEVER_TOKEN=DEMO_TOKEN, NO_COLOR="1")
    for name in ("LMSCTL_SANDBOX", "LMSCTL_API_URL", "CI"):
        env.pop(name, None)
    return env


def run_child(
    cmd: list[str],
    *,
    stop_when: Callable[[], bool] | None = None,
    grace: float = 0.0,
    stdout: Any = subprocess.DEVNULL,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
) -> ChildRun:
    """Run ``cmd``; send SIGINT once ``stop_when()`` is true, SIGKILL ``grace`` s after that.
    ``env`` is added to :func:`env_for_lmsctl`'s (this process's own stays as it is).

    CPU and peak RSS come from the kernel's accounting of that child (wait4's rusage).
    """
    t0 = time.perf_counter()
    child = subprocess.Popen(
        cmd, stdout=stdout, stderr=subprocess.PIPE, env={**env_for_lmsctl(), **(env or {})}, cwd=cwd
    )
    err: list[bytes] = []
    reader = threading.Thread(target=lambda: err.append(child.stderr.read()), daemon=True)  # type: ignore[union-attr]
    reader.start()
    signalled = 0.0
    killed = False
    while True:
        pid, status, usage = os.wait4(child.pid, os.WNOHANG)
        if pid:
            break
        if stop_when is not None and not signalled and stop_when():
            child.send_signal(signal.SIGINT)
            signalled = time.perf_counter()
        if signalled and not killed and time.perf_counter() >= signalled + grace:
            child.kill()
            killed = True
        time.sleep(0.05)
    child.returncode = os.waitstatus_to_exitcode(status)
    reader.join(timeout=5)
    tail = b"".join(err).decode(errors="replace").strip().splitlines()[-3:]
    return ChildRun(
        child.returncode,
        usage.ru_utime + usage.ru_stime,
        usage.ru_maxrss / 1024,
        time.perf_counter() - t0,
        " | ".join(tail),
        bool(signalled),
        killed,
    )


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} CPUs"


def own_peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def parse_size(text: str) -> int:
    """A size as written on the command line: 1000, 10k, 2.5k."""
    text = text.strip().lower()
    return int(float(text[:-1]) * 1000) if text.endswith("k") else int(text)


def phase_split(
    profile: Path, phases: dict[str, tuple[str, str]]
) -> tuple[dict[str, float], float]:
    """Cumulative seconds of each phase's function in a cProfile file (``phases``: name ->
    (file suffix, function)), and the profile's total."""
    stats = pstats.Stats(str(profile))
    found: dict[str, float] = {}
    table = stats.stats  # type: ignore[attr-defined]
    for name, (suffix, func) in phases.items():
        for (file, _line, fname), (_cc, _nc, _tt, ct, _callers) in table.items():
            if fname == func and file.replace("\\", "/").endswith(suffix):
                found[name] = found.get(name, 0.0) + ct
    total: float = stats.total_tt  # type: ignore[attr-defined]
    missing = [f"{suffix}:{func}" for name, (suffix, func) in phases.items() if name not in found]
    if missing:
        print(f"    phase functions not found in the profile (renamed?): {', '.join(missing)}")
    return found, total


#: lmsctl in a child that times named functions with the process's CPU clock (see
#: phase_timed_command); PHASES and REPORT are filled in
_PHASE_CHILD = """\
import atexit, importlib, inspect, json, sys, time
spent = {}
first = []
peak_at = {}
def _hwm():
    with open('/proc/self/status') as status:
        return int(next(l.split()[1] for l in status if l.startswith('VmHWM:')))
def _timed(label, f):
    if inspect.iscoroutinefunction(f):
        async def timed(*args, **kwargs):
            if not first:
                first.append(time.process_time())
            peak_at.setdefault(label, _hwm())
            t = time.process_time()
            try:
                return await f(*args, **kwargs)
            finally:
                spent[label] = spent.get(label, 0.0) + time.process_time() - t
    else:
        def timed(*args, **kwargs):
            if not first:
                first.append(time.process_time())
            peak_at.setdefault(label, _hwm())
            t = time.process_time()
            try:
                return f(*args, **kwargs)
            finally:
                spent[label] = spent.get(label, 0.0) + time.process_time() - t
    return timed
for label, (module, path) in PHASES.items():
    owner = importlib.import_module(module)
    *parents, name = path.split('.')
    for part in parents:
        owner = getattr(owner, part)
    setattr(owner, name, _timed(label, getattr(owner, name)))
def _report():
    with open(REPORT, 'w') as out:
        json.dump({'phases': spent, 'start': first[0] if first else 0.0,
                   'total': time.process_time(), 'peak_kb': _hwm(), 'peak_at_kb': peak_at}, out)
atexit.register(_report)
from lmsctl.cli import main
sys.argv = ['lmsctl', *sys.argv[1:]]
main()
"""


@dataclasses.dataclass
class PhaseTimes:
    """CPU seconds of each timed phase, of the start-up before the first, and in all; the
    process's own peak RSS (VmHWM, MB: see :func:`phase_timed_command` for why not wait4's),
    and its peak when each phase first began."""

    phases: dict[str, float]
    start: float
    total: float
    peak_mb: float
    peak_at_mb: dict[str, float] = dataclasses.field(default_factory=dict)

    @property
    def other(self) -> float:
        return max(0.0, self.total - self.start - sum(self.phases.values()))


def phase_timed_command(
    args: list[str], report: Path, phases: dict[str, tuple[str, str]]
) -> list[str]:
    """``python -m lmsctl ARGS`` that times each phase's function with the process's own CPU
    clock (``phases``: label -> (module, attribute path), e.g. ``("lmsctl.workspace",
    "Workspace.read_state")``; a coroutine function is timed from its start to its end, right
    for a phase during which nothing else runs) and writes the times to ``report`` (JSON) when
    it exits, with its own peak RSS (VmHWM) at exit and when each phase first began. Unlike
    cProfile, it slows nothing down: the figures are the real ones.

    ``ChildRun.peak_mb`` (wait4's ru_maxrss) is never less than this process's own peak when
    it started the child: Linux carries the high-water mark of the memory a child is forked (or
    vforked) from into the child's ru_maxrss across exec. A benchmark that holds hundreds of MB
    itself (a district set up in-process, a JSON plan parsed to check it) so raises every
    child's figure to its own. VmHWM is the high-water mark of the exec'd program's memory only.
    """
    code = _PHASE_CHILD.replace("PHASES", repr(phases)).replace("REPORT", repr(str(report)))
    return [sys.executable, "-c", code, *args]


def median_phase_times(runs: list[PhaseTimes]) -> PhaseTimes:
    """Each time the median of the runs' (a phase a run did not time counts as 0 s in it),
    each peak the most of any run."""
    names = sorted({name for run in runs for name in run.phases})
    marks = sorted({name for run in runs for name in run.peak_at_mb})
    return PhaseTimes(
        {name: statistics.median(run.phases.get(name, 0.0) for run in runs) for name in names},
        statistics.median(run.start for run in runs),
        statistics.median(run.total for run in runs),
        max(run.peak_mb for run in runs),
        {name: max(run.peak_at_mb.get(name, 0.0) for run in runs) for name in marks},
    )


def read_phase_times(report: Path) -> PhaseTimes:
    data = json.loads(report.read_text())
    return PhaseTimes(
        dict(data["phases"]),
        float(data["start"]),
        float(data["total"]),
        int(data["peak_kb"]) / 1024,
        {label: int(kb) / 1024 for label, kb in data.get("peak_at_kb", {}).items()},
    )
