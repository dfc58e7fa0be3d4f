"""Encryption at rest: with LMSCTL_STATE_KEY set, no grade, student id, title or comment can be
read from the state file, its journal, its backup, a plan file or a recovery file; a missing or
wrong key is one clean error; rekey rotates the key; state in clear keeps working."""

from __future__ import annotations

import errno
import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from lmsctl.state import LocalBackend
from lmsctl.state.crypto import StateKey, StateKeys
from lmsctl.state.model import StateSnapshot
from tests.support.e2e import EXAMPLES, CliResult

KEY = StateKey.generate().export()
OTHER = StateKey.generate().export()
STATE = Path("coursework/.lmsctl/sandbox/state.json")


@pytest.fixture
def invoke(lmsctl: Callable[..., CliResult]) -> Callable[..., CliResult]:
    """The shared in-process runner (tests/support/e2e.py), under this file's name for it."""
    return lmsctl


def _manifest_values() -> set[str]:
    """Titles, grade comments, decimal grade values and roster references in the manifests."""
    values: set[str] = set()
    for path in EXAMPLES.rglob("*.yaml"):
        text = path.read_text()
        values.update(t.strip().strip('"') for t in re.findall(r"\btitle: (.+)", text))
        values.update(c.strip() for c in re.findall(r"grade_comment: ([^,}\n]+)", text))
        values.update(re.findall(r"grade_points: (\d+\.\d+)", text))
        values.update(re.findall(r"(?:sis|email|student_number):[^\s,:{]+", text))
    for path in EXAMPLES.rglob("*.csv"):
        values.update(re.findall(r",\"?([A-Z][a-z]+[ ,][^\",\n]+)\"?,", path.read_text()))
    return {v for v in values if len(v) >= 3}


def _sensitive(snapshot: StateSnapshot) -> set[str]:
    """Everything state holds that names a student or gives a grade or title away."""
    values = set(_manifest_values())
    for record in snapshot.resources.values():
        values.update(record.grades)  # student ids
        if record.applied.get("title"):
            values.add(str(record.applied["title"]))
        for grade in record.grades.values():
            for name, value in grade.items():
                if name == "grade_comment" and value:
                    values.add(str(value))
                if isinstance(value, float) and not value.is_integer():
                    values.add(repr(value))  # base64 has no '.', so a decimal is findable
    # field names: without them no value can be read off (an integer grade in clear would
    # stand next to "grade_points")
    values.update({"grade_points", "grade_comment", "grades", '"title"', "applied"})
    return values


def _leaks(raw: bytes, values: set[str]) -> list[str]:
    """The values found in ``raw``; a number only as a number of its own (8.5 is in a
    clear '"grade_points": 8.5', not in a timestamp's '12:07:58.512')."""
    text = raw.decode("utf-8", "replace")

    def found(value: str) -> bool:
        if re.fullmatch(r"-?\d+(\.\d+)?", value):
            return re.search(rf"(?<![\d.]){re.escape(value)}(?![\d.])", text) is not None
        return value in text

    return sorted(v for v in values if found(v))


def test_the_scan_looks_for_real_values() -> None:
    values = _manifest_values()
    assert "Homework 1: Linear equations" in values and "Excellent work" in values
    assert "8.5" in values and "sis:603" in values and "Neat, careful work" in values


def test_with_the_key_set_no_grade_student_or_title_is_in_state_plan_or_recovery_files(
    coursework: Path,
    invoke: Callable[..., CliResult],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("LMSCTL_STATE_KEY", KEY)
    plan = invoke("--sandbox", "plan", str(coursework), "--out", "plan.json")
    assert plan.code == 0, plan.text
    applied = invoke("--sandbox", "apply", "plan.json", "--auto-approve")
    assert applied.code == 0, applied.text
    assert "23 grades set" in applied.out

    keys = StateKeys(write=_key(KEY))
    snapshot = LocalBackend(STATE, keys).read()
    assert len(snapshot.resources) == 11 and snapshot.grade_count == 23
    values = _sensitive(snapshot)
    assert any(re.fullmatch(r"[0-9a-f]{24}", v) for v in values)  # student ids are in the list

    # the clear form holds them all (the scan would find a leak), the files hold none
    plain = json.dumps(snapshot.to_dict())
    assert "Homework 1: Linear equations" in plain and "grade_points" in plain
    for path in (STATE, STATE.with_name("state.json.backup"), Path("plan.json")):
        assert path.exists(), path
        assert _leaks(path.read_bytes(), values) == [], path

    # a second run: a grade changes; its journal line and the recovery file of a failed save
    manifest = coursework / "lincoln-high" / "algebra-1-period-2.yaml"
    text = manifest.read_text()
    manifest.write_text(
        text.replace(
            "{grade_points: 8.5, state: returned}", "{grade_points: 9.25, state: returned}"
        )
    )
    values.add("9.25")
    journal = STATE.with_name("state.json.journal")
    seen: dict[str, bytes] = {}
    real_append = LocalBackend._append

    def disk_full_after_one(self: LocalBackend, line: bytes) -> None:
        if "journal" in seen:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_append(self, line)
        seen["journal"] = journal.read_bytes()

    monkeypatch.setattr(LocalBackend, "_append", disk_full_after_one)
    manifest.write_text(
        manifest.read_text().replace(
            "{grade_points: 24, state: returned}", "{grade_points: 23.5, state: returned}"
        )
    )
    values.add("23.5")
    failed = invoke("--sandbox", "apply", str(coursework), "--auto-approve", "--parallelism", "1")
    assert failed.code == 1, failed.text
    assert "Traceback" not in failed.err
    recoveries = sorted((coursework / ".lmsctl" / "sandbox").glob("recovery-*.json"))
    assert len(recoveries) == 1, failed.err
    assert seen["journal"].count(b"\n") == 1
    assert _leaks(seen["journal"], values) == []
    assert _leaks(recoveries[0].read_bytes(), values) == []
    monkeypatch.setattr(LocalBackend, "_append", real_append)

    # the encrypted recovery file is found without the key, and pushed with it
    monkeypatch.delenv("LMSCTL_STATE_KEY")
    blocked = invoke("--sandbox", "apply", str(coursework), "--auto-approve")
    assert blocked.code == 1 and "lmsctl state push" in blocked.err
    monkeypatch.setenv("LMSCTL_STATE_KEY", KEY)
    pushed = invoke("--sandbox", "state", "push", str(recoveries[0]), "--root", str(coursework))
    assert pushed.code == 0, pushed.text
    done = invoke("--sandbox", "apply", str(coursework), "--auto-approve")
    assert done.code == 0, done.text
    again = invoke("--sandbox", "plan", str(coursework), "--detailed-exitcode")
    assert again.code == 0, again.text
    for path in (STATE, STATE.with_name("state.json.backup")):
        assert _leaks(path.read_bytes(), values) == [], path


@pytest.mark.parametrize("key", [None, OTHER], ids=["missing", "wrong"])
def test_a_missing_or_wrong_key_is_one_clean_error_naming_the_file(
    coursework: Path,
    invoke: Callable[..., CliResult],
    monkeypatch: pytest.MonkeyPatch,
    key: str | None,
) -> None:
    monkeypatch.setenv("LMSCTL_STATE_KEY", KEY)
    assert invoke("--sandbox", "apply", str(coursework), "--auto-approve").code == 0
    assert invoke("--sandbox", "plan", str(coursework), "--out", "plan.json").code == 0
    if key is None:
        monkeypatch.delenv("LMSCTL_STATE_KEY")
    else:
        monkeypatch.setenv("LMSCTL_STATE_KEY", key)
    for args, where in [
        (("--sandbox", "plan", str(coursework)), "state file"),
        (("--sandbox", "state", "list", "--root", str(coursework)), "state file"),
        (("--sandbox", "apply", "plan.json", "--auto-approve"), "plan file plan.json"),
        (("show", "plan.json"), "plan file plan.json"),
    ]:
        result = invoke(*args)
        assert result.code == 1, (args, result.text)
        lines = result.err.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in result.err, result.err
        assert where in lines[0] and "LMSCTL_STATE_KEY" in lines[0], lines[0]
        assert ("is not set" in lines[0]) == (key is None), lines[0]
        assert "No assignments" not in result.out  # never a silent empty state


def test_a_tampered_or_swapped_ciphertext_is_refused(
    coursework: Path, invoke: Callable[..., CliResult], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LMSCTL_STATE_KEY", KEY)
    assert invoke("--sandbox", "apply", str(coursework), "--auto-approve").code == 0
    data = json.loads(STATE.read_text())
    data["serial"] += 1  # the clear header no longer matches what was sealed with it
    STATE.write_text(json.dumps(data))
    result = invoke("--sandbox", "state", "list", "--root", str(coursework))
    assert result.code == 1 and "integrity check" in result.err, result.text
    assert len(result.err.strip().splitlines()) == 1


def test_rekey_rotates_the_key_and_encrypts_state_kept_in_clear(
    coursework: Path, invoke: Callable[..., CliResult], monkeypatch: pytest.MonkeyPatch
) -> None:
    # in clear, as before: still works, and rekey with the key set encrypts it
    assert invoke("--sandbox", "apply", str(coursework), "--auto-approve").code == 0
    assert b"grade_points" in STATE.read_bytes()
    listed = invoke("--sandbox", "state", "list", "--root", str(coursework))
    assert listed.code == 0 and "11 assignment(s), 23 grade(s)" in listed.out

    monkeypatch.setenv("LMSCTL_STATE_KEY", KEY)
    # with the key set, plain state is read; what is saved from now on is encrypted
    assert invoke("--sandbox", "state", "list", "--root", str(coursework)).code == 0
    done = invoke("--sandbox", "state", "rekey", "--root", str(coursework))
    assert done.code == 0, done.text
    assert "Encrypted" in done.out
    for path in (STATE, STATE.with_name("state.json.backup")):
        assert b"grade_points" not in path.read_bytes(), path

    monkeypatch.setenv("LMSCTL_STATE_NEW_KEY", OTHER)
    rotated = invoke("--sandbox", "state", "rekey", "--root", str(coursework))
    assert rotated.code == 0, rotated.text
    assert "Set LMSCTL_STATE_KEY to the new key" in rotated.out
    monkeypatch.delenv("LMSCTL_STATE_NEW_KEY")
    old = invoke("--sandbox", "state", "list", "--root", str(coursework))
    assert old.code == 1 and "another key" in old.err
    monkeypatch.setenv("LMSCTL_STATE_KEY", OTHER)
    new = invoke("--sandbox", "plan", str(coursework), "--detailed-exitcode")
    assert new.code == 0, new.text  # everything read back: nothing to change
    listed = invoke("--sandbox", "state", "list", "--root", str(coursework))
    assert listed.code == 0 and "11 assignment(s), 23 grade(s)" in listed.out

    back = invoke("--sandbox", "state", "rekey", "--decrypt", "--root", str(coursework))
    assert back.code == 0, back.text
    monkeypatch.delenv("LMSCTL_STATE_KEY")
    assert b"grade_points" in STATE.read_bytes()
    assert invoke("--sandbox", "plan", str(coursework), "--detailed-exitcode").code == 0


@pytest.mark.parametrize("when", ["before-the-snapshot", "after-the-snapshot"])
def test_an_interrupted_rekey_leaves_state_readable_and_finishes_when_run_again(
    coursework: Path,
    invoke: Callable[..., CliResult],
    monkeypatch: pytest.MonkeyPatch,
    when: str,
) -> None:
    monkeypatch.setenv("LMSCTL_STATE_KEY", KEY)
    assert invoke("--sandbox", "apply", str(coursework), "--auto-approve").code == 0
    monkeypatch.setenv("LMSCTL_STATE_NEW_KEY", OTHER)

    def die(*_args: object) -> None:
        raise KeyboardInterrupt  # the process is killed here

    import lmsctl.state.local as local

    real = (LocalBackend._sealed_copy, local.rekey_recovery_files)
    if when == "before-the-snapshot":
        monkeypatch.setattr(LocalBackend, "_sealed_copy", die)
    else:
        monkeypatch.setattr(local, "rekey_recovery_files", die)
    with pytest.raises(KeyboardInterrupt):
        LocalBackend(STATE).rekey(StateKeys(write=_key(OTHER), extra_read=(_key(KEY),)))
    monkeypatch.setattr(LocalBackend, "_sealed_copy", real[0])
    monkeypatch.setattr(local, "rekey_recovery_files", real[1])
    # every file is whole, under the old key or the new one
    readable = _key(KEY) if when == "before-the-snapshot" else _key(OTHER)
    assert len(LocalBackend(STATE, StateKeys(write=readable)).read().resources) == 11
    again = invoke("--sandbox", "state", "rekey", "--root", str(coursework))
    assert again.code == 0, again.text
    monkeypatch.setenv("LMSCTL_STATE_KEY", OTHER)
    monkeypatch.delenv("LMSCTL_STATE_NEW_KEY")
    for path in (STATE, STATE.with_name("state.json.backup")):
        assert json.loads(path.read_text())["encrypted"]["kid"] == _key(OTHER).kid, path
    assert invoke("--sandbox", "plan", str(coursework), "--detailed-exitcode").code == 0


def test_a_bad_key_value_is_a_clean_error_and_keygen_makes_good_ones(
    coursework: Path, invoke: Callable[..., CliResult], monkeypatch: pytest.MonkeyPatch
) -> None:
    made = invoke("state", "keygen")
    assert made.code == 0 and len(made.out.strip()) == 44
    assert _key(made.out.strip()).kid != _key(KEY).kid
    monkeypatch.setenv("LMSCTL_STATE_KEY", "too-short")
    result = invoke("--sandbox", "plan", str(coursework))
    assert result.code == 1 and "LMSCTL_STATE_KEY is not a valid state key" in result.err
    assert "lmsctl state keygen" in result.err and "Traceback" not in result.err


def _key(text: str) -> StateKey:
    from lmsctl.state.crypto import parse_key

    return parse_key(text)


@pytest.mark.parametrize(
    ("ci", "key", "warned"),
    [(True, None, True), (True, KEY, False), (False, None, False)],
    ids=["ci-in-clear", "ci-encrypted", "laptop-in-clear"],
)
def test_a_recovery_file_in_clear_in_a_private_run_is_flagged_in_the_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ci: bool, key: str | None, warned: bool
) -> None:
    from lmsctl.errors import StateSaveError
    from tests.support.factories import make_record, make_snapshot

    if ci:
        monkeypatch.setenv("CI", "true")
    if key:
        monkeypatch.setenv("LMSCTL_STATE_KEY", key)
    backend = LocalBackend(tmp_path / ".lmsctl" / "state.json")
    snapshot = make_snapshot(make_record("hw-01"))
    backend.write(snapshot)

    def disk_full(self: LocalBackend, line: bytes) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(LocalBackend, "_append", disk_full)
    with pytest.raises(StateSaveError) as caught:
        backend.save(snapshot, [make_record("hw-01").address])
    assert caught.value.recovery_file
    assert ("grades in clear: do not upload" in str(caught.value)) == warned
    raw = Path(caught.value.recovery_file).read_bytes()
    assert (b"grade_points" in raw) == (key is None)


def test_a_plan_file_saved_in_ci_says_whether_its_grades_are_in_clear(
    coursework: Path,
    tmp_path: Path,
    invoke: Callable[..., CliResult],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A plan file is the full plan apply needs; in CI the run says whether it is sealed under
    LMSCTL_STATE_KEY, and without the key that it holds grades in clear and must not be
    uploaded."""
    monkeypatch.setenv("CI", "true")
    monkeypatch.setenv("LMSCTL_PSEUDONYM_KEY", "a per-repository secret")
    monkeypatch.delenv("LMSCTL_STATE_KEY", raising=False)
    clear = tmp_path / "clear.json"
    made = invoke("--sandbox", "plan", str(coursework), "--out", str(clear))
    assert made.code == 0, made.text
    assert "grades in clear (LMSCTL_STATE_KEY is not set): do not upload" in made.err
    assert "5f1a0c0b8e1d2a0001b00001" in clear.read_text()  # what the warning is about

    monkeypatch.setenv("LMSCTL_STATE_KEY", KEY)
    sealed = tmp_path / "sealed.json"
    made = invoke("--sandbox", "plan", str(coursework), "--out", str(sealed))
    assert made.code == 0, made.text
    assert "encrypted under LMSCTL_STATE_KEY" in made.err and "in clear" not in made.err
    assert "5f1a0c0b8e1d2a0001b00001" not in sealed.read_text()

    monkeypatch.delenv("CI")  # on a laptop without privacy: in lmsctl.yaml: no notice
    monkeypatch.delenv("LMSCTL_STATE_KEY")
    made = invoke("--sandbox", "plan", str(coursework), "--out", str(clear))
    assert made.code == 0 and "in clear" not in made.err and "encrypted" not in made.err
