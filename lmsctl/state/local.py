"""The local state backend: a JSON snapshot plus an append-only journal, and a lock file.

Files (for the default ``.lmsctl/state.json``)::

    .lmsctl/                    created mode 0700
      state.json                mode 0600; JSON, sorted keys, one line per assignment
      state.json.backup         the previous snapshot, kept on every snapshot write
      state.json.journal        mode 0600; while a run saves: one JSON line per save
      state.json.lock           while a run holds the lock: LockInfo as JSON

A save after an API call appends one line to the journal (the changed records and the new
serial) and fsyncs it: it costs the records that changed, not the state's size. ``read``
replays the journal over the snapshot. The journal is folded into the snapshot (compacted) when
the run releases the lock, and by the next run that takes the lock after a crash; a torn last
line (a crash mid-append, never acknowledged) is ignored.

A snapshot write goes to a temporary file in the same folder, is fsynced, the current file is
hard-linked (or copied) to ``.backup``, the temporary file replaces the current one with
``os.replace`` and the folder is fsynced, then the journal is removed: a crash at any point
leaves either the old or the new state, whole (journal lines at or below the snapshot's serial
are skipped).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from lmsctl import jsonread
from lmsctl.errors import StateError, StateSaveError
from lmsctl.state import crypto, local_runs
from lmsctl.state.backend import LockInfo, check_can_write, wait_for_lock
from lmsctl.state.files import (
    StatKey,
    display,
    encode_json,
    fsync_dir,
    json_problem,
    make_private_dir,
    stat_key,
    write_all_synced,
    write_new_private,
)
from lmsctl.state.local_encoder import StateEncoder
from lmsctl.state.local_lock import LockFile
from lmsctl.state.model import ResourceRecord, StateSnapshot
from lmsctl.state.recovery import (
    LaterWrites,
    RecoveryKeeper,
    refuse_pending,
    rekey_recovery_files,
)


class LocalBackend:
    """State in a JSON file on this machine (the default backend)."""

    def __init__(
        self, path: Path, keys: crypto.StateKeys | None = None, *, privacy: str | None = None
    ) -> None:
        self.path = Path(path)
        #: the encryption key(s); None: LMSCTL_STATE_KEY from the environment (unset: in clear)
        self.keys = keys if keys is not None else crypto.StateKeys.from_environment()
        self.backup_path = self.path.with_name(self.path.name + ".backup")
        self._lock_file = LockFile(self.path)
        self.lock_path = self._lock_file.path
        self.journal_path = self.path.with_name(self.path.name + ".journal")
        self._seen: StatKey | None = None  # file identity as of our last read or write
        self._journal_seen = 0  # journal bytes we know of (read, replayed or appended)
        self._journal_end = 0  # where the last whole journal line ends
        self._journal_fd: int | None = None
        self._encoder = StateEncoder()
        self.identity = f"local {os.path.abspath(self.path)}"
        #: privacy: of lmsctl.yaml, for what a recovery file's error says
        self._keeper = RecoveryKeeper(self.path.parent, self.identity, self.keys, privacy=privacy)
        self._broken: StateSaveError | None = None
        self._held: LockInfo | None = None
        #: refuse the lock while a recovery file for this state waits (off for state push)
        self.check_recovery = True

    def __repr__(self) -> str:
        return f"LocalBackend({str(self.path)!r})"

    @property
    def description(self) -> str:
        return display(self.path)

    # -- state ---------------------------------------------------------------------------------

    def read(self) -> StateSnapshot:
        try:
            raw = self.path.read_bytes()
            seen = stat_key(self.path)
        except FileNotFoundError:
            if self.backup_path.exists():
                raise StateError(
                    f"state file {self.description} is missing but its backup "
                    f"{display(self.backup_path)} exists",
                    hint=(
                        "refusing to start from empty state, which would create every "
                        "assignment again; if the backup is right, copy it to "
                        f"{self.description}, else move the backup away"
                    ),
                ) from None
            self._seen = None
            self._journal_seen = self._journal_end = 0
            return StateSnapshot.empty()
        except OSError as exc:
            raise StateError(f"cannot read state file {self.description}: {exc.strerror}") from exc
        snapshot = self._parse(raw)
        self._seen = seen
        self._replay(snapshot)
        return snapshot

    def _replay(self, snapshot: StateSnapshot) -> None:
        """Apply the journal's saves over the snapshot (in place)."""
        try:
            raw = self.journal_path.read_bytes()
        except FileNotFoundError:
            self._journal_seen = self._journal_end = 0
            return
        except OSError as exc:
            raise StateError(
                f"cannot read state journal {display(self.journal_path)}: {exc.strerror}"
            ) from exc
        end = 0
        lines = raw.split(b"\n")
        for number, line in enumerate(lines[:-1], start=1):  # the part after the last \n is torn
            end += len(line) + 1
            try:
                entry = json.loads(line)
                serial = int(entry["serial"])
                lineage = str(entry["lineage"])
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                if number == len(lines) - 1:
                    end -= len(line) + 1  # a torn last line: that save was never acknowledged
                    break
                raise StateError(
                    f"state journal {display(self.journal_path)} is corrupt at line {number}",
                    hint=f"{self.description} holds the state as of its last compaction; move "
                    "the journal away to use it, losing the saves after it",
                ) from exc
            if lineage != snapshot.lineage or serial <= snapshot.serial:
                continue  # already in the snapshot (a crash right after a compaction)
            if serial != snapshot.serial + 1:
                raise StateError(
                    f"state journal {display(self.journal_path)} skips from serial "
                    f"{snapshot.serial} to {serial} at line {number}",
                    hint="move the journal away and check the state with lmsctl state list",
                )
            if crypto.FIELD in entry:
                entry = self._open_journal_entry(entry, lineage, serial, number)
            for address, data in entry.get("set", {}).items():
                snapshot.resources[address] = ResourceRecord.from_dict(
                    data, where=f"state journal line {number}: {address!r}", copy=False
                )
            for address in entry.get("del", []):
                snapshot.resources.pop(address, None)
            snapshot.api_url = entry.get("api_url", snapshot.api_url)
            snapshot.district_id = entry.get("district_id", snapshot.district_id)
            snapshot.serial = serial
        self._journal_seen = len(raw)
        self._journal_end = end

    def _open_journal_entry(
        self, entry: dict[str, Any], lineage: str, serial: int, number: int
    ) -> dict[str, Any]:
        where = f"state journal {display(self.journal_path)} line {number}"
        plain = self.keys.open(entry[crypto.FIELD], crypto.aad("journal", lineage, serial), where)
        try:
            opened = json.loads(plain)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise StateError(f"{where} holds no JSON once decrypted") from exc
        if (
            not isinstance(opened, dict)
            or opened.get("serial") != serial
            or opened.get("lineage") != lineage
        ):
            raise StateError(f"{where} does not match the serial and lineage it is filed under")
        return opened

    def _seal_snapshot(self, snapshot: StateSnapshot, plain: bytes) -> bytes:
        """The encrypted form of a snapshot file: lineage and serial in clear, the rest sealed."""
        envelope = self.keys.seal(plain, crypto.aad("state", snapshot.lineage, snapshot.serial))
        head = {
            "format_version": snapshot.to_dict().get("format_version"),
            "lineage": snapshot.lineage,
            "serial": snapshot.serial,
            crypto.FIELD: envelope,
        }
        return encode_json(head)

    def _open_snapshot(self, data: dict[str, Any], where: str) -> bytes:
        lineage, serial = data.get("lineage"), data.get("serial")
        return self.keys.open(data[crypto.FIELD], crypto.aad("state", lineage, serial), where)

    def _parse(self, raw: bytes) -> StateSnapshot:
        hint = (
            f"the previous version is in {display(self.backup_path)}: check it and copy it "
            f"over {self.description} if it is right"
            if self.backup_path.exists()
            else "there is no backup; restore it from where you keep copies"
        )
        try:
            data = jsonread.loads(raw)  # (a district's state: 6 MB)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise StateError(
                f"state file {self.description} is corrupt: {json_problem(exc)}", hint=hint
            ) from exc
        if isinstance(data, dict) and crypto.FIELD in data:
            clear = data
            plain = self._open_snapshot(data, f"state file {self.description}")
            try:
                data = jsonread.loads(plain)
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise StateError(
                    f"state file {self.description} is corrupt once decrypted: {json_problem(exc)}",
                    hint=hint,
                ) from exc
            if not isinstance(data, dict) or (data.get("lineage"), data.get("serial")) != (
                clear.get("lineage"),
                clear.get("serial"),
            ):
                raise StateError(
                    f"state file {self.description} does not match the lineage and serial it "
                    "is filed under",
                    hint=hint,
                )
        try:
            return StateSnapshot.from_dict(data, copy=False)  # the parsed JSON is dropped after
        except StateError as exc:
            raise StateError(
                f"state file {self.description} is not valid: {exc.message}",
                hint=exc.hint or hint,
            ) from exc

    def write(self, snapshot: StateSnapshot) -> None:
        self._check_not_moved_on(snapshot)
        snapshot.serial += 1
        try:
            self._write_snapshot(snapshot)
        except BaseException:
            snapshot.serial -= 1
            raise

    def _write_snapshot(self, snapshot: StateSnapshot) -> None:
        """Replace the snapshot file with this one, then drop the journal it includes."""
        data = self._encoder.encode(snapshot)
        if self.keys.encrypting:
            data = self._seal_snapshot(snapshot, data)
        self._replace_atomically(data)
        self._drop_journal()

    def _drop_journal(self) -> None:
        self._close_journal()
        try:
            self.journal_path.unlink()
        except FileNotFoundError:
            pass
        else:
            fsync_dir(self.path.parent)
        self._journal_seen = self._journal_end = 0

    def _close_journal(self) -> None:
        if self._journal_fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._journal_fd)
            self._journal_fd = None

    def close(self) -> None:
        self._close_journal()

    def _journal_size(self) -> int:
        try:
            return self.journal_path.stat().st_size
        except FileNotFoundError:
            return 0

    def _check_not_moved_on(self, snapshot: StateSnapshot) -> None:
        try:
            key = stat_key(self.path)
        except FileNotFoundError:
            return
        except OSError as exc:
            raise StateError(f"cannot stat state file {self.description}: {exc}") from exc
        if key == self._seen and self._journal_size() == self._journal_seen:
            return  # nobody touched either since we read or wrote them
        stored = self._read_stored()
        if stored is not None:
            check_can_write(stored, snapshot, self.description)

    def _read_stored(self) -> StateSnapshot | None:
        """The state as stored now (snapshot + journal), without changing what we know."""
        other = LocalBackend(self.path, self.keys)
        try:
            return other.read()
        except FileNotFoundError:
            return None

    # -- record-level saves --------------------------------------------------------------------

    def save(self, snapshot: StateSnapshot, addresses: Iterable[str]) -> None:
        wanted = list(dict.fromkeys(addresses))
        if self._broken is not None:
            self._keep_and_raise(snapshot, wanted, self._broken.message)
        if not self.path.exists():
            self.write(snapshot)  # the first save of a new state makes the snapshot
            return
        try:
            self._check_not_moved_on(snapshot)
        except StateError as exc:
            # another run wrote: what the LMS acknowledged must still not be lost
            self._keep_and_raise(snapshot, wanted, exc.message)
        entry: dict[str, Any] = {
            "serial": snapshot.serial + 1,
            "lineage": snapshot.lineage,
            "api_url": snapshot.api_url,
            "district_id": snapshot.district_id,
            "set": {},
            "del": [],
        }
        if self._writer_id is not None:  # which run wrote it (state push tells its own saves)
            entry["run"] = self._writer_id
        for address in wanted:
            record = snapshot.resources.get(address)
            if record is None:
                entry["del"].append(address)
            else:
                entry["set"][address] = record.to_dict()
        try:
            plain = json.dumps(entry, sort_keys=True, ensure_ascii=False).encode()
        except (TypeError, ValueError) as exc:
            raise StateError(f"cannot encode state as JSON: {exc}") from exc
        if self.keys.encrypting:
            sealed = {
                "serial": entry["serial"],
                "lineage": entry["lineage"],
                crypto.FIELD: self.keys.seal(
                    plain, crypto.aad("journal", entry["lineage"], entry["serial"])
                ),
            }
            plain = json.dumps(sealed, sort_keys=True).encode()
        line = plain + b"\n"
        try:
            self._append(line)
        except OSError as exc:
            self._keep_and_raise(
                snapshot,
                wanted,
                f"cannot write state journal {display(self.journal_path)}: {exc.strerror or exc}",
            )
        snapshot.serial += 1

    def _append(self, line: bytes) -> None:
        if self._journal_fd is None:
            created = not self.journal_path.exists()
            self._journal_fd = os.open(
                self.journal_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600
            )
            if created:
                fsync_dir(self.path.parent)
        fd = self._journal_fd
        if self._journal_seen > self._journal_end:
            os.ftruncate(fd, self._journal_end)  # drop a torn line a crash left
            self._journal_seen = self._journal_end
        write_all_synced(fd, line)
        self._journal_seen += len(line)
        self._journal_end = self._journal_seen

    @property
    def _writer_id(self) -> str | None:
        """The id this run's journal lines are filed under (its lock's; None without a lock):
        a recovery file names it, so state push can tell this run's landed save from
        another's."""
        return self._held.id if self._held is not None else None

    def _keep_and_raise(self, snapshot: StateSnapshot, addresses: list[str], why: str) -> None:
        path = self._keeper.keep(snapshot, addresses, run_id=self._writer_id)
        self._broken = StateSaveError(why)
        if path is None:
            raise StateSaveError(f"{why}; nothing more is sent to the LMS")
        shown = display(path)
        raise StateSaveError(
            f"{why}; nothing more is sent to the LMS. What the LMS acknowledged but state "
            f"could not store is kept in {shown}",
            hint=f"once the disk is fixed: lmsctl state push {shown}, then run again"
            + self._keeper.privacy_note(),
            recovery_file=str(path),
        )

    def writes_since(self, serial: int) -> LaterWrites:
        """Which runs wrote the saves after ``serial``, from the journal (state push)."""
        return local_runs.writes_since(self, serial)

    def compact(self) -> None:
        """Fold the journal into the snapshot (the caller holds the lock)."""
        if self._journal_size() == 0 and not self.journal_path.exists():
            return
        snapshot = self.read()
        self._write_snapshot(snapshot)

    def _replace_atomically(self, data: bytes) -> None:
        folder = self.path.parent
        make_private_dir(folder)
        fd, tmp_name = tempfile.mkstemp(dir=folder, prefix=f".{self.path.name}.", suffix=".tmp")
        tmp = Path(tmp_name)
        try:
            try:
                if hasattr(os, "fchmod"):
                    os.fchmod(fd, 0o600)
                write_all_synced(fd, data)
            finally:
                os.close(fd)
            if self.path.exists():
                self._keep_backup()
            os.replace(tmp, self.path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise StateError(
                f"cannot write state file {self.description}: {exc.strerror or exc}",
                hint="the previous state is unchanged",
            ) from exc
        except BaseException:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise
        fsync_dir(folder)
        self._seen = stat_key(self.path)

    def _keep_backup(self) -> None:
        """Make ``.backup`` the current file's content, atomically (hard link, else copy)."""
        folder = self.path.parent
        tmp_backup = folder / f".{self.backup_path.name}.{os.getpid()}.tmp"
        with contextlib.suppress(FileNotFoundError):
            tmp_backup.unlink()
        if self.keys.encrypting:
            sealed = self._sealed_copy(self.path.read_bytes(), self.path)
            if sealed is not None:  # the file was in clear: its backup is not
                write_new_private(tmp_backup, sealed)
                os.replace(tmp_backup, self.backup_path)
                return
        try:
            os.link(self.path, tmp_backup)
        except OSError:
            shutil.copyfile(self.path, tmp_backup)
            os.chmod(tmp_backup, 0o600)
        os.replace(tmp_backup, self.backup_path)

    def _sealed_copy(self, raw: bytes, path: Path) -> bytes | None:
        """A snapshot file's content under the write key; None when it already is (or unreadable).

        A file in clear, or under another key the backend can read (a rekey), is re-sealed.
        """
        try:
            data = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError):
            return None
        if not isinstance(data, dict):
            return None
        if crypto.FIELD not in data and not self.keys.encrypting:
            return None
        if crypto.FIELD in data:
            if self.keys.is_current(data[crypto.FIELD]):
                return None
            raw = self._open_snapshot(data, f"state file {display(path)}")
            try:
                data = json.loads(raw)
            except (UnicodeDecodeError, json.JSONDecodeError):
                return None
        if not self.keys.encrypting:
            return raw
        envelope = self.keys.seal(raw, crypto.aad("state", data.get("lineage"), data.get("serial")))
        head = {k: data.get(k) for k in ("format_version", "lineage", "serial")}
        return encode_json({**head, crypto.FIELD: envelope})

    def rekey(self, keys: crypto.StateKeys) -> list[Path]:
        """Re-encrypt the state (snapshot, journal, backup, recovery files) under ``keys.write``.

        The caller holds the lock and ``self.keys`` reads the state as it is (old key, new key,
        or in clear). Each file is replaced atomically: a crash leaves every file whole, under
        the old key or the new one, and running rekey again finishes the job. The serial is
        unchanged (the content is). Returns the files rewritten.
        """
        snapshot = self.read()
        reader = self.keys
        both = crypto.StateKeys(
            write=keys.write, extra_read=tuple(reader.readers().values()), source=reader.source
        )
        done: list[Path] = []
        try:
            self.keys = both
            if self.path.exists():
                self._encoder = StateEncoder()
                self._write_snapshot(snapshot)  # the journal is folded in and removed
                done.append(self.path)
            if self.backup_path.exists():
                sealed = self._sealed_copy(self.backup_path.read_bytes(), self.backup_path)
                if sealed is not None:
                    tmp = self.path.parent / f".{self.backup_path.name}.{os.getpid()}.tmp"
                    with contextlib.suppress(FileNotFoundError):
                        tmp.unlink()
                    write_new_private(tmp, sealed)
                    os.replace(tmp, self.backup_path)
                    fsync_dir(self.path.parent)
                    done.append(self.backup_path)
        finally:
            self.keys = keys
            self._keeper.keys = keys
        done.extend(rekey_recovery_files(self.path.parent, self.identity, reader, keys))
        return done

    def replace(self, snapshot: StateSnapshot) -> None:
        """Store ``snapshot`` over whatever the file holds (``state migrate --force``)."""
        snapshot.serial += 1
        try:
            self._write_snapshot(snapshot)
        except BaseException:
            snapshot.serial -= 1
            raise

    # -- lock ----------------------------------------------------------------------------------

    def lock(self, command: str, timeout: float = 0.0) -> LockInfo:
        if self.check_recovery:
            refuse_pending(self.path.parent, self.identity)
        make_private_dir(self.lock_path.parent)
        info = wait_for_lock(
            lambda: self._lock_file.try_take(command), self._lock_file.holder_message, timeout
        )
        try:
            self.compact()  # a journal left by a run that crashed
        except BaseException:
            with contextlib.suppress(OSError):
                self.lock_path.unlink()
            raise
        self._held = info
        return info

    def current_lock(self) -> LockInfo | None:
        return self._lock_file.current()

    def unlock(self, lock_id: str) -> None:
        try:
            held = self._lock_file.read()
        except FileNotFoundError:
            return
        if held.id != lock_id:
            raise StateError(
                f"cannot unlock: the lock is now held by another run ({held.describe()})"
            )
        try:
            if self._broken is None:
                self.compact()  # the end of a run: fold its journal into the snapshot
        finally:
            self._close_journal()
            self._held = None
            self._lock_file.remove()

    def force_unlock(self, lock_id: str) -> None:
        try:
            held = self._lock_file.read()
        except FileNotFoundError:
            raise StateError(f"state {self.description} is not locked; nothing to unlock") from None
        except StateError:
            raise StateError(
                f"lock file {display(self.lock_path)} is unreadable",
                hint="if no lmsctl run is active, delete that file",
            ) from None
        if held.id != lock_id:
            raise StateError(f"the lock id is {held.id}, not {lock_id}", hint=held.describe())
        self._lock_file.remove()


__all__ = ["LocalBackend"]
