"""state list / show / rm / mv as operations on a snapshot (no files, no click)."""

from __future__ import annotations

import pytest

from lmsctl.addresses import parse_address
from lmsctl.errors import StateError
from lmsctl.state.model import ResourceStatus
from lmsctl.state.ops import list_resources, move, remove, show
from tests.support.factories import OTHER_SECTION, SECTION, STUDENT, make_record, make_snapshot

HW1 = f"{SECTION}/hw-01"
HW2 = f"{SECTION}/hw-02"
GRADE = f"{HW1}/grades/{STUDENT}"


def test_list_is_in_address_order_with_counts() -> None:
    snapshot = make_snapshot(
        make_record("hw-02", grades={}),
        make_record("hw-01"),
        make_record("quiz", status=ResourceStatus.UNKNOWN, assignment_id=None, applied={}),
    )
    rows = list_resources(snapshot)
    assert [r.address for r in rows] == [HW1, HW2, f"{SECTION}/quiz"]
    assert [r.grades for r in rows] == [1, 0, 1]
    assert rows[0].title == "Homework hw-01" and rows[2].title is None
    assert rows[2].to_dict()["status"] == "unknown"


def test_show_an_assignment_and_a_grade() -> None:
    snapshot = make_snapshot(make_record())
    data = show(snapshot, parse_address(HW1))
    assert data["address"] == HW1 and data["assignment_id"] == make_record().assignment_id
    assert data["grades"] == {STUDENT: {"grade_points": 9}}
    grade = show(snapshot, parse_address(GRADE))
    assert grade == {
        "address": GRADE,
        "assignment": HW1,
        "assignment_id": make_record().assignment_id,
        "student": STUDENT,
        "applied": {"grade_points": 9},
    }


def test_show_missing_says_how_to_list() -> None:
    with pytest.raises(StateError, match=r"is not in state.*lmsctl state list"):
        show(make_snapshot(), parse_address(HW1))
    with pytest.raises(StateError, match="no grade for student 5f1a0c0b8e1d2a0001b00008"):
        show(make_snapshot(make_record()), parse_address(f"{HW1}/grades/5f1a0c0b8e1d2a0001b00008"))


def test_rm_forgets_assignments_with_their_grades() -> None:
    snapshot = make_snapshot(make_record("hw-01"), make_record("hw-02"))
    removed = remove(snapshot, [parse_address(HW1), parse_address(GRADE)])
    assert [(r.address, r.kind, r.grades) for r in removed] == [(HW1, "assignment", 1)]
    assert list(snapshot.resources) == [HW2]


def test_rm_of_a_grade_forgets_only_that_grade() -> None:
    other = "5f1a0c0b8e1d2a0001b00008"
    record = make_record(grades={STUDENT: {"grade_points": 9}, other: {"grade_points": 4}})
    snapshot = make_snapshot(record)
    removed = remove(snapshot, [parse_address(GRADE)])
    assert [(r.address, r.kind) for r in removed] == [(GRADE, "grade")]
    assert snapshot.resources[HW1].grades == {other: {"grade_points": 4}}


def test_rm_is_all_or_nothing() -> None:
    snapshot = make_snapshot(make_record("hw-01"))
    with pytest.raises(StateError, match=f"not in state: {HW2}; nothing was removed"):
        remove(snapshot, [parse_address(HW1), parse_address(HW2)])
    assert list(snapshot.resources) == [HW1]


def test_rm_of_an_unknown_create_is_the_way_out() -> None:
    snapshot = make_snapshot(make_record(status=ResourceStatus.UNKNOWN, assignment_id=None))
    (removed,) = remove(snapshot, [parse_address(HW1)])
    assert removed.status is ResourceStatus.UNKNOWN and snapshot.resources == {}


def test_mv_re_addresses_within_the_section() -> None:
    record = make_record("hw-1")
    record.protect = True
    snapshot = make_snapshot(record)
    moved = move(snapshot, parse_address(f"{SECTION}/hw-1"), parse_address(HW1))
    assert (moved.old, moved.new) == (f"{SECTION}/hw-1", HW1)
    assert list(snapshot.resources) == [HW1]
    new = snapshot.resources[HW1]
    assert new.key == "hw-01" and new.address == HW1 and new.protect
    assert new.assignment_id == record.assignment_id and new.grades == record.grades


def test_mv_keeps_what_the_record_knows_beyond_its_fields() -> None:
    """An adopted record stays adopted (Google Classroom refuses changes to it), and a write
    whose answer was lost stays an intent (else its value reads as a teacher's change)."""
    record = make_record("hw-1")
    record.adopted = True
    record.intend({"title": "Sent before a crash"})
    record.intend({"grade_points": 10}, student="s-1")
    record.deleting = True
    snapshot = make_snapshot(record)
    move(snapshot, parse_address(f"{SECTION}/hw-1"), parse_address(HW1))
    new = snapshot.resources[HW1]
    assert new.adopted and new.deleting
    assert new.intended == {"title": ["Sent before a crash"]}
    assert new.intended_grades == {"s-1": {"grade_points": [10]}}


def test_mv_refuses_an_existing_target() -> None:
    snapshot = make_snapshot(make_record("hw-01"), make_record("hw-02"))
    with pytest.raises(StateError, match=f"{HW2} is already in state.*lmsctl state rm {HW2}"):
        move(snapshot, parse_address(HW1), parse_address(HW2))
    assert sorted(snapshot.resources) == [HW1, HW2]


def test_mv_refuses_another_section_with_a_hint() -> None:
    snapshot = make_snapshot(make_record())
    with pytest.raises(StateError) as info:
        move(snapshot, parse_address(HW1), parse_address(f"{OTHER_SECTION}/hw-01"))
    text = str(info.value)
    assert "belongs to the section it was created in" in text
    assert "the plan creates it there" in text


def test_mv_refuses_grades_missing_and_same() -> None:
    snapshot = make_snapshot(make_record())
    with pytest.raises(StateError, match="moves assignments"):
        move(snapshot, parse_address(GRADE), parse_address(f"{HW2}/grades/{STUDENT}"))
    with pytest.raises(StateError, match=f"{HW2} is not in state"):
        move(snapshot, parse_address(HW2), parse_address(f"{SECTION}/hw-03"))
    with pytest.raises(StateError, match="are the same address"):
        move(snapshot, parse_address(HW1), parse_address(HW1))
