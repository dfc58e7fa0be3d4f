"""Hand-built plans for the renderer tests, with ids from the demo district (demo-seed.yaml).

Section 1 is "Algebra 1 - Okafor - Period 2" (5f1a0c0b8e1d2a0001a00001), students b00001..b00019;
section 2 is "Biology - Reyes - Period 4" (5f1a0c0b8e1d2a0001a00002), students b0001a..b00032.
"""

from __future__ import annotations

from dataclasses import replace

from lmsctl.plan.model import (
    Action,
    ApprovalNeed,
    ApprovalRule,
    Change,
    Conflict,
    ConflictReason,
    Consent,
    ConsentNeed,
    DeleteImpact,
    Drift,
    FieldChange,
    FieldReason,
    FrozenChange,
    Plan,
    Reason,
    ResourceKind,
    StateFix,
)

DISTRICT = "5f1a0c0b8e1d2a0001000001"
API_URL = "https://api.clever.com/v3.1"
ALGEBRA = "5f1a0c0b8e1d2a0001a00001"
BIOLOGY = "5f1a0c0b8e1d2a0001a00002"
ALGEBRA_NAME = "algebra-1-period-2"
BIOLOGY_NAME = "biology-period-4"
ALGEBRA_FILE = "sections/algebra-1-period-2.yaml"
BIOLOGY_FILE = "sections/biology-period-4.yaml"
NOW = "2026-11-23T19:00:00.000Z"

#: demo students of section 1 (id suffix -> name)
ALGEBRA_STUDENTS = {
    "b00001": "Mateo Chen",
    "b00002": "Chloe Clark",
    "b00003": "Caleb Patel",
    "b00004": "Yara Hernandez",
    "b00005": "Elijah Young",
    "b00006": "Priya Kim",
    "b00007": "Malik Taylor",
    "b00008": "Grace Wright",
}


def sid(suffix: str) -> str:
    """A demo object id from its last six hex digits."""
    return "5f1a0c0b8e1d2a0001" + suffix


def _grade(
    section: str,
    section_name: str,
    key: str,
    title: str,
    suffix: str,
    name: str,
    fields: tuple[FieldChange, ...],
    *,
    assignment_id: str | None = None,
    reasons: tuple[Reason, ...] = (Reason.GRADE,),
    line: int = 30,
    depends: bool = False,
) -> Change:
    student = sid(suffix)
    return Change(
        address=f"{section}/{key}/grades/{student}",
        action=Action.GRADE,
        kind=ResourceKind.GRADE,
        section_id=section,
        key=key,
        student=student,
        name=name,
        section_name=section_name,
        assignment_id=assignment_id,
        fields=fields,
        body={f.field: f.after for f in fields},
        reasons=reasons,
        source=f"{ALGEBRA_FILE if section == ALGEBRA else BIOLOGY_FILE}:{line}:7",
        fingerprint=None if depends else "0c1d2e3f4a5b6c7d",
        depends_on=f"{section}/{key}" if depends else None,
    )


def full_plan() -> Plan:
    """Every action kind, drift (kept and reverted), conflicts (blocking and forced), unknown."""
    hw4_title = "Homework 4: Graphing lines"
    hw4_fields = (
        FieldChange("title", None, hw4_title, why=FieldReason.NEW),
        FieldChange(
            "description",
            None,
            "Graph each line on page 88, label both intercepts, and explain in one sentence "
            "what the slope means in the word problems 12-20.",
            why=FieldReason.NEW,
        ),
        FieldChange("due_date", None, "2026-12-19T04:59:59.000Z", why=FieldReason.NEW),
        FieldChange("points_possible", None, 10, why=FieldReason.NEW),
        FieldChange("submission_types", None, ["text", "attachment"], why=FieldReason.NEW),
        FieldChange("assignee_mode", None, "all", why=FieldReason.NEW),
    )
    lab_fields = (
        FieldChange("title", None, "Lab 2: Osmosis in potato cells", why=FieldReason.RECREATE),
        FieldChange(
            "description",
            None,
            "Follow the lab sheet; submit your data table.",
            why=FieldReason.RECREATE,
        ),
        FieldChange("due_date", None, "2026-12-12T04:59:59.000Z", why=FieldReason.RECREATE),
        FieldChange("points_possible", None, 20.5, why=FieldReason.RECREATE),
    )
    changes = (
        Change(
            address=f"{ALGEBRA}/unit-1-test",
            action=Action.MOVE,
            kind=ResourceKind.ASSIGNMENT,
            section_id=ALGEBRA,
            key="unit-1-test",
            name="Unit 1 Test",
            section_name=ALGEBRA_NAME,
            assignment_id="0b6f6e0c-3f2a-4c1e-9a57-2f1d6f0e4a11",
            reasons=(Reason.MOVED_FROM,),
            source=f"{ALGEBRA_FILE}:52:5",
            moved_from=f"{ALGEBRA}/test-1",
        ),
        Change(
            address=f"{ALGEBRA}/hw-04",
            action=Action.CREATE,
            kind=ResourceKind.ASSIGNMENT,
            section_id=ALGEBRA,
            key="hw-04",
            name=hw4_title,
            section_name=ALGEBRA_NAME,
            fields=hw4_fields,
            body={f.field: f.after for f in hw4_fields},
            reasons=(Reason.NOT_IN_LMS,),
            source=f"{ALGEBRA_FILE}:40:3",
        ),
        Change(
            address=f"{BIOLOGY}/lab-02",
            action=Action.CREATE,
            kind=ResourceKind.ASSIGNMENT,
            section_id=BIOLOGY,
            key="lab-02",
            name="Lab 2: Osmosis in potato cells",
            section_name=BIOLOGY_NAME,
            fields=lab_fields,
            body={f.field: f.after for f in lab_fields},
            reasons=(Reason.DELETED_IN_LMS,),
            source=f"{BIOLOGY_FILE}:18:3",
        ),
        Change(
            address=f"{ALGEBRA}/hw-02",
            action=Action.UPDATE,
            kind=ResourceKind.ASSIGNMENT,
            section_id=ALGEBRA,
            key="hw-02",
            name="Homework 2: Slope and intercepts",
            section_name=ALGEBRA_NAME,
            assignment_id="6a0e3c55-8b7d-4f0e-b1a2-3c4d5e6f7a82",
            fields=(
                FieldChange(
                    "title",
                    "Homework 2: Slope",
                    "Homework 2: Slope and intercepts",
                    "Homework 2: Slope",
                ),
                FieldChange("points_possible", 10, 12, 10),
                FieldChange("max_attempts", None, 3, None, FieldReason.NEWLY_MANAGED),
            ),
            unchanged=4,
            body={
                "title": "Homework 2: Slope and intercepts",
                "points_possible": 12,
                "max_attempts": 3,
            },
            reasons=(Reason.MANIFEST_CHANGED,),
            source=f"{ALGEBRA_FILE}:21:5",
            fingerprint="9f8e7d6c5b4a3921",
        ),
        Change(
            address=f"{ALGEBRA}/hw-03",
            action=Action.UPDATE,
            kind=ResourceKind.ASSIGNMENT,
            section_id=ALGEBRA,
            key="hw-03",
            name="Homework 3: Systems of equations",
            section_name=ALGEBRA_NAME,
            assignment_id="7b1f4d66-9c8e-4a1f-82b3-4d5e6f7a8b93",
            fields=(
                FieldChange(
                    "due_date",
                    "2026-12-13T04:59:59.000Z",
                    "2026-12-12T04:59:59.000Z",
                    "2026-12-12T04:59:59.000Z",
                    FieldReason.REVERT_DRIFT,
                ),
                FieldChange(
                    "description",
                    "Problems 1-10 only.",
                    "Problems 1-12 on page 61.",
                    "Problems 1-12.",
                    FieldReason.FORCED,
                ),
            ),
            unchanged=1,
            body={
                "due_date": "2026-12-12T04:59:59.000Z",
                "description": "Problems 1-12 on page 61.",
            },
            reasons=(Reason.REVERTS_DRIFT, Reason.FORCED),
            source=f"{ALGEBRA_FILE}:30:5",
            fingerprint="1a2b3c4d5e6f7081",
        ),
        _grade(
            ALGEBRA,
            ALGEBRA_NAME,
            "hw-04",
            hw4_title,
            "b00001",
            "Mateo Chen",
            (
                FieldChange("grade_points", None, 9, why=FieldReason.NEW),
                FieldChange("grade_comment", None, "Nice work", why=FieldReason.NEW),
                FieldChange("state", None, "returned", why=FieldReason.NEW),
            ),
            depends=True,
        ),
        _grade(
            ALGEBRA,
            ALGEBRA_NAME,
            "hw-04",
            hw4_title,
            "b00007",
            "Malik Taylor",
            (
                FieldChange("grade_points", None, 7.5, why=FieldReason.NEW),
                FieldChange("flags", None, ["late"], why=FieldReason.NEW),
            ),
            depends=True,
        ),
        _grade(
            ALGEBRA,
            ALGEBRA_NAME,
            "hw-02",
            "Homework 2: Slope and intercepts",
            "b00003",
            "Caleb Patel",
            (FieldChange("grade_points", 7, 9, 7),),
            assignment_id="6a0e3c55-8b7d-4f0e-b1a2-3c4d5e6f7a82",
        ),
        _grade(
            ALGEBRA,
            ALGEBRA_NAME,
            "hw-01",
            "Homework 1: Linear equations",
            "b00005",
            "Elijah Young",
            (FieldChange("grade_points", 6, 8, 8, FieldReason.REVERT_DRIFT),),
            assignment_id="5c9d2b44-7a6c-4e9d-a091-2b3c4d5e6f71",
            reasons=(Reason.GRADE, Reason.REVERTS_DRIFT),
        ),
        _grade(
            ALGEBRA,
            ALGEBRA_NAME,
            "hw-01",
            "Homework 1: Linear equations",
            "b00006",
            "Priya Kim",
            (
                FieldChange(
                    "grade_comment",
                    "See me",
                    "Great recovery on problem 7",
                    None,
                    FieldReason.NEWLY_MANAGED,
                ),
            ),
            assignment_id="5c9d2b44-7a6c-4e9d-a091-2b3c4d5e6f71",
        ),
        Change(
            address=f"{BIOLOGY}/lab-00-safety",
            action=Action.DELETE,
            kind=ResourceKind.ASSIGNMENT,
            section_id=BIOLOGY,
            key="lab-00-safety",
            name="Lab safety quiz",
            assignment_id="8c2a5e77-ad9f-4b2a-93c4-5e6f7a8b9ca4",
            reasons=(Reason.REMOVED_FROM_MANIFESTS,),
            fingerprint="3c4d5e6f70819203",
            impact=DeleteImpact(submissions=25, turned_in=3, graded=7),
        ),
        Change(
            address=f"{BIOLOGY}/draft-notes",
            action=Action.DELETE,
            kind=ResourceKind.ASSIGNMENT,
            section_id=BIOLOGY,
            key="draft-notes",
            name="Draft notes (unused)",
            assignment_id="9d3b6f88-beaf-4c3b-a4d5-6f7a8b9cadb5",
            reasons=(Reason.REMOVED_FROM_MANIFESTS,),
            fingerprint="4d5e6f7081920314",
            impact=DeleteImpact(submissions=0),
        ),
        Change(
            address=f"{ALGEBRA}/quiz-2",
            action=Action.UNKNOWN,
            kind=ResourceKind.ASSIGNMENT,
            section_id=ALGEBRA,
            key="quiz-2",
            name="Quiz 2: Slope",
            section_name=ALGEBRA_NAME,
            reasons=(Reason.OUTCOME_UNKNOWN,),
            source=f"{ALGEBRA_FILE}:60:3",
        ),
    )
    return Plan(
        changes=changes,
        drift=(
            Drift(
                f"{ALGEBRA}/hw-01",
                "due_date",
                "2026-12-05T04:59:59.000Z",
                "2026-12-07T04:59:59.000Z",
                "2026-12-05T04:59:59.000Z",
                "Homework 1: Linear equations",
                False,
                f"{ALGEBRA_FILE}:12:15",
            ),
            Drift(
                f"{ALGEBRA}/hw-01/grades/{sid('b00005')}",
                "grade_points",
                8,
                6,
                8,
                "Elijah Young",
                True,
                f"{ALGEBRA_FILE}:16:9",
            ),
            Drift(
                f"{ALGEBRA}/hw-03",
                "due_date",
                "2026-12-12T04:59:59.000Z",
                "2026-12-13T04:59:59.000Z",
                "2026-12-12T04:59:59.000Z",
                "Homework 3: Systems of equations",
                True,
                f"{ALGEBRA_FILE}:32:15",
            ),
        ),
        conflicts=(
            Conflict(
                f"{ALGEBRA}/hw-01/grades/{sid('b00002')}",
                "grade_points",
                None,
                5,
                6,
                "Chloe Clark",
                ConflictReason.NEVER_APPLIED,
                f"{ALGEBRA_FILE}:15:9",
            ),
            Conflict(
                f"{ALGEBRA}/hw-03",
                "description",
                "Problems 1-12.",
                "Problems 1-10 only.",
                "Problems 1-12 on page 61.",
                "Homework 3: Systems of equations",
                ConflictReason.BOTH_CHANGED,
                f"{ALGEBRA_FILE}:31:18",
                True,
            ),
        ),
        warnings=(
            f"{BIOLOGY_FILE}:9:5: warning: {BIOLOGY}/lab-01: Canvas ignores start_date; lmsctl "
            "does not manage it for this district (remove it from the manifests to silence this "
            "warning)",
        ),
        consents=(
            ConsentNeed(
                Consent.DESTROY_SUBMISSIONS,
                f"{BIOLOGY}/lab-00-safety",
                DeleteImpact(submissions=25, turned_in=3, graded=7),
            ),
            ConsentNeed(Consent.MASS_DELETE, BIOLOGY, deleting=2, tracked=3),
        ),
        lineage="3f0c2a9e-5b7d-4c1e-8f6a-0d9b8c7a6e51",
        serial=12,
        api_url=API_URL,
        district_id=DISTRICT,
        lms_type="canvas",
        manifests_digest="sha256:2b7e151628aed2a6abf7158809cf4f3c762e7160f38b4da56a784d9045190cfe",
        created=NOW,
        options={"revert_drift": False, "force": True, "targets": []},
    )


def empty_plan() -> Plan:
    """Nothing to do: the LMS matches the manifests."""
    return Plan(
        lineage="3f0c2a9e-5b7d-4c1e-8f6a-0d9b8c7a6e51",
        serial=12,
        api_url=API_URL,
        district_id=DISTRICT,
        lms_type="canvas",
        manifests_digest="sha256:2b7e151628aed2a6abf7158809cf4f3c762e7160f38b4da56a784d9045190cfe",
        created=NOW,
        options={"revert_drift": False, "force": False, "targets": []},
    )


def drift_only_plan() -> Plan:
    """No actionable change, but kept drift, a blocking-free unknown create, and a warning."""
    full = full_plan()
    return Plan(
        changes=tuple(c for c in full.changes if c.action is Action.UNKNOWN),
        drift=full.drift[:1],
        warnings=full.warnings,
        lineage=full.lineage,
        serial=full.serial,
        api_url=full.api_url,
        district_id=full.district_id,
        lms_type=full.lms_type,
        created=NOW,
        options={"revert_drift": False, "force": False, "targets": [f"{ALGEBRA}/hw-01"]},
    )


def conflict_plan() -> Plan:
    """A blocking conflict and nothing else: the plan fails until it is resolved."""
    full = full_plan()
    return Plan(
        conflicts=full.conflicts[:1],
        lineage=full.lineage,
        serial=full.serial,
        api_url=full.api_url,
        district_id=full.district_id,
        lms_type="schoology",
        created=NOW,
    )


def first_apply_plan(sections: int = 2, assignments: int = 3, students: int = 25) -> Plan:
    """What a first plan against the sandbox looks like: every assignment and grade a create."""
    changes: list[Change] = []
    grades: list[Change] = []
    for s in range(1, sections + 1):
        section = sid(f"a{s:05x}")
        section_name = f"section-{s}"
        for a in range(1, assignments + 1):
            key = f"hw-{a:02d}"
            title = f"Homework {a}"
            fields = (
                FieldChange("title", None, title, why=FieldReason.NEW),
                FieldChange("description", None, f"Problems for week {a}.", why=FieldReason.NEW),
                FieldChange(
                    "due_date", None, f"2026-12-{a % 28 + 1:02d}T04:59:59.000Z", why=FieldReason.NEW
                ),
                FieldChange("points_possible", None, 10, why=FieldReason.NEW),
            )
            changes.append(
                Change(
                    address=f"{section}/{key}",
                    action=Action.CREATE,
                    kind=ResourceKind.ASSIGNMENT,
                    section_id=section,
                    key=key,
                    name=title,
                    section_name=section_name,
                    fields=fields,
                    body={f.field: f.after for f in fields},
                    reasons=(Reason.NOT_IN_LMS,),
                    source=f"sections/{section_name}.yaml:{a * 10}:3",
                )
            )
            for i in range(1, students + 1):
                n = (s - 1) * students + i
                student = sid(f"b{n:05x}")
                gf = (
                    FieldChange("grade_points", None, (n * 7 + a) % 11, why=FieldReason.NEW),
                    FieldChange("state", None, "returned", why=FieldReason.NEW),
                )
                grades.append(
                    Change(
                        address=f"{section}/{key}/grades/{student}",
                        action=Action.GRADE,
                        kind=ResourceKind.GRADE,
                        section_id=section,
                        key=key,
                        student=student,
                        name=f"Student {n}",
                        section_name=section_name,
                        fields=gf,
                        body={f.field: f.after for f in gf},
                        reasons=(Reason.GRADE,),
                        source=f"sections/{section_name}.yaml:{a * 10 + i}:7",
                        depends_on=f"{section}/{key}",
                    )
                )
    return Plan(
        changes=tuple(changes + grades),
        lineage="3f0c2a9e-5b7d-4c1e-8f6a-0d9b8c7a6e51",
        serial=0,
        api_url="http://sandbox.local/v3.1",
        district_id=DISTRICT,
        lms_type="canvas",
        created=NOW,
    )


def state_fix_plan() -> Plan:
    """State-only corrections: fields the LMS already holds, and fields no longer managed.

    (Kept out of the golden files: their JSON form may gain optional keys in a 1.x version.)
    """
    full = full_plan()
    return replace(
        full,
        state_fixes=(
            StateFix(
                address=f"{ALGEBRA}/hw-02", student=None, set_fields={"grading_type": "points"}
            ),
            StateFix(
                address=f"{ALGEBRA}/hw-01", student=sid("b00008"), drop_fields=("grade_comment",)
            ),
        ),
    )


def review_plan() -> Plan:
    """Everything a plan can hold at once, for the tests that compare whole JSON documents:
    the full plan (every action, drift, conflicts, a warning, consents, an unknown outcome),
    state fixes, a frozen grade and approval needs, and a first apply's creates with grades."""
    plan = state_fix_plan()
    grades = [c for c in plan.changes if c.action is Action.GRADE]
    deletes = [c for c in plan.changes if c.action is Action.DELETE]
    third = sid("a00003")  # a section of its own: no address of the full plan again
    first = [c for c in first_apply_plan(3, 2, 4).changes if c.section_id == third]
    return replace(
        plan,
        changes=(*plan.changes, *first),
        frozen=(FrozenChange("q2-report-cards", grades[0].address),),
        approvals=(
            ApprovalNeed(ApprovalRule.RETURNED_GRADE, grades[-1].address),
            ApprovalNeed(ApprovalRule.GRADE_DROP, grades[-1].address, drop=3.0),
            *(ApprovalNeed(ApprovalRule.DELETE, c.address) for c in deletes),
        ),
    )


ALL_PLANS = {
    "full": full_plan,
    "empty": empty_plan,
    "drift-only": drift_only_plan,
    "conflict": conflict_plan,
    "first-apply": first_apply_plan,
    "state-fixes": state_fix_plan,
}
