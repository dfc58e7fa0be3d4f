"""A save that the database committed but whose answer never reached lmsctl.

The connection is lost between the server's commit and lmsctl reading its answer: the run
cannot confirm the save, so it keeps a recovery file whose base is the serial before that save,
while the database holds the save (serial + 1, written by that very run). ``state push`` must
then store the file (the versions table says the run that moved the state on is the file's own
run), and still refuse when any other run wrote in between.

:class:`AnswerLosingProxy` makes it happen on purpose, with no timing luck: it forwards the
PostgreSQL protocol between lmsctl and the server, and once lmsctl has sent a statement that
contains a marker (the compare-and-swap on the workspace's serial), it lets the server run and
commit it, waits for the server's ReadyForQuery that ends the transaction (status idle: the
commit is done), drops that answer and closes the connection.
"""

from __future__ import annotations

import contextlib
import json
import socket
import struct
import threading
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from lmsctl.errors import StateError, StateSaveError
from lmsctl.state import locked, recovery
from lmsctl.state.crypto import StateKey, StateKeys
from lmsctl.state.postgres import PostgresBackend
from lmsctl.state.transfer import push
from tests.postgres.test_pg_e2e import Clone, Sandbox, _grades_saved, _serve
from tests.support.factories import STUDENT, make_record, make_snapshot

#: What the statement of every save that bumps the serial holds (both the one-statement save
#: and the general transaction): the compare-and-swap on the workspace row.
SAVE_MARKER = b'"workspaces" SET serial'
HW1, HW2, HW3 = (make_record(k).address for k in ("hw-01", "hw-02", "hw-03"))


class AnswerLosingProxy:
    """A TCP proxy to PostgreSQL that can lose the answer to one committed save."""

    def __init__(self, dsn: str) -> None:
        params = psycopg.conninfo.conninfo_to_dict(dsn)
        self.target = (str(params.get("host") or "127.0.0.1"), int(params.get("port") or 5432))
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        # no SSL or GSS negotiation: the server's side is framed messages from its first byte
        params.update(
            host="127.0.0.1",
            port=str(self._listener.getsockname()[1]),
            sslmode="disable",
            gssencmode="disable",
        )
        self.dsn = psycopg.conninfo.make_conninfo(**params)
        self._armed = threading.Event()
        self._skip = 0
        self._count = threading.Lock()
        self.lost = threading.Event()  # set once an answer was dropped, after its commit
        self._socks: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def lose_next_save_answer(self, after: int = 0) -> None:
        """The next statement holding SAVE_MARKER (once ``after`` more have gone by) runs and
        commits; its answer is lost."""
        self._skip = after
        self.lost.clear()
        self._armed.set()

    def _is_the_save(self) -> bool:
        """Called for each save lmsctl sends: True for the one whose answer must be lost."""
        with self._count:
            if not self._armed.is_set():
                return False
            if self._skip > 0:
                self._skip -= 1
                return False
            self._armed.clear()
            return True

    def close(self) -> None:
        for s in [self._listener, *self._socks]:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            self._socks += [client, upstream]
            seen = threading.Event()  # this connection sent the marker while armed
            threading.Thread(
                target=self._to_server, args=(client, upstream, seen), daemon=True
            ).start()
            threading.Thread(
                target=self._to_client, args=(upstream, client, seen), daemon=True
            ).start()

    def _to_server(
        self, client: socket.socket, upstream: socket.socket, seen: threading.Event
    ) -> None:
        # psycopg prepares a statement it runs often: its text goes once (Parse, with a name),
        # then only its name (Bind). A save is a Bind of a statement whose text holds the marker.
        saves: dict[bytes, bool] = {}
        buffer, started = b"", False
        try:
            while data := client.recv(65536):
                buffer += data
                while True:
                    head = 4 if not started else 5  # the startup message has no type byte
                    if len(buffer) < head:
                        break
                    (length,) = struct.unpack("!I", buffer[head - 4 : head])
                    if len(buffer) < head - 4 + length:
                        break
                    message, buffer = buffer[: head - 4 + length], buffer[head - 4 + length :]
                    if started and message[:1] == b"P":
                        name, rest = message[5:].split(b"\0", 1)
                        saves[name] = SAVE_MARKER in rest.split(b"\0", 1)[0]
                    elif started and message[:1] == b"B":
                        statement = message[5:].split(b"\0", 2)[1]
                        # flagged before the bytes go on: the answer comes after it
                        if saves.get(statement) and self._is_the_save():
                            seen.set()
                    started = True
                    upstream.sendall(message)
        except OSError:
            pass
        finally:
            _cut(client, upstream)

    def _to_client(
        self, upstream: socket.socket, client: socket.socket, seen: threading.Event
    ) -> None:
        buffer = b""
        try:
            while data := upstream.recv(65536):
                buffer += data
                while len(buffer) >= 5:
                    (length,) = struct.unpack("!I", buffer[1:5])
                    if len(buffer) < 1 + length:
                        break
                    message, buffer = buffer[: 1 + length], buffer[1 + length :]
                    if seen.is_set() and message[:1] == b"Z" and message[5:6] == b"I":
                        # ReadyForQuery, idle: the save's transaction is committed; its answer
                        # (and this connection) is lost
                        self.lost.set()
                        _cut(client, upstream)
                        return
                    client.sendall(message)
        except OSError:
            pass
        finally:
            _cut(client, upstream)


def _cut(*socks: socket.socket) -> None:
    for s in socks:
        with contextlib.suppress(OSError):
            s.shutdown(socket.SHUT_RDWR)


@pytest.fixture
def proxy(pg_dsn: str) -> Iterator[AnswerLosingProxy]:
    p = AnswerLosingProxy(pg_dsn)
    yield p
    p.close()


def _backend(dsn: str, schema: str, folder: Path, keys: StateKeys | None) -> PostgresBackend:
    return PostgresBackend(dsn, workspace="north", schema=schema, recovery_dir=folder, keys=keys)


def _points(backend: PostgresBackend, address: str) -> object:
    return backend.read().resources[address].grades[STUDENT]["grade_points"]


def _lose_a_landed_save(
    proxy: AnswerLosingProxy,
    pg_dsn: str,
    pg_schema: str,
    folder: Path,
    keys: StateKeys | None,
    addresses: list[str],
) -> tuple[Path, str]:
    """A run saves once, then loses the answer to its next save (which lands), then keeps one
    more record in the file (its later saves write nothing). The recovery file, the run's id."""
    setup = _backend(pg_dsn, pg_schema, folder, keys)
    setup.write(make_snapshot(make_record("hw-01"), make_record("hw-02"), make_record("hw-03")))
    setup.close()
    run = _backend(proxy.dsn, pg_schema, folder, keys)
    try:
        with locked(run, "lmsctl apply") as info:
            snap = run.read()
            snap.resources[HW1].grades[STUDENT]["grade_points"] = 1
            run.save(snap, [HW1])  # serial 2, answered
            proxy.lose_next_save_answer()
            for address in addresses:
                snap.resources[address].grades[STUDENT]["grade_points"] = 2
            with pytest.raises(StateSaveError, match="lost the state database") as lost:
                run.save(snap, addresses)
            assert proxy.lost.is_set()
            snap.resources[HW1].grades[STUDENT]["grade_points"] = 3
            with pytest.raises(StateSaveError):
                run.save(snap, [HW1])  # nothing more is written, but it goes in the file
    finally:
        run.close()
    assert lost.value.recovery_file is not None
    return Path(lost.value.recovery_file), info.id


@pytest.mark.parametrize("keyed", [False, True], ids=["in-clear", "encrypted"])
@pytest.mark.parametrize(
    "addresses", [[HW2], [HW2, HW3]], ids=["one-statement-save", "transaction-save"]
)
def test_a_save_that_landed_though_its_answer_was_lost_is_pushed(
    proxy: AnswerLosingProxy,
    pg_dsn: str,
    pg_schema: str,
    tmp_path: Path,
    addresses: list[str],
    keyed: bool,
) -> None:
    keys = StateKeys(write=StateKey.generate()) if keyed else StateKeys()
    path, run_id = _lose_a_landed_save(proxy, pg_dsn, pg_schema, tmp_path, keys, addresses)
    later = _backend(pg_dsn, pg_schema, tmp_path, keys)
    landed = later.read()
    assert landed.serial == 3  # the save whose answer was lost is in the database
    assert all(_points(later, a) == 2 for a in addresses)
    kept = recovery.load(path, keys)  # the file's base is the serial before the lost save
    assert kept.base_serial == 2 and sorted(kept.resources) == sorted({HW1, *addresses})
    if keyed:  # the run id is sealed with the rest; the clear part is as before
        raw = json.loads(path.read_bytes())
        assert run_id not in path.read_text() and sorted(raw) == sorted(
            [*recovery.CLEAR_FIELDS, "encrypted"]
        )

    done = push(later, path)

    assert done.serial == 4 and not path.exists()
    assert _points(later, HW1) == 3  # the record only the file had
    assert all(_points(later, a) == 2 for a in addresses)
    assert later.history()[0]["serial"] == 4 and done.own_versions == 1
    assert kept.run_id == run_id  # the run's lock id, which its versions are filed under
    later.close()


def test_push_still_refuses_when_another_run_wrote_after_the_landed_save(
    proxy: AnswerLosingProxy, pg_dsn: str, pg_schema: str, tmp_path: Path
) -> None:
    path, _run = _lose_a_landed_save(proxy, pg_dsn, pg_schema, tmp_path, None, [HW2])
    # another runner (its own checkout: no recovery file there) writes a version
    other = _backend(pg_dsn, pg_schema, tmp_path / "elsewhere", None)
    with locked(other, "lmsctl apply"):
        snap = other.read()
        snap.resources[HW3].grades[STUDENT]["grade_points"] = 9
        other.save(snap, [HW3])
    other.close()
    later = _backend(pg_dsn, pg_schema, tmp_path, None)
    with pytest.raises(StateError, match=r"moved on since .* \(serial 4, the file expects 2\)"):
        push(later, path)
    assert path.exists() and later.read().serial == 4
    assert _points(later, HW1) == 1  # nothing of the file went in
    later.close()


def test_push_refuses_a_file_that_lacks_what_its_run_saved_after_its_base(
    proxy: AnswerLosingProxy, pg_dsn: str, pg_schema: str, tmp_path: Path
) -> None:
    path, _run = _lose_a_landed_save(proxy, pg_dsn, pg_schema, tmp_path, None, [HW2, HW3])
    data = json.loads(path.read_bytes())
    del data["resources"][HW3]  # not what lmsctl writes: the file was cut down by hand
    path.write_text(json.dumps(data))
    later = _backend(pg_dsn, pg_schema, tmp_path, None)
    with pytest.raises(StateError, match="lacks 1 record") as refused:
        push(later, path)
    assert "nothing was pushed" in refused.value.message
    assert path.exists() and later.read().serial == 3
    later.close()


def test_a_file_from_an_older_lmsctl_without_a_run_id_is_refused_as_before(
    proxy: AnswerLosingProxy, pg_dsn: str, pg_schema: str, tmp_path: Path
) -> None:
    path, _run = _lose_a_landed_save(proxy, pg_dsn, pg_schema, tmp_path, None, [HW2])
    data = json.loads(path.read_bytes())
    del data["run_id"]
    path.write_text(json.dumps(data))
    later = _backend(pg_dsn, pg_schema, tmp_path, None)
    assert recovery.load(path).run_id is None
    with pytest.raises(StateError, match="moved on since"):
        push(later, path)
    done = push(later, path, force=True)  # as before: --force stores it anyway
    assert done.serial == 4 and _points(later, HW1) == 3
    later.close()


@pytest.mark.slow
def test_an_apply_that_lost_a_landed_save_answer_is_pushed_and_converges(
    proxy: AnswerLosingProxy, pg_dsn: str, pg_schema: str, tmp_path: Path
) -> None:
    """The incident, through the CLI: mid-apply, one save lands and its answer is lost."""
    for url in _serve(tmp_path):
        sandbox, a = (
            Sandbox(url),
            Clone(tmp_path / "runner-a" / "coursework", url, pg_dsn, pg_schema),
        )
        a.env["LMSCTL_PG_DSN"] = proxy.dsn
        # one call at a time, so the saves come in plan order: an intent and a result per
        # create; the 11th save is the result of the fifth create, which the LMS carried out
        proxy.lose_next_save_answer(after=10)
        failed = a.run("apply", "--auto-approve", "--parallelism", "1")
        assert failed.code == 1 and proxy.lost.is_set(), failed.text
        assert "lost the state database on 127.0.0.1" in failed.err, failed.err
        assert "1 write(s) reached the LMS but are not recorded in state: " in failed.err
        assert "a00002/lab-01-microscopes" in failed.err and "Traceback" not in failed.err
        (kept,) = sorted((a.root / ".lmsctl").glob("recovery-*.json"))
        rel = f".lmsctl/{kept.name}"
        with psycopg.connect(pg_dsn) as conn:  # that save is in the database all the same
            row = conn.execute(
                f"SELECT record->>'assignment_id' FROM \"{pg_schema}\".resources "
                "WHERE address LIKE '%%lab-01-microscopes'"
            ).fetchone()
        assert row is not None and row[0]

        pushed = a.run("state", "push", rel)

        assert pushed.code == 0, pushed.text
        assert "The state was 1 version(s) ahead of the file, written by the run that wrote" in (
            pushed.out
        )
        assert not kept.exists()
        rerun = a.run("apply", "--auto-approve")  # the rest of the work, nothing twice
        assert rerun.code == 0, rerun.text
        assert "6 created" in rerun.out and "unknown" not in rerun.out, rerun.out
        final = a.run("plan", "--detailed-exitcode")
        assert final.code == 0, final.text
        sandbox.assert_no_duplicates()
        assert _grades_saved(pg_dsn, pg_schema) == 23
