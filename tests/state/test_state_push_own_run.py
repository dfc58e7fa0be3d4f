"""The local backend's version of a save that landed though the run could not confirm it: the
journal line is written whole, then its fsync fails (EIO). The run keeps a recovery file from
the serial before that save, while the state is read with it (serial + 1, by the same run).
``state push`` stores the file, since the journal names the run of each save; it still refuses
when another run wrote since, or when who wrote can no longer be told."""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

import lmsctl.state.files
from lmsctl.errors import StateError, StateSaveError
from lmsctl.state import LocalBackend, locked, recovery
from lmsctl.state.crypto import StateKey, StateKeys
from lmsctl.state.transfer import push
from tests.support.cli import run
from tests.support.factories import STUDENT, make_record, make_snapshot

HW1, HW2, HW3 = (make_record(k).address for k in ("hw-01", "hw-02", "hw-03"))


@pytest.fixture
def fsync_fails_once(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Arm with ``armed.append(1)``: the next fsync of a state file fails with EIO, after the
    bytes were written (they are in the file, as after a real I/O error)."""
    real = os.fsync
    armed: list[int] = []

    def fsync(fd: int) -> None:
        if armed:
            armed.clear()
            raise OSError(errno.EIO, "Input/output error")
        real(fd)

    monkeypatch.setattr(lmsctl.state.files.os, "fsync", fsync)
    yield armed


def _points(backend: LocalBackend, address: str) -> object:
    return backend.read().resources[address].grades[STUDENT]["grade_points"]


def _lose_a_landed_save(
    folder: Path, armed: list[int], keys: StateKeys, addresses: list[str]
) -> tuple[Path, str]:
    """A run saves once, then its next save's fsync fails (the line is in the journal), then
    one more record goes to the file. The recovery file and the run's lock id."""
    LocalBackend(folder / "state.json", keys).write(
        make_snapshot(make_record("hw-01"), make_record("hw-02"), make_record("hw-03"))
    )
    run_ = LocalBackend(folder / "state.json", keys)
    with locked(run_, "lmsctl apply") as info:
        snap = run_.read()
        snap.resources[HW1].grades[STUDENT]["grade_points"] = 1
        run_.save(snap, [HW1])  # serial 2
        armed.append(1)
        for address in addresses:
            snap.resources[address].grades[STUDENT]["grade_points"] = 2
        with pytest.raises(StateSaveError, match="cannot write state journal") as lost:
            run_.save(snap, addresses)
        snap.resources[HW1].grades[STUDENT]["grade_points"] = 3
        with pytest.raises(StateSaveError):
            run_.save(snap, [HW1])
    run_.close()
    assert lost.value.recovery_file is not None
    return Path(lost.value.recovery_file), info.id


@pytest.mark.parametrize("keyed", [False, True], ids=["in-clear", "encrypted"])
def test_a_journal_save_whose_fsync_failed_is_pushed_over(
    tmp_path: Path, fsync_fails_once: list[int], keyed: bool
) -> None:
    keys = StateKeys(write=StateKey.generate()) if keyed else StateKeys()
    path, run_id = _lose_a_landed_save(tmp_path, fsync_fails_once, keys, [HW2, HW3])
    later = LocalBackend(tmp_path / "state.json", keys)
    assert later.read().serial == 3 and _points(later, HW2) == 2  # the save is in the state
    kept = recovery.load(path, keys)
    assert kept.base_serial == 2 and kept.run_id == run_id

    done = push(later, path)

    assert (done.serial, done.own_versions) == (4, 1) and not path.exists()
    assert [_points(later, a) for a in (HW1, HW2, HW3)] == [3, 2, 2]


def test_push_through_the_cli_says_the_state_was_ahead_by_the_files_own_run(
    tmp_path: Path, fsync_fails_once: list[int]
) -> None:
    path, _run = _lose_a_landed_save(tmp_path / ".lmsctl", fsync_fails_once, StateKeys(), [HW2])
    code, out, err = run("state", "push", str(path), "--root", str(tmp_path))
    assert code == 0, err
    assert "Pushed 2 assignment record(s)" in out and "(serial 4)" in out
    assert "1 version(s) ahead of the file, written by the run that wrote the file" in out


def test_push_refuses_when_another_run_wrote_since(
    tmp_path: Path, fsync_fails_once: list[int]
) -> None:
    path, _run = _lose_a_landed_save(tmp_path, fsync_fails_once, StateKeys(), [HW2])
    # another writer that does not look for recovery files (an older lmsctl, say): its save
    # goes in the journal beside the run's landed one, naming no run of its own
    other = LocalBackend(tmp_path / "state.json")
    snap = other.read()
    snap.resources[HW3].grades[STUDENT]["grade_points"] = 9
    other.save(snap, [HW3])
    other.close()
    with pytest.raises(StateError, match=r"moved on since .* \(serial 4, the file expects 2\)"):
        push(LocalBackend(tmp_path / "state.json"), path)
    # one that locks the state first (which folds the journal into the snapshot) and writes
    other.check_recovery = False
    with locked(other, "lmsctl apply"):
        snap = other.read()
        snap.resources[HW3].grades[STUDENT]["grade_points"] = 8
        other.save(snap, [HW3])
    later = LocalBackend(tmp_path / "state.json")
    with pytest.raises(StateError, match=r"moved on since .* \(serial 5, the file expects 2\)"):
        push(later, path)
    assert path.exists() and _points(later, HW1) == 1 and _points(later, HW3) == 8


def test_a_landed_save_already_folded_into_the_snapshot_is_not_taken_for_the_runs_own(
    tmp_path: Path, fsync_fails_once: list[int]
) -> None:
    path, _run = _lose_a_landed_save(tmp_path, fsync_fails_once, StateKeys(), [HW2])
    LocalBackend(tmp_path / "state.json").compact()  # who wrote serial 3 is no longer known
    later = LocalBackend(tmp_path / "state.json")
    with pytest.raises(StateError, match="moved on since"):
        push(later, path)
    assert path.exists() and later.read().serial == 3
