"""The encryption layer: key formats, key ids, envelopes bound to their place, and the journal
and snapshot of the local backend under a key."""

from __future__ import annotations

import base64
import json
import secrets
from pathlib import Path

import pytest

from lmsctl.errors import StateKeyError
from lmsctl.state import LocalBackend
from lmsctl.state.crypto import StateKey, StateKeys, aad, key_from_environment, parse_key
from tests.support.factories import make_record, make_snapshot

RAW = secrets.token_bytes(32)


@pytest.mark.parametrize(
    "text",
    [
        base64.b64encode(RAW).decode(),
        base64.urlsafe_b64encode(RAW).decode().rstrip("="),
        RAW.hex(),
        "  " + RAW.hex().upper() + "\n",
    ],
    ids=["base64", "urlsafe-unpadded", "hex", "hex-upper-spaced"],
)
def test_a_key_is_read_as_base64_or_hex(text: str) -> None:
    key = parse_key(text)
    assert key.secret == RAW
    assert key.kid == StateKey.from_bytes(RAW).kid and len(key.kid) == 16
    assert RAW.hex() not in repr(key) and key.kid not in RAW.hex()  # the id is no part of it


@pytest.mark.parametrize(
    "text",
    ["short", base64.b64encode(RAW[:16]).decode(), "z" * 64],
    # ids of their own: RAW is random, and every pytest-xdist worker must collect the same ids
    ids=["short", "16-bytes", "48-bytes"],
)
def test_a_bad_key_is_refused_with_how_to_make_one(text: str) -> None:
    with pytest.raises(StateKeyError) as caught:
        parse_key(text)
    assert "LMSCTL_STATE_KEY is not a valid state key" in str(caught.value)
    assert "lmsctl state keygen" in str(caught.value) and text not in str(caught.value)


def test_an_empty_variable_means_no_key() -> None:
    assert key_from_environment(env={"LMSCTL_STATE_KEY": "  "}) is None
    assert StateKeys.from_environment(env={}).encrypting is False


def test_an_envelope_opens_only_with_its_key_and_its_place() -> None:
    keys = StateKeys(write=StateKey.generate())
    sealed = keys.seal(b"grades", aad("pg-record", "north", "a/hw-01"))
    assert keys.open(sealed, aad("pg-record", "north", "a/hw-01"), "x") == b"grades"
    with pytest.raises(StateKeyError, match="integrity check"):
        keys.open(sealed, aad("pg-record", "north", "a/hw-02"), "record a/hw-02")
    with pytest.raises(StateKeyError, match="another key"):
        StateKeys(write=StateKey.generate()).open(sealed, aad("pg-record", "north", "a/hw-01"), "x")
    with pytest.raises(StateKeyError, match="is not set"):
        StateKeys().open(sealed, aad("pg-record", "north", "a/hw-01"), "x")
    tampered = dict(sealed, data=base64.b64encode(b"\0" * 40).decode())
    with pytest.raises(StateKeyError, match="integrity check"):
        keys.open(tampered, aad("pg-record", "north", "a/hw-01"), "x")


def test_the_journal_is_one_encrypted_line_per_save_and_replays(tmp_path: Path) -> None:
    keys = StateKeys(write=StateKey.generate())
    backend = LocalBackend(tmp_path / "state.json", keys)
    snapshot = make_snapshot(make_record("hw-01"))
    backend.write(snapshot)
    backend.lock("test")
    for key in ("hw-02", "hw-03"):
        record = make_record(key)
        snapshot.resources[record.address] = record
        backend.save(snapshot, [record.address])
    lines = backend.journal_path.read_bytes().splitlines()
    assert len(lines) == 2
    for n, line in enumerate(lines, start=2):
        entry = json.loads(line)
        assert set(entry) == {"encrypted", "lineage", "serial"} and entry["serial"] == n
    assert b"hw-02" not in backend.journal_path.read_bytes()
    again = LocalBackend(tmp_path / "state.json", keys).read()
    assert again.to_dict() == snapshot.to_dict()

    # a journal line moved to another serial fails, naming the line
    first, second = (json.loads(x) for x in lines)
    second["encrypted"] = first["encrypted"]
    backend.journal_path.write_bytes(
        (json.dumps(first) + "\n" + json.dumps(second) + "\n").encode()
    )
    with pytest.raises(StateKeyError, match=r"journal .* line 2 fails its integrity check"):
        LocalBackend(tmp_path / "state.json", keys).read()


@pytest.mark.parametrize("plain", [b"", b"x", b"a plan file's text " * 40])
def test_an_envelope_opened_in_parts_gives_what_opening_it_whole_gives(plain: bytes) -> None:
    """The data cut at every place (in two, and in parts of 1 to 9 characters): the same
    plaintext, and the tag checked only once it has all come."""
    keys = StateKeys(write=StateKey.generate())
    envelope = keys.seal(plain, aad("plan"))
    data = envelope["data"]
    head = {"alg": envelope["alg"], "kid": envelope["kid"]}
    cuts = [[data[:i], data[i:]] for i in range(len(data) + 1)]
    cuts += [[data[i : i + n] for i in range(0, len(data), n)] for n in range(1, 10)]
    for parts in cuts:
        opener = keys.opener(head, aad("plan"), "plan")
        assert b"".join(opener.update(part) for part in parts) == plain
        opener.finish()
    assert keys.open(envelope, aad("plan"), "plan") == plain


def test_an_envelope_opened_in_parts_is_refused_as_opening_it_whole_refuses_it() -> None:
    keys = StateKeys(write=StateKey.generate())
    envelope = keys.seal(b"grades", aad("plan"))
    head = {"alg": envelope["alg"], "kid": envelope["kid"]}
    for data in (envelope["data"][:-4], envelope["data"][:-1], "QUJD", "", envelope["data"] + "QQ"):
        with pytest.raises(StateKeyError) as whole:
            keys.open({**envelope, "data": data}, aad("plan"), "plan")
        with pytest.raises(StateKeyError) as parts:
            opener = keys.opener(head, aad("plan"), "plan")
            opener.update(data)
            opener.finish()
        assert str(parts.value) == str(whole.value)
    wrong_place = keys.opener(head, aad("state"), "plan")
    wrong_place.update(envelope["data"])
    with pytest.raises(StateKeyError, match="fails its integrity check"):
        wrong_place.finish()
    for bad_head in ({"alg": "ROT13", "kid": envelope["kid"]}, {"alg": envelope["alg"]}):
        with pytest.raises(StateKeyError, match="in a form this lmsctl does not know"):
            keys.opener(bad_head, aad("plan"), "plan")
