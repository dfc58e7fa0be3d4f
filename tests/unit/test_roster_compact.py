"""A plan keeps each roster student compact; references and the privacy scrubber must see no
difference from the whole Data API object."""

from __future__ import annotations

from lmsctl.model import RefKind, StudentRef
from lmsctl.privacy import StudentDirectory
from lmsctl.roster import Roster, compact_user

FULL = {
    "id": "6a5e000001b0000000000001",
    "district": "6a5e00000101000000000001",
    "email": "Liam.Mensah1@students.example",
    "name": {"first": "Liam", "middle": "Kofi", "last": "Mensah"},
    "created": "2026-12-01T15:41:40.632Z",
    "lms_status": {"synced_in_lms": True},
    "roles": {
        "student": {
            "sis_id": "1001",
            "school": "6a5e000001c0000000000001",
            "credentials": {"district_username": "liam.mensah1"},
            "student_number": "S1000001",
            "state_id": "1000000001",
            "enrollments": [{"school": "6a5e000001c0000000000001"}],
        }
    },
}
OLDER = {"id": "6a5e000001b0000000000002", "sis_id": "1002", "name": {"first": "Ana"}}


def test_a_compact_student_resolves_every_reference_as_the_whole_object_does() -> None:
    whole = Roster.from_users("s1", [FULL, OLDER])
    compact = Roster.from_users("s1", [compact_user(FULL), compact_user(OLDER)])
    assert compact == whole
    for kind, value in [
        (RefKind.SIS, "1001"),
        (RefKind.EMAIL, "liam.mensah1@students.example"),
        (RefKind.STUDENT_NUMBER, "S1000001"),
        (RefKind.STATE_ID, "1000000001"),
        (RefKind.SIS, "1002"),  # a top-level sis_id (older answers)
    ]:
        ref = StudentRef(kind=kind, value=value, raw=f"{kind.value}:{value}")
        assert compact.resolve(ref) == whole.resolve(ref) != (None, "")


def test_a_compact_student_is_scrubbed_from_output_by_every_token_of_the_whole_one() -> None:
    whole, compact = StudentDirectory(), StudentDirectory()
    whole.add_user(FULL)
    compact.add_user(compact_user(FULL))
    assert compact.tokens == whole.tokens
    assert "Liam Kofi Mensah" in compact.tokens and "S1000001" in compact.tokens
    assert "liam.mensah1" not in str(compact_user(FULL))  # nothing kept that is never read


def test_a_reference_two_students_share_is_ambiguous_and_one_listed_twice_is_not() -> None:
    users = [
        {"id": "b2", "roles": {"student": {"sis_id": "7"}}, "email": "Twin@x.test"},
        {"id": "a1", "roles": {"student": {"sis_id": "7"}}, "email": "twin@x.test "},
        {"id": "c3", "roles": {"student": {"sis_id": "9", "state_id": "S9"}}},
        {"id": "c3", "roles": {"student": {"sis_id": "9"}}},  # (listed twice)
    ]
    roster = Roster.from_users("sec", users)
    assert roster.index[("sis_id", "7")] == ("a1", "b2")  # (sorted)
    assert roster.index[("email", "twin@x.test")] == ("a1", "b2")
    assert roster.index[("sis_id", "9")] == ("c3",) and roster.index[("state_id", "S9")] == ("c3",)
    assert roster.resolve(StudentRef("sis:9", RefKind.SIS, "9")) == ("c3", "")
    uid, why = roster.resolve(StudentRef("sis:7", RefKind.SIS, "7"))
    assert uid is None and why == "sis_id '7' matches 2 students in section sec (a1, b2)"
