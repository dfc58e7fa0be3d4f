"""The local JSON backend: atomic writes, permissions, backup, corrupt files, and the lock."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from lmsctl.errors import StateError, StateLockedError
from lmsctl.model import ProjectConfig, StateConfig
from lmsctl.state import LocalBackend, MemoryBackend, locked, open_backend, state_path
from lmsctl.state.backend import LockInfo, StateBackend
from lmsctl.state.model import StateSnapshot
from tests.support.factories import SECTION, STUDENT, make_record, make_snapshot


@pytest.fixture
def backend(tmp_path: Path) -> LocalBackend:
    return LocalBackend(tmp_path / ".lmsctl" / "state.json")


def test_no_file_reads_as_empty_state(backend: LocalBackend) -> None:
    snapshot = backend.read()
    assert snapshot.serial == 0 and snapshot.resources == {}
    assert not backend.path.exists()


def test_write_bumps_serial_and_reads_back(backend: LocalBackend) -> None:
    snapshot = make_snapshot(make_record())
    backend.write(snapshot)
    assert snapshot.serial == 1
    backend.write(snapshot)
    assert snapshot.serial == 2
    again = backend.read()
    assert again == snapshot


def test_file_is_sorted_indented_json_without_secrets(backend: LocalBackend) -> None:
    backend.write(make_snapshot(make_record()))
    text = backend.path.read_text()
    assert text.startswith("{\n")
    data = json.loads(text)
    assert list(data) == sorted(data)
    assert "token" not in text.lower() and "bearer" not in text.lower()


def test_a_changed_grade_changes_one_line_of_the_file(backend: LocalBackend) -> None:
    snapshot = make_snapshot(make_record("hw-01"), make_record("hw-02"), make_record("hw-03"))
    backend.write(snapshot)
    before = backend.path.read_text().splitlines()
    snapshot.resources[f"{SECTION}/hw-02"].grades[STUDENT]["grade_points"] = 3
    backend.write(snapshot)
    after = backend.path.read_text().splitlines()
    changed = [(a, b) for a, b in zip(before, after, strict=True) if a != b]
    assert len(changed) == 2  # the resource's line, and the serial
    assert f"{SECTION}/hw-02" in changed[0][1] and '"grade_points": 3' in changed[0][1]
    assert backend.read() == snapshot


def test_file_is_0600_and_new_folder_0700(backend: LocalBackend) -> None:
    backend.write(make_snapshot(make_record()))
    assert stat.S_IMODE(backend.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(backend.path.parent.stat().st_mode) == 0o700
    backend.write(backend.read())
    assert stat.S_IMODE(backend.backup_path.stat().st_mode) == 0o600


def test_previous_version_is_kept_as_backup(backend: LocalBackend) -> None:
    snapshot = make_snapshot(make_record())
    backend.write(snapshot)
    assert not backend.backup_path.exists()
    snapshot.resources.clear()
    backend.write(snapshot)
    previous = json.loads(backend.backup_path.read_text())
    assert previous["serial"] == 1 and f"{SECTION}/hw-01" in previous["resources"]
    assert json.loads(backend.path.read_text())["resources"] == {}


def test_crash_between_temp_write_and_replace_leaves_old_state(
    backend: LocalBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    snapshot = make_snapshot(make_record())
    backend.write(snapshot)
    before = backend.path.read_bytes()

    def crash(src: object, dst: object) -> None:
        if str(dst) == str(backend.path):
            raise OSError(5, "Input/output error")
        os.rename(str(src), str(dst))

    monkeypatch.setattr(os, "replace", crash)
    snapshot.resources.clear()
    with pytest.raises(StateError, match="previous state is unchanged"):
        backend.write(snapshot)
    monkeypatch.undo()
    assert backend.path.read_bytes() == before
    assert snapshot.serial == 1  # not bumped by the failed write
    assert [p.name for p in backend.path.parent.iterdir() if p.name.endswith(".tmp")] == []


_WRITER = """
import sys
from pathlib import Path
from lmsctl.state.local import LocalBackend
from lmsctl.state.model import ResourceRecord, ResourceStatus
backend = LocalBackend(Path(sys.argv[1]))
snapshot = backend.read()
i = 0
while True:
    i += 1
    key = f"a{i % 500}"
    snapshot.resources[f"{sys.argv[2]}/{key}"] = ResourceRecord(
        sys.argv[2], key, "id", ResourceStatus.CREATED, {"title": "x" * 200, "n": i},
        {f"s{j}": {"grade_points": i} for j in range(30)})
    backend.write(snapshot)
    if i == 1:  # (killed only after one whole write, however slow the machine)
        print("ready", flush=True)
"""


def test_sigkill_during_writes_always_leaves_a_whole_state(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    for delay in (0.15, 0.3, 0.45):
        proc = subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(path), SECTION], stdout=subprocess.PIPE
        )
        assert proc.stdout is not None and proc.stdout.readline().strip() == b"ready"
        time.sleep(delay)
        proc.kill()
        proc.communicate()  # waits, and closes its stdout
        snapshot = LocalBackend(path).read()  # parses: never a torn file
        assert snapshot.serial >= 1
        assert len(snapshot.resources) >= 1


def test_corrupt_file_names_the_file_and_the_backup(
    backend: LocalBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(backend.path.parent.parent)
    snapshot = make_snapshot(make_record())
    backend.write(snapshot)
    backend.write(snapshot)
    backend.path.write_text('{"format_version": 1, "lineage": ')
    with pytest.raises(StateError) as info:
        backend.read()
    text = str(info.value)
    assert ".lmsctl/state.json is corrupt" in text
    assert ".lmsctl/state.json.backup" in text


def test_invalid_content_is_refused_with_the_reason(backend: LocalBackend) -> None:
    backend.path.parent.mkdir(parents=True)
    backend.path.write_text(json.dumps({"format_version": 1, "lineage": "x", "serial": "two"}))
    with pytest.raises(StateError, match="is not valid: state: 'serial' must be a whole number"):
        backend.read()


def test_missing_file_with_a_backup_is_not_read_as_empty(backend: LocalBackend) -> None:
    snapshot = make_snapshot(make_record())
    backend.write(snapshot)
    backend.write(snapshot)
    backend.path.unlink()
    with pytest.raises(StateError, match="missing but its backup"):
        backend.read()


def test_write_refuses_state_another_run_moved_on(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    first, second = LocalBackend(path), LocalBackend(path)
    first.write(make_snapshot(make_record()))
    mine = first.read()
    theirs = second.read()
    second.write(theirs)  # another run wrote meanwhile
    with pytest.raises(StateError, match="changed by another run"):
        first.write(mine)
    fresh = StateSnapshot.empty()  # a state made from nothing while one exists
    with pytest.raises(StateError, match="another state"):
        LocalBackend(path).write(fresh)


@pytest.mark.parametrize("kind", ["local", "memory"])
def test_second_lock_fails_at_once_naming_the_holder(tmp_path: Path, kind: str) -> None:
    b: StateBackend = LocalBackend(tmp_path / "s.json") if kind == "local" else MemoryBackend()
    held = b.lock("lmsctl apply")
    started = time.monotonic()
    with pytest.raises(StateLockedError) as info:
        b.lock("lmsctl plan")
    assert time.monotonic() - started < 0.5
    text = str(info.value)
    assert f"{held.user}@{held.host}" in text and f"pid {os.getpid()}" in text
    assert "`lmsctl apply`" in text and f"lmsctl force-unlock {held.id}" in text
    b.unlock(held.id)
    assert b.current_lock() is None
    b.unlock(held.id)  # already gone: fine
    b.unlock(b.lock("again").id)


def test_lock_file_holds_the_lock_info(backend: LocalBackend) -> None:
    held = backend.lock("lmsctl apply")
    data = json.loads(backend.lock_path.read_text())
    assert LockInfo.from_dict(data) == held
    assert stat.S_IMODE(backend.lock_path.stat().st_mode) == 0o600
    assert backend.current_lock() == held


def test_lock_waits_up_to_the_timeout(backend: LocalBackend) -> None:
    held = backend.lock("lmsctl apply")
    started = time.monotonic()
    with pytest.raises(StateLockedError, match=r"waited 0.3 s"):
        backend.lock("lmsctl plan", timeout=0.3)
    assert 0.3 <= time.monotonic() - started < 1.5
    timer = threading.Timer(0.2, backend.unlock, args=(held.id,))
    timer.start()
    got = backend.lock("lmsctl plan", timeout=5)
    timer.join()
    assert got.command == "lmsctl plan"
    assert backend.current_lock() == got


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@pytest.mark.parametrize("kind", ["local", "memory"])
def test_lock_of_a_dead_process_on_this_host_is_taken_over(tmp_path: Path, kind: str) -> None:
    b: StateBackend
    stale = LockInfo.new("lmsctl apply")
    stale = LockInfo(stale.id, stale.user, stale.host, _dead_pid(), stale.command, stale.created)
    if kind == "local":
        local = LocalBackend(tmp_path / "s.json")
        local.lock_path.write_text(json.dumps(stale.to_dict()))
        b = local
    else:
        memory = MemoryBackend()
        memory.set_lock(stale)
        b = memory
    got = b.lock("lmsctl plan")
    assert got.replaced == stale
    warning = got.describe_takeover()
    assert warning is not None and stale.id in warning and "no longer running" in warning
    assert b.current_lock() == got


def test_sigkilled_holder_does_not_block_the_next_run(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    code = (
        "import sys, time; from pathlib import Path; from lmsctl.state.local import LocalBackend;"
        "LocalBackend(Path(sys.argv[1])).lock('lmsctl apply'); print('locked', flush=True);"
        "time.sleep(60)"
    )
    proc = subprocess.Popen([sys.executable, "-c", code, str(path)], stdout=subprocess.PIPE)
    assert proc.stdout is not None and proc.stdout.readline().strip() == b"locked"
    with pytest.raises(StateLockedError, match=f"pid {proc.pid}"):
        LocalBackend(path).lock("lmsctl plan")
    proc.kill()
    proc.communicate()  # waits, and closes its stdout
    leftover = tmp_path / ".state.json.abc123.tmp"  # as a write cut short by the kill leaves
    leftover.write_text("{half")
    got = LocalBackend(path).lock("lmsctl plan")
    assert got.replaced is not None and got.replaced.pid == proc.pid
    assert not leftover.exists()


def test_lock_of_a_dead_run_that_had_our_pid_is_taken_over(backend: LocalBackend) -> None:
    # in a container every run can get the same pid: a lock naming our pid that this process
    # never made was left by a run that died
    ours = LockInfo.new("lmsctl apply")
    dead = LockInfo(
        "0b1e7c3a-5d2f-4a8e-9c61-7f3d2b1a0e94", ours.user, ours.host, os.getpid(), "x", "t"
    )
    backend.lock_path.parent.mkdir(parents=True)
    backend.lock_path.write_text(json.dumps(dead.to_dict()))
    got = backend.lock("lmsctl apply")
    assert got.replaced == dead
    with pytest.raises(StateLockedError):  # while our own lock is never stale to us
        backend.lock("lmsctl plan")


def test_lock_on_another_host_is_never_judged_stale(backend: LocalBackend) -> None:
    other = LockInfo(
        "abc", "alice", "elsewhere.example", 1, "lmsctl apply", "2026-11-01T10:00:00.000Z"
    )
    backend.lock_path.parent.mkdir(parents=True)
    backend.lock_path.write_text(json.dumps(other.to_dict()))
    with pytest.raises(StateLockedError, match=r"alice@elsewhere\.example"):
        backend.lock("lmsctl plan")


def test_force_unlock_needs_the_right_id(backend: LocalBackend) -> None:
    with pytest.raises(StateError, match="not locked"):
        backend.force_unlock("nope")
    held = backend.lock("lmsctl apply")
    with pytest.raises(StateError, match=f"the lock id is {held.id}, not nope"):
        backend.force_unlock("nope")
    backend.force_unlock(held.id)
    assert backend.current_lock() is None


def test_unlock_refuses_another_runs_lock(backend: LocalBackend) -> None:
    held = backend.lock("lmsctl apply")
    with pytest.raises(StateError, match="held by another run"):
        backend.unlock("someone-else")
    assert backend.current_lock() == held


def test_locked_releases_even_after_an_error(backend: LocalBackend) -> None:
    with pytest.raises(RuntimeError), locked(backend, "lmsctl state rm"):
        assert backend.current_lock() is not None
        raise RuntimeError("boom")
    assert backend.current_lock() is None


def test_unreadable_fresh_lock_counts_as_held(backend: LocalBackend) -> None:
    backend.lock_path.parent.mkdir(parents=True)
    backend.lock_path.write_text("")
    with pytest.raises(StateLockedError, match="unreadable"):
        backend.lock("lmsctl plan")
    old = time.time() - 60
    os.utime(backend.lock_path, (old, old))
    assert backend.lock("lmsctl plan").command == "lmsctl plan"


def test_state_paths_keep_the_sandbox_apart(tmp_path: Path) -> None:
    default = ProjectConfig()
    assert state_path(tmp_path, default, sandbox=False) == tmp_path / ".lmsctl/state.json"
    assert state_path(tmp_path, default, sandbox=True) == tmp_path / ".lmsctl/sandbox/state.json"
    custom = ProjectConfig(state=StateConfig(path="state/coursework.json"))
    assert state_path(tmp_path, custom, sandbox=False) == tmp_path / "state/coursework.json"
    assert state_path(tmp_path, custom, sandbox=True) == tmp_path / "state/coursework.sandbox.json"
    absolute = ProjectConfig(state=StateConfig(path=str(tmp_path / "abs.json")))
    assert state_path(Path("elsewhere"), absolute, sandbox=False) == tmp_path / "abs.json"
    backend = open_backend(tmp_path, default, sandbox=True)
    assert isinstance(backend, LocalBackend) and isinstance(backend, StateBackend)
    assert isinstance(MemoryBackend(), StateBackend)


def test_unknown_backend_is_a_config_error(tmp_path: Path) -> None:
    from lmsctl.errors import ConfigError

    with pytest.raises(ConfigError, match="state backend 's3' is not available"):
        open_backend(tmp_path, ProjectConfig(state=StateConfig(backend="s3")), sandbox=False)


def test_memory_backend_stores_a_copy() -> None:
    b = MemoryBackend()
    snapshot = make_snapshot(make_record())
    b.write(snapshot)
    snapshot.resources[f"{SECTION}/hw-01"].grades[STUDENT]["grade_points"] = 0
    snapshot.resources.clear()
    assert b.read().resources[f"{SECTION}/hw-01"].grades[STUDENT] == {"grade_points": 9}


def test_each_read_is_its_own_state_that_apply_can_change_in_place(backend: LocalBackend) -> None:
    """A read takes the parsed JSON over (no copy of 100k grades): each read still holds values
    of its own, from the snapshot and from the journal, and the student ids are interned."""
    other = "5f1a0c0b8e1d2a0001b00099"
    snapshot = make_snapshot(make_record("hw-01"), make_record("hw-02"))
    backend.write(snapshot)
    snapshot.resources[f"{SECTION}/hw-02"].grades[other] = {"grade_points": 4}
    backend.lock("test")
    backend.save(snapshot, [f"{SECTION}/hw-02"])  # to the journal
    first, second = backend.read(), backend.read()
    assert first == second == snapshot
    for key in ("hw-01", "hw-02"):  # what apply does after a grade is set
        first.resources[f"{SECTION}/{key}"].grades[STUDENT].update(grade_points=1)
        first.resources[f"{SECTION}/{key}"].applied["title"] = "changed"
    assert second == snapshot and backend.read() == snapshot
    assert first.resources[f"{SECTION}/hw-01"].grades[STUDENT] == {"grade_points": 1}
    for record in second.resources.values():
        assert all(sys.intern(student) is student for student in record.grades)
