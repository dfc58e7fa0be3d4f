"""Plan files are written and read a change at a time, and are the same files as before.

``plan --out`` wrote ``json.dump`` of the whole document (every change as a dict); ``show`` and
``apply PLANFILE`` read the whole text, then the whole document, then made the Plan from it.
Now each change is written as it is made and made a Change as soon as it is read."""

from __future__ import annotations

import base64
import gc
import json
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from lmsctl.errors import StateError
from lmsctl.plan import planfile
from lmsctl.plan.document import plan_from_document, plan_to_document
from lmsctl.plan.model import Plan
from lmsctl.plan.planfile import PLAN_FILE_KIND, load_plan, save_plan
from lmsctl.state.crypto import NONCE_BYTES, StateKey, StateKeys, aad
from tests.render.plans import empty_plan, first_apply_plan, review_plan


def _file_text(plan: Plan, sandbox: bool) -> str:
    """A plan file as it was written before: json.dump of the whole document, keys sorted."""
    whole = {"kind": PLAN_FILE_KIND, "sandbox": sandbox, "plan": plan_to_document(plan)}
    return json.dumps(whole, indent=2, sort_keys=True) + "\n"


def _peak(work: Callable[[], Any]) -> int:
    """The peak of Python's allocations while ``work()`` runs, in bytes."""
    gc.collect()
    tracemalloc.start()
    try:
        work()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("make", [review_plan, empty_plan, first_apply_plan])
def test_a_plan_file_is_written_piece_by_piece_as_the_whole_document(
    make: Callable[[], Plan], tmp_path: Path
) -> None:
    plan = make()
    path = tmp_path / "plan.json"
    save_plan(path, plan, sandbox=True, keys=StateKeys())
    assert path.read_text(encoding="utf-8") == _file_text(plan, True)
    assert load_plan(path, StateKeys()) == (plan, True)


@pytest.mark.parametrize("make", [review_plan, empty_plan, first_apply_plan])
def test_an_encrypted_plan_file_is_sealed_in_parts_as_seal_seals_the_whole_text(
    make: Callable[[], Plan], tmp_path: Path
) -> None:
    """The same envelope (json.dumps of it, indent 2), and the same ciphertext and tag as
    AES-GCM in one call over the whole text (what StateKeys.seal made) under its nonce."""
    keys = StateKeys(write=StateKey.generate())
    plan = make()
    path = tmp_path / "plan.json"
    save_plan(path, plan, keys=keys)
    text = path.read_text(encoding="utf-8")
    envelope = json.loads(text)
    assert text == json.dumps(envelope, indent=2) + "\n"
    assert list(envelope) == ["kind", "encrypted"] and envelope["kind"] == PLAN_FILE_KIND
    sealed = envelope["encrypted"]
    assert keys.write is not None
    assert list(sealed) == ["alg", "kid", "data"] and sealed["kid"] == keys.write.kid
    plain = _file_text(plan, False).encode()
    raw = base64.b64decode(sealed["data"], validate=True)
    nonce = raw[:NONCE_BYTES]
    whole = AESGCM(keys.write.secret).encrypt(nonce, plain, aad(PLAN_FILE_KIND))
    assert raw == nonce + whole
    assert keys.open(sealed, aad(PLAN_FILE_KIND), "plan") == plain
    assert load_plan(path, keys) == (plan, False)


@pytest.mark.parametrize("read_size", [1, 7, 64, 1 << 20])
def test_a_plan_file_read_in_small_parts_is_the_plan_it_was(
    read_size: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every value, number and key may be cut between two reads: the plan read is the same."""
    monkeypatch.setattr(planfile, "READ_SIZE", read_size)
    plan = review_plan()
    path = tmp_path / "plan.json"
    path.write_text(_file_text(plan, False), encoding="utf-8")
    assert load_plan(path, StateKeys()) == (plan, False)
    # and the same text written compactly, on one line (a plan file a script rewrote)
    path.write_text(json.dumps(json.loads(_file_text(plan, True))), encoding="utf-8")
    assert load_plan(path, StateKeys()) == (plan, True)


def _plan_file(
    tmp_path: Path, edit: Callable[[dict[str, Any]], Any], plan: Plan | None = None
) -> Path:
    doc = json.loads(_file_text(plan if plan is not None else review_plan(), False))
    edit(doc)
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(doc, indent=2), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{\n  "kind": "lmsctl-plan",\n  "plan": {\n    "changes": [\n', "invalid JSON at line 5"),
        ('{"kind": "lmsctl-plan", "plan": {}} trailing', "invalid JSON at line 1"),
        ('{"kind": "lmsctl-plan", "plan": {"changes": [1,]}}', "invalid JSON at line 1"),
        ("[1, 2]", "is not a plan file"),
        ('{"kind": "something else", "plan": {}}', "is not a plan file"),
        ('{"kind": "lmsctl-plan"}', "is not a plan file"),
    ],
)
def test_a_file_that_is_not_a_plan_file_is_refused_as_before(
    text: str, message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(planfile, "READ_SIZE", 8)
    path = tmp_path / "plan.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(StateError, match=message) as caught:
        load_plan(path, StateKeys())
    assert str(caught.value).startswith(f"{path} ")


def test_a_damaged_change_is_named_as_before(tmp_path: Path) -> None:
    """A change without its address: the file is read whole again for the same message."""
    path = _plan_file(tmp_path, lambda d: d["plan"]["changes"][3].pop("address"))
    with pytest.raises(StateError) as caught:
        load_plan(path, StateKeys())
    assert str(caught.value) == "the plan file is damaged: 'address' (run lmsctl plan again)"


def test_an_old_format_is_refused_for_its_format_not_its_changes(tmp_path: Path) -> None:
    """A 0.x plan whose changes this lmsctl cannot read: the format is what is named."""

    def old(doc: dict[str, Any]) -> None:
        doc["plan"]["format_version"] = "0.9"
        doc["plan"]["changes"][0] = {"addr": "x"}

    with pytest.raises(StateError, match=r"plan format 0\.9 is not supported"):
        load_plan(_plan_file(tmp_path, old), StateKeys())


def test_a_private_document_is_refused_before_anything_is_applied(tmp_path: Path) -> None:
    def private(doc: dict[str, Any]) -> None:
        doc["plan"]["privacy"] = {"level": "redact", "pseudonyms": None}

    with pytest.raises(StateError, match="this plan document is redact"):
        load_plan(_plan_file(tmp_path, private), StateKeys())


def test_reading_a_plan_file_never_holds_the_whole_document(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """show and apply PLANFILE of 800 grade changes, read 16 KB at a time: the Plan, and little
    beside it (the whole text and the whole document were there too before)."""
    monkeypatch.setattr(planfile, "READ_SIZE", 16 * 1024)
    plan = first_apply_plan(sections=2, assignments=4, students=100)
    path = tmp_path / "plan.json"
    save_plan(path, plan, keys=StateKeys())

    def whole() -> Plan:
        return plan_from_document(json.loads(path.read_text(encoding="utf-8"))["plan"])

    gc.collect()
    tracemalloc.start()
    loaded = whole()
    kept = tracemalloc.get_traced_memory()[0]  # what the Plan itself takes
    tracemalloc.stop()
    assert loaded == plan
    before = _peak(whole)
    streamed = _peak(lambda: load_plan(path, StateKeys()))
    assert before > 2 * kept  # the measure measures: text and document beside the Plan
    assert streamed < kept + 200_000, (streamed, kept, before)


@pytest.mark.parametrize("encrypted", [False, True])
def test_saving_a_plan_file_never_holds_the_whole_document(
    encrypted: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """plan --out of 800 grade changes (sealed 16 KB at a time): a small part of the text."""
    monkeypatch.setattr(planfile, "WRITE_SIZE", 16 * 1024)
    keys = StateKeys(write=StateKey.generate()) if encrypted else StateKeys()
    plan = first_apply_plan(sections=2, assignments=4, students=100)
    whole = _peak(lambda: _file_text(plan, False))  # the text alone, before it was sealed
    save_plan(tmp_path / "warm.json", plan, keys=keys)  # imports, OpenSSL: not measured
    streamed = _peak(lambda: save_plan(tmp_path / "plan.json", plan, keys=keys))
    assert whole > 1_000_000
    assert streamed < whole / 5, (streamed, whole)


def test_text_the_changes_repeat_is_read_as_one_string(tmp_path: Path) -> None:
    """Section ids and names, keys, students and field names: one string for every change that
    names them (100k grades of a plan file read by show or apply name 100 sections)."""
    plan = first_apply_plan(sections=2, assignments=3, students=5)
    path = tmp_path / "plan.json"
    save_plan(path, plan, keys=StateKeys())
    loaded, _ = load_plan(path, StateKeys())
    assert loaded == plan
    grades = [c for c in loaded.changes if c.student is not None]
    a, b = grades[0], grades[1]  # two students' grades on one assignment
    assert (a.section_id, a.key) == (b.section_id, b.key)
    assert a.section_id is b.section_id and a.key is b.key and a.section_name is b.section_name
    assert a.depends_on is b.depends_on and a.fields[0].field is b.fields[0].field
    assert next(iter(a.body)) is next(iter(b.body))
    same_student = [c for c in grades if c.student == a.student]
    assert len(same_student) == 3 and all(c.student is a.student for c in same_student)


@pytest.mark.parametrize(
    ("damage", "named"),
    [
        (lambda c: c.__setitem__("actions", ["explode"]), "'explode' is not a valid Action"),
        (lambda c: c.__setitem__("kind", "quiz"), "'quiz' is not a valid ResourceKind"),
        (lambda c: c.__setitem__("reasons", ["whim"]), "'whim' is not a valid Reason"),
        (lambda c: c.__setitem__("reasons", [7]), "7 is not a valid Reason"),
        (lambda c: c["fields"][0].__setitem__("why", "mood"), "'mood' is not a valid FieldReason"),
        (lambda c: c["fields"][0].pop("applied"), None),
        (
            lambda c: c["fields"][0].__setitem__("extra", 1),
            "FieldChange.__init__() got an unexpected keyword argument 'extra'",
        ),
    ],
)
def test_a_change_with_a_code_this_lmsctl_does_not_know_is_refused_by_name(
    damage: Any, named: str | None, tmp_path: Path
) -> None:
    """Every code of a change is read back (action, kind, reasons, each field's why); one this
    lmsctl does not know refuses the file and names it. A field without its applied value is
    one from before that value was written: it reads as never applied."""
    plan = review_plan()
    at = next(i for i, c in enumerate(plan.changes) if c.fields)

    def edit(doc: dict[str, Any]) -> None:
        damage(doc["plan"]["changes"][at])

    path = _plan_file(tmp_path, edit, plan)
    if named is None:
        loaded, _ = load_plan(path, StateKeys())
        assert loaded.changes[at].fields[0].applied is None
        assert loaded.changes[at].fields[1:] == plan.changes[at].fields[1:]
        return
    with pytest.raises(StateError) as caught:
        load_plan(path, StateKeys())
    assert str(caught.value) == f"the plan file is damaged: {named} (run lmsctl plan again)"


def _sealed_file(tmp_path: Path, keys: StateKeys, plan: Plan | None = None) -> Path:
    path = tmp_path / "plan.json"
    save_plan(path, plan if plan is not None else review_plan(), keys=keys)
    return path


def _no_whole_reading(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if the file is read whole or its envelope opened in one piece."""

    def refused(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("read whole")

    monkeypatch.setattr(planfile, "_read_whole", refused)
    monkeypatch.setattr(StateKeys, "open", refused)


@pytest.mark.parametrize("read_size", [1, 7, 64, 1 << 20])
def test_an_encrypted_plan_file_is_opened_as_it_is_read(
    read_size: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The envelope's data is decrypted a part at a time, cut anywhere: the same plan."""
    keys = StateKeys(write=StateKey.generate())
    plan = review_plan()
    path = _sealed_file(tmp_path, keys, plan)
    monkeypatch.setattr(planfile, "READ_SIZE", read_size)
    _no_whole_reading(monkeypatch)
    assert load_plan(path, keys) == (plan, False)


def _damage(text: str, how: str) -> str:
    """The plan file's text with its envelope's data changed."""
    doc = json.loads(text)
    data: str = doc["encrypted"]["data"]
    middle = len(data) // 2
    flip = {"A": "B"}.get(data[middle], "A")
    changed = {
        "ciphertext": data[:middle] + flip + data[middle + 1 :],
        "tag": data[:-6] + ("AAAA" if data[-6:-2] != "AAAA" else "BBBB") + data[-2:],
        "truncated": data[:-8],
        "cut to a part": data[: len(data) - 5],
        "lengthened": data + "QUJD",
        "short": data[:20],
        "not base64": data[:middle] + "*" + data[middle + 1 :],
    }[how]
    doc["encrypted"]["data"] = changed
    return json.dumps(doc, indent=2) + "\n"


@pytest.mark.parametrize(
    "how",
    ["ciphertext", "tag", "truncated", "cut to a part", "lengthened", "short", "not base64"],
)
@pytest.mark.parametrize("read_size", [64, 1 << 20])
def test_a_changed_encrypted_plan_file_fails_its_integrity_check_as_before(
    how: str, read_size: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whatever was parsed of the plaintext before its tag was checked is dropped: the error is
    the one opening the whole envelope gives, and nothing is returned."""
    keys = StateKeys(write=StateKey.generate())
    path = _sealed_file(tmp_path, keys)
    path.write_text(_damage(path.read_text(encoding="utf-8"), how), encoding="utf-8")
    envelope = json.loads(path.read_text(encoding="utf-8"))["encrypted"]
    with pytest.raises(StateError) as whole:
        keys.open(envelope, aad(PLAN_FILE_KIND), f"plan file {path}")
    monkeypatch.setattr(planfile, "READ_SIZE", read_size)
    with pytest.raises(StateError) as caught:
        load_plan(path, keys)
    assert str(caught.value) == str(whole.value)
    assert "fails its integrity check" in str(caught.value)


def test_an_encrypted_plan_file_needs_its_key_as_before(tmp_path: Path) -> None:
    path = _sealed_file(tmp_path, StateKeys(write=StateKey.generate()))
    with pytest.raises(StateError, match=r"is encrypted \(key id \w+\) and LMSCTL_STATE_KEY is"):
        load_plan(path, StateKeys())
    other = StateKeys(write=StateKey.generate())
    with pytest.raises(StateError, match="is encrypted with another key"):
        load_plan(path, other)


@pytest.mark.parametrize("form", ["data first", "escaped", "one line"])
def test_an_envelope_in_another_form_is_read_whole_as_before(form: str, tmp_path: Path) -> None:
    """An envelope rewritten by another tool (its keys reordered, a JSON escape in its data, all
    on one line) is not the form that is opened as it is read: it is read whole, the same plan."""
    keys = StateKeys(write=StateKey.generate())
    plan = review_plan()
    path = _sealed_file(tmp_path, keys, plan)
    doc = json.loads(path.read_text(encoding="utf-8"))
    sealed = doc["encrypted"]
    if form == "data first":
        doc["encrypted"] = {"data": sealed["data"], "alg": sealed["alg"], "kid": sealed["kid"]}
        text = json.dumps(doc, indent=2)
    elif form == "escaped":
        first = sealed["data"][0]
        escaped = f"\\u{ord(first):04x}"  # the same character, as a JSON escape
        text = json.dumps(doc, indent=2).replace(f'"data": "{first}', f'"data": "{escaped}', 1)
    else:
        text = json.dumps(doc)
    assert json.loads(text) == doc
    path.write_text(text, encoding="utf-8")
    assert load_plan(path, keys) == (plan, False)


@pytest.mark.parametrize(
    ("plain", "message"),
    [(b"[1, 2]", "is not a plan file"), (b"not json", "is not a plan file once decrypted")],
)
def test_a_genuine_envelope_that_holds_no_plan_is_refused_as_before(
    plain: bytes, message: str, tmp_path: Path
) -> None:
    keys = StateKeys(write=StateKey.generate())
    envelope = keys.seal(plain, aad(PLAN_FILE_KIND))
    path = tmp_path / "plan.json"
    path.write_text(json.dumps({"kind": PLAN_FILE_KIND, "encrypted": envelope}, indent=2))
    with pytest.raises(StateError, match=message):
        load_plan(path, keys)


def test_reading_an_encrypted_plan_file_never_holds_the_whole_text(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """apply PLANFILE of 800 grade changes, encrypted: the Plan and little beside it (before,
    the base64 text, the ciphertext and the plaintext were all there at once)."""
    keys = StateKeys(write=StateKey.generate())
    plan = first_apply_plan(sections=2, assignments=4, students=100)
    path = _sealed_file(tmp_path, keys, plan)
    monkeypatch.setattr(planfile, "READ_SIZE", 16 * 1024)
    load_plan(path, keys)  # imports, OpenSSL: not measured
    gc.collect()
    tracemalloc.start()
    loaded, _ = load_plan(path, keys)
    kept = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    assert loaded == plan

    def whole() -> bytes:  # what opening the envelope in one piece holds at once
        sealed = json.loads(path.read_text(encoding="utf-8"))["encrypted"]
        return keys.open(sealed, aad(PLAN_FILE_KIND), "plan")

    before = _peak(whole)
    streamed = _peak(lambda: load_plan(path, keys))
    assert before > 2 * path.stat().st_size > 2_000_000  # the measure measures
    assert streamed < kept + 300_000, (streamed, kept, before)
