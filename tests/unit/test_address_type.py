"""A Change's address is a typed Address (its parts read, never split from text) that is also
its canonical text, so state lookups, output and plan files are exactly as with the string."""

from __future__ import annotations

import copy
import json
import pickle
import sys

from lmsctl.addresses import Address, parse_address
from lmsctl.plan.document import plan_from_document, plan_to_document
from lmsctl.plan.model import Action, Change, Plan, ResourceKind

SEC = "5f1a0c0b8e1d2a0001a00001"
STUDENT = "5f1a0c0b8e1d2a0001b00007"


def test_an_address_is_its_parts_and_its_text() -> None:
    grade = Address(SEC, "hw-01", STUDENT)
    assert grade == f"{SEC}/hw-01/grades/{STUDENT}" and str(grade) == grade
    assert (grade.section_id, grade.key, grade.student) == (SEC, "hw-01", STUDENT)
    assert grade.assignment == f"{SEC}/hw-01"
    assert {f"{SEC}/hw-01/grades/{STUDENT}": 1}[grade] == 1  # keys state as the text did
    assert json.dumps(grade) == json.dumps(str(grade))
    assert parse_address(str(grade)) == grade and Address.of(str(grade)).student == STUDENT
    again = copy.deepcopy(grade)
    assert again == grade and again.student == STUDENT


def test_an_address_pickles_with_its_parts_and_costs_little_more_than_its_text() -> None:
    grade = Address(SEC, "hw-01", STUDENT)
    back = pickle.loads(pickle.dumps(grade))
    assert back == grade and (back.section_id, back.key, back.student) == (SEC, "hw-01", STUDENT)
    assert isinstance(back, Address)
    # three slots over the text, no dictionary per address (100k of them in a large plan)
    assert not hasattr(grade, "__dict__")
    assert sys.getsizeof(grade) <= sys.getsizeof(str(grade)) + 64


def test_a_plan_file_round_trip_gives_typed_addresses() -> None:
    change = Change(
        address=Address(SEC, "hw-01", STUDENT),
        action=Action.GRADE,
        kind=ResourceKind.GRADE,
        section_id=SEC,
        key="hw-01",
        name="Ava",
        student=STUDENT,
    )
    doc = plan_to_document(Plan(changes=(change,)))
    assert doc["changes"][0]["address"] == f"{SEC}/hw-01/grades/{STUDENT}"
    (back,) = plan_from_document(json.loads(json.dumps(doc))).changes
    assert isinstance(back.address, Address)
    assert (back.address.section_id, back.address.key, back.address.student) == (
        SEC,
        "hw-01",
        STUDENT,
    )
