"""The local backend's journal: a save costs the record that changed, and nothing is lost."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from lmsctl.errors import StateError, StateSaveError
from lmsctl.state import LocalBackend, MemoryBackend, locked
from lmsctl.state.recovery import load as load_recovery
from tests.support.factories import STUDENT, make_record, make_snapshot


def _big(n: int) -> list:  # type: ignore[type-arg]
    return [make_record(f"hw-{i:04d}") for i in range(n)]


def test_a_save_appends_only_the_changed_record_whatever_the_state_size(tmp_path: Path) -> None:
    sizes = []
    for n in (10, 1000):
        b = LocalBackend(tmp_path / str(n) / "state.json")
        snap = make_snapshot(*_big(n))
        b.write(snap)
        before = b.path.read_bytes()
        address = make_record("hw-0001").address
        snap.resources[address].grades[STUDENT]["grade_points"] = 3
        b.save(snap, [address])
        assert b.path.read_bytes() == before  # the snapshot is not rewritten
        lines = b.journal_path.read_bytes().splitlines()
        assert len(lines) == 1 and json.loads(lines[0])["set"].keys() == {address}
        sizes.append(b.journal_path.stat().st_size)
        assert stat.S_IMODE(b.journal_path.stat().st_mode) == 0o600
    assert sizes[0] == sizes[1]  # 100 times the state, the same bytes per save


def test_read_replays_the_journal_and_unlock_folds_it_into_the_snapshot(tmp_path: Path) -> None:
    b = LocalBackend(tmp_path / "state.json")
    with locked(b, "lmsctl apply"):
        snap = b.read()
        snap.resources.update({r.address: r for r in _big(3)})
        b.save(snap, list(snap.resources))  # the first save of a new state makes the file
        gone = make_record("hw-0002").address
        del snap.resources[gone]
        b.save(snap, [gone])
        snap.resources[make_record("hw-0000").address].applied["title"] = "Renamed"
        b.save(snap, [make_record("hw-0000").address])
        assert b.journal_path.exists()
        other = LocalBackend(b.path).read()  # another reader sees every save
        assert other.serial == snap.serial and gone not in other.resources
        assert other.resources[make_record("hw-0000").address].applied["title"] == "Renamed"
    assert not b.journal_path.exists()
    data = json.loads(b.path.read_text())  # the file looks as it always did
    assert data["serial"] == snap.serial and sorted(data["resources"]) == sorted(snap.resources)
    assert data["resources"][make_record("hw-0000").address]["applied"]["title"] == "Renamed"


def test_after_a_crash_the_next_run_compacts_and_a_torn_last_line_is_ignored(
    tmp_path: Path,
) -> None:
    b = LocalBackend(tmp_path / "state.json")
    snap = make_snapshot(*_big(2))
    b.write(snap)
    address = make_record("hw-0001").address
    snap.resources[address].applied["title"] = "saved"
    b.save(snap, [address])
    with b.journal_path.open("ab") as fh:  # the crash came in the middle of the next append
        fh.write(b'{"serial": 99, "lineage": "x", "set": {')
    b.lock_path.write_text(
        json.dumps(
            {"id": "dead", "user": "u", "host": os.uname().nodename, "pid": 2**22 + 7,
             "command": "lmsctl apply", "created": "2026-11-01T10:00:00.000Z"}
        )
    )  # fmt: skip
    fresh = LocalBackend(b.path)
    info = fresh.lock("lmsctl apply")
    assert info.replaced is not None  # the dead run's lock was taken over
    assert not fresh.journal_path.exists()  # and its journal folded into the snapshot
    stored = json.loads(b.path.read_text())
    assert stored["serial"] == snap.serial
    assert stored["resources"][address]["applied"]["title"] == "saved"
    fresh.unlock(info.id)


def test_a_journal_corrupt_in_the_middle_is_an_error_not_a_silent_loss(tmp_path: Path) -> None:
    b = LocalBackend(tmp_path / "state.json")
    snap = make_snapshot(*_big(2))
    b.write(snap)
    for title in ("one", "two"):
        snap.resources[make_record("hw-0000").address].applied["title"] = title
        b.save(snap, [make_record("hw-0000").address])
    lines = b.journal_path.read_bytes().splitlines(keepends=True)
    b.journal_path.write_bytes(b"garbage\n" + lines[1])
    with pytest.raises(StateError, match=r"journal .* is corrupt at line 1"):
        LocalBackend(b.path).read()


def test_a_writer_that_fell_behind_is_refused(tmp_path: Path) -> None:
    a, b = LocalBackend(tmp_path / "state.json"), LocalBackend(tmp_path / "state.json")
    a.write(make_snapshot(*_big(1)))
    mine, theirs = a.read(), b.read()
    a.save(mine, [make_record("hw-0000").address])
    with pytest.raises(StateError, match="changed by another run"):
        b.save(theirs, [make_record("hw-0000").address])


def test_a_failed_save_keeps_a_recovery_file_and_blocks_the_next_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    b = LocalBackend(tmp_path / "state.json")
    snap = make_snapshot(*_big(2))
    b.write(snap)
    info = b.lock("lmsctl apply")
    address = make_record("hw-0001").address
    snap.resources[address].assignment_id = "acknowledged-by-the-lms"

    def full(*_a: object) -> int:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "write", full)
    with pytest.raises(StateSaveError, match="No space left") as err:
        b.save(snap, [address])
    monkeypatch.undo()
    assert err.value.recovery_file is not None
    kept = load_recovery(Path(err.value.recovery_file))
    assert kept.resources[address]["assignment_id"] == "acknowledged-by-the-lms"
    assert stat.S_IMODE(Path(err.value.recovery_file).stat().st_mode) == 0o600
    b.unlock(info.id)
    with pytest.raises(StateError, match="lmsctl state push"):
        LocalBackend(b.path).lock("lmsctl apply")


def test_memory_backend_saves_records_like_the_others() -> None:
    b = MemoryBackend()
    snap = make_snapshot(*_big(2))
    b.save(snap, list(snap.resources))
    snap.resources[make_record("hw-0000").address].applied["title"] = "changed"
    snap.resources[make_record("hw-0001").address].applied["title"] = "not saved"
    b.save(snap, [make_record("hw-0000").address])
    got = b.read()
    assert got.serial == 2
    assert got.resources[make_record("hw-0000").address].applied["title"] == "changed"
    assert got.resources[make_record("hw-0001").address].applied["title"] != "not saved"
