"""lmsctl.privacy: the levels, the fallback without a key, and the document layer."""

from __future__ import annotations

import pytest

from lmsctl.errors import UsageError
from lmsctl.plan.document import plan_to_document
from lmsctl.plan.model import (
    Action,
    Change,
    Conflict,
    ConflictReason,
    Drift,
    FieldChange,
    Plan,
    ResourceKind,
)
from lmsctl.privacy import (
    PrivacyChoice,
    PrivacyLevel,
    Scrubber,
    StudentDirectory,
    privatise_document,
    pseudonym,
    resolve_privacy,
)

SECTION = "5f1a0c0b8e1d2a0001a00001"
STUDENT = "5f1a0c0b8e1d2a0001b00007"
KEY = b"k"


def _grade(before: float, after: float, comment: str = "Talk to Ava's parents") -> Change:
    return Change(
        address=f"{SECTION}/hw-01/grades/{STUDENT}",
        action=Action.GRADE,
        kind=ResourceKind.GRADE,
        section_id=SECTION,
        key="hw-01",
        name="Ava Nguyen",
        student=STUDENT,
        fields=(
            FieldChange("grade_points", before, after),
            FieldChange("grade_comment", None, comment),
        ),
        body={"grade_points": after, "grade_comment": comment},
        fingerprint="0123456789abcdef",
    )


def _plan() -> Plan:
    address = f"{SECTION}/hw-01/grades/{STUDENT}"
    return Plan(
        changes=(_grade(7, 9),),
        drift=(Drift(address, "grade_comment", "old words", "new words", "x", name="Ava Nguyen"),),
        conflicts=(
            Conflict(
                address, "grade_points", None, 6, 9, "Ava Nguyen", ConflictReason.NEVER_APPLIED
            ),
        ),
        warnings=(f"sis:607 ({STUDENT}) Ava Nguyen has no submission yet",),
    )


@pytest.mark.parametrize(
    ("requested", "configured", "fmt", "env", "level"),
    [
        (None, None, "text", {}, PrivacyLevel.FULL),
        (None, None, "markdown", {"LMSCTL_PSEUDONYM_KEY": "k"}, PrivacyLevel.PSEUDONYMISE),
        (
            None,
            None,
            "text",
            {"CI": "true", "LMSCTL_PSEUDONYM_KEY": "k"},
            PrivacyLevel.PSEUDONYMISE,
        ),
        (None, None, "text", {"CI": "1"}, PrivacyLevel.REDACT),  # no key: redact, and a notice
        (None, "redact", "text", {}, PrivacyLevel.REDACT),
        ("full", "redact", "markdown", {}, PrivacyLevel.FULL),
        (None, None, "text", {"CI": ""}, PrivacyLevel.FULL),  # CI set but empty: not CI
    ],
)
def test_level_resolution(
    requested: str | None, configured: str | None, fmt: str, env: dict[str, str], level: str
) -> None:
    choice = resolve_privacy(requested, configured, fmt=fmt, env=env)
    assert choice.level is level
    assert bool(choice.notice) == (level is PrivacyLevel.REDACT and not configured)


def test_full_in_ci_needs_the_key() -> None:
    with pytest.raises(UsageError, match="LMSCTL_PSEUDONYM_KEY is not set"):
        resolve_privacy("full", None, fmt="text", env={"CI": "true"})
    choice = resolve_privacy(
        "full", None, fmt="text", env={"CI": "true", "LMSCTL_PSEUDONYM_KEY": "k"}
    )
    assert choice.level is PrivacyLevel.FULL


def test_pseudonymise_hides_every_identifier_but_keeps_grade_values() -> None:
    doc = privatise_document(
        plan_to_document(_plan()), PrivacyChoice(PrivacyLevel.PSEUDONYMISE, KEY)
    )
    text = str(doc)
    for secret in (STUDENT, "Ava Nguyen", "sis:607", "Talk to Ava", "old words", "new words"):
        assert secret not in text
    who = pseudonym(KEY, STUDENT)
    change = doc["changes"][0]
    assert change["student"] == who and change["address"].endswith(f"/grades/{who}")
    assert change["after"] == {"grade_points": 9, "grade_comment": "(hidden)"}
    assert change["body"]["grade_comment"] == "(hidden)" and change["fingerprint"] is None
    assert doc["conflicts"][0]["desired"] == 9 and doc["conflicts"][0]["name"] == ""
    assert doc["drift"][0]["live"] == "(hidden)"
    assert doc["warnings"] == [f"[student] ({who}) {who} has no submission yet"]


def test_redact_keeps_only_aggregates_per_assignment() -> None:
    plan = Plan(changes=(_grade(7, 9), _grade(8, 5), _grade(6, 6)))
    doc = privatise_document(plan_to_document(plan), PrivacyChoice(PrivacyLevel.REDACT))
    assert doc["changes"] == []
    (summary,) = doc["grade_summaries"]
    assert (summary["grades"], summary["up"], summary["down"]) == (3, 1, 1)
    assert summary["mean_change"] == round((2 - 3 + 0) / 3, 2)
    assert STUDENT not in str(doc)


OTHER = "5f1a0c0b8e1d2a0001b00008"
AVA = {"id": STUDENT, "name": {"first": "Ava", "last": "Nguyen"}}


@pytest.mark.parametrize("roster_first", [True, False])
def test_a_roster_added_to_the_directory_counts_in_the_order_it_was_added(
    roster_first: bool,
) -> None:
    # rosters are read in only when the tokens are needed: the first id a token was added
    # with still wins, as when they were read at once
    directory = StudentDirectory()
    if roster_first:
        directory.add_rosters({SECTION: (AVA,)})
    directory.add("Ava Nguyen", OTHER)
    if not roster_first:
        directory.add_rosters({SECTION: (AVA,)})
    assert directory.tokens["Ava Nguyen"] == (STUDENT if roster_first else OTHER)
    assert directory.tokens["Nguyen, Ava"] == STUDENT


def test_a_scrubber_made_before_the_rosters_are_added_scrubs_their_students() -> None:
    # (the plan command makes its scrubber before the rosters are read from the LMS)
    directory = StudentDirectory()
    scrub = Scrubber(PrivacyChoice(PrivacyLevel.PSEUDONYMISE, KEY), directory)
    assert scrub.text("Ava Nguyen did well") == "Ava Nguyen did well"
    directory.add_rosters({SECTION: (AVA,)})
    assert scrub.text("Ava Nguyen did well") == f"{pseudonym(KEY, STUDENT)} did well"


def test_a_roster_student_has_the_tokens_add_gives_each_of_them_in_turn() -> None:
    user = {
        "id": STUDENT,
        "name": {"first": "Ava", "middle": "Mae", "last": "Nguyen"},
        "email": " Ava.Nguyen7@Students.example ",
        "sis_id": "7",  # too short to be a token
        "roles": {"student": {"sis_id": "607", "student_number": 100007, "state_id": ""}},
    }
    read = StudentDirectory()
    read.add("sis:607", OTHER)  # an earlier student keeps a token added with its id
    read.add_user(user)
    one_by_one = StudentDirectory()
    one_by_one.add("sis:607", OTHER)
    for token in [
        STUDENT,
        "Ava Nguyen",
        "Nguyen, Ava",
        "Ava Mae Nguyen",
        "7",
        "sis:7",
        " Ava.Nguyen7@Students.example ",
        "email: Ava.Nguyen7@Students.example ",
        "607",
        "sis:607",
        100007,
        "student_number:100007",
    ]:
        one_by_one.add(token, STUDENT)
    assert list(read.tokens.items()) == list(one_by_one.tokens.items())
    assert read.tokens["sis:607"] == OTHER
    assert read.tokens["ava.nguyen7@students.example"] == STUDENT


def test_scrubber_uses_the_roster() -> None:
    directory = StudentDirectory()
    directory.add_user(
        {
            "id": STUDENT,
            "name": {"first": "Ava", "last": "Nguyen"},
            "email": "Ava.Nguyen7@students.example",
            "roles": {"student": {"sis_id": "607", "student_number": "S100007"}},
        }
    )
    scrub = Scrubber(PrivacyChoice(PrivacyLevel.PSEUDONYMISE, KEY), directory)
    who = pseudonym(KEY, STUDENT)
    text = scrub.text(
        "ava.nguyen7@students.example (S100007, sis:607) Nguyen, Ava: "
        f"/v3.1/sections/{SECTION}/assignments/x/submissions/{STUDENT} answered 404"
    )
    assert text == (
        f"{who} ({who}, {who}) {who}: /v3.1/sections/{SECTION}/assignments/x/submissions/{who} "
        "answered 404"
    )
    assert Scrubber(PrivacyChoice(PrivacyLevel.FULL), directory).text("Ava Nguyen") == "Ava Nguyen"


def test_a_short_number_is_a_students_only_where_it_is_quoted() -> None:
    """A sis id of a few digits is also a count or a line number: alone it stays, so a private
    plan's summary and an error's line are right; quoted, as an error quotes a value, it is
    the student's, as are its reference and longer ids everywhere."""
    directory = StudentDirectory()
    directory.add_user(
        {
            "id": STUDENT,
            "name": {"first": "Ava", "last": "Nguyen"},
            "email": "ava@students.example",
            "roles": {
                "student": {"sis_id": "23", "student_number": "653", "state_id": "1000000007"}
            },
        }
    )
    scrub = Scrubber(PrivacyChoice(PrivacyLevel.PSEUDONYMISE, KEY), directory)
    who = pseudonym(KEY, STUDENT)
    assert scrub.text("23 grades to set, 0 to delete.") == "23 grades to set, 0 to delete."
    assert scrub.text("already graded at line 653") == "already graded at line 653"
    assert scrub.text("sis:23 and student_number:653 (state id 1000000007)") == (
        f"{who} and {who} (state id {who})"
    )
    assert scrub.text("no student with sis_id '23' or email 'ava@students.example'") == (
        f"no student with sis_id '{who}' or email '{who}'"
    )
    assert scrub.text('student_number: "653"') == f'student_number: "{who}"'
