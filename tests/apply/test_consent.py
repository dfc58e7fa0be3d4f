"""Every safety gate reads typed data, never words: reword every message and the gates still
refuse, even after the plan went through a plan file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lmsctl.apply.consent import check_consent
from lmsctl.apply.executor import ApplyOptions
from lmsctl.errors import PlanError, StateError
from lmsctl.model import PolicyConfig, ProjectConfig
from lmsctl.plan import model as plan_model
from lmsctl.plan import words
from lmsctl.plan.builder import PlanBuilder
from lmsctl.plan.document import plan_to_document
from lmsctl.plan.model import Consent, Plan
from lmsctl.plan.planfile import load_plan, save_plan
from tests.support.factories import (
    BASE,
    S1,
    S2,
    SEC,
    assignment,
    desired,
    grade,
    live,
    record,
    state,
    sub,
)

DESTROY, MASS = Consent.DESTROY_SUBMISSIONS, Consent.MASS_DELETE
AID2 = "4a2d3b0f-8e5c-4f1b-8b72-3c8d6e9f0a21"
AID3 = "5b3e4c1a-9f6d-4a2c-9c83-4d9e7f0a1b32"
NONSENSE = "lorem ipsum"


def _reword_everything(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every table of words, and every apply flag's name, says something else."""
    for table in (
        words.REASON_WORDS,
        words.CONFLICT_WORDS,
        words.CONSENT_WORDS,
    ):
        for key in list(table):
            monkeypatch.setitem(table, key, f"{NONSENSE} {key.value}")  # type: ignore[attr-defined]
    monkeypatch.setattr(words, "UNKNOWN_OUTCOME_WORDS", NONSENSE)
    monkeypatch.setattr(words, "UNKNOWN_REMOVED_WORDS", NONSENSE)
    for consent in Consent:
        monkeypatch.setitem(plan_model._CONSENT_FLAGS, consent, f"--{NONSENSE}-{consent.value}")


def _round_trip(plan: Plan, tmp_path: Path, *, reworded: bool) -> Plan:
    """Through a plan file, with every warning reworded too."""
    path = tmp_path / "plan.json"
    save_plan(path, plan)
    doc = json.loads(path.read_text())
    doc["plan"]["warnings"] = [NONSENSE for _ in doc["plan"]["warnings"]]
    path.write_text(json.dumps(doc))
    text = path.read_text()
    if reworded:
        assert NONSENSE in text  # the words really changed ...
        for old in (
            "allow-destroy-submissions",
            "allow-mass-delete",
            "student work",
            "tracked assignments",
            "already set in the LMS",
            "no longer in the manifests",
        ):
            assert old not in text  # ... and none of the old ones is left to read
    loaded, _ = load_plan(path)
    return loaded


def _destroying_plan() -> Plan:
    """One of three assignments is deleted, and it holds a graded submission."""
    recs = [record(), record("hw-02", aid=AID2), record("hw-03", aid=AID3)]
    lv = live(
        {r.address: dict(BASE) for r in recs},
        {recs[0].address: {S1: sub(S1, grade_points=4.0)}, recs[1].address: {}},
    )
    d = desired(assignment("hw-02"), assignment("hw-03"))
    return PlanBuilder(d, state(*recs), lv).build()


def _mass_deleting_plan() -> Plan:
    """Both assignments of the section are deleted; neither holds student work."""
    recs = [record(), record("hw-02", aid=AID2)]
    lv = live({r.address: dict(BASE) for r in recs}, {r.address: {S1: sub(S1)} for r in recs})
    return PlanBuilder(desired(), state(*recs), lv).build()


def _conflicting_plan() -> Plan:
    subs = {S1: sub(S1, grade_points=5.0), S2: sub(S2)}
    lv = live({f"{SEC}/hw-01": dict(BASE)}, {f"{SEC}/hw-01": subs})
    d = desired(assignment(grades=(grade(S1, grade_points=9), grade(S2, grade_points=8))))
    return PlanBuilder(d, state(record()), lv).build()


def _refuses(plan: Plan, *given: Consent) -> bool:
    try:
        check_consent(plan, ApplyOptions(consents=frozenset(given)))
    except PlanError:
        return True
    return False


@pytest.mark.parametrize("reworded", [False, True])
def test_each_gate_refuses_until_its_own_flag_is_given(
    reworded: bool, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    if reworded:
        _reword_everything(monkeypatch)
    destroying = _round_trip(_destroying_plan(), tmp_path, reworded=reworded)
    assert _refuses(destroying)
    assert _refuses(destroying, MASS)  # the other flag does not consent to this danger
    assert not _refuses(destroying, DESTROY)

    mass = _round_trip(_mass_deleting_plan(), tmp_path, reworded=reworded)
    assert _refuses(mass)
    assert _refuses(mass, DESTROY)
    assert not _refuses(mass, MASS)

    conflicting = _round_trip(_conflicting_plan(), tmp_path, reworded=reworded)
    assert _refuses(conflicting, DESTROY, MASS)  # no flag consents to overwriting a teacher


def test_a_delete_of_student_work_needs_consent_even_without_its_record(
    tmp_path: Path,
) -> None:
    """The delete's own typed impact is enough: a plan file stripped of its consent records
    still refuses."""
    path = tmp_path / "plan.json"
    save_plan(path, _destroying_plan())
    doc = json.loads(path.read_text())
    assert doc["plan"]["consents"]
    doc["plan"]["consents"] = []
    path.write_text(json.dumps(doc))
    stripped, _ = load_plan(path)
    assert _refuses(stripped)
    assert not _refuses(stripped, DESTROY)


def test_the_refusal_names_the_flag_for_each_danger() -> None:
    with pytest.raises(PlanError) as destroy:
        check_consent(_destroying_plan(), ApplyOptions())
    assert "--allow-destroy-submissions" in str(destroy.value)
    assert "--allow-mass-delete" not in str(destroy.value)
    with pytest.raises(PlanError) as mass:
        check_consent(_mass_deleting_plan(), ApplyOptions())
    assert "--allow-mass-delete" in str(mass.value)
    assert "--allow-destroy-submissions" not in str(mass.value)


def test_a_mass_delete_follows_the_policy_fraction() -> None:
    recs = [record(), record("hw-02", aid=AID2)]
    lv = live({r.address: dict(BASE) for r in recs}, {r.address: {} for r in recs})
    lenient = ProjectConfig(policies=PolicyConfig(max_delete_fraction=1.0))
    plan = PlanBuilder(desired(config=lenient), state(*recs), lv).build()
    assert plan.consents == ()
    assert not _refuses(plan)


def test_a_plan_file_from_before_typed_consents_is_refused_clearly(tmp_path: Path) -> None:
    path = tmp_path / "old.json"
    doc = {"kind": "lmsctl-plan", "plan": plan_to_document(_mass_deleting_plan())}
    doc["plan"]["format_version"] = "1.0"
    path.write_text(json.dumps(doc))
    with pytest.raises(StateError) as refused:
        load_plan(path)
    assert "plan format 1.0 was written by an older lmsctl" in str(refused.value)
    assert "run lmsctl plan again" in str(refused.value)
