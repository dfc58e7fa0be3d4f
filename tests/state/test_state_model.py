"""The snapshot's JSON form, its validation, and the API/district binding."""

from __future__ import annotations

import json
from typing import Any

import pytest

from lmsctl.errors import StateError, StateMismatchError
from lmsctl.state.model import (
    ResourceStatus,
    StateSnapshot,
    bind,
    ensure_binding,
)
from tests.support.factories import SECTION, STUDENT, make_record, make_snapshot


def test_round_trip_through_json_keeps_everything() -> None:
    snapshot = make_snapshot(make_record("hw-01"), make_record("hw-02", grades={}))
    snapshot.resources[f"{SECTION}/hw-02"].protect = True
    snapshot.api_url = "https://api.clever.com/v3.1"
    snapshot.district_id = "5f1a0c0b8e1d2a0001000001"
    text = json.dumps(snapshot.to_dict())
    back = StateSnapshot.from_dict(json.loads(text))
    assert back == snapshot
    assert back.resources[f"{SECTION}/hw-02"].protect is True


def test_empty_snapshots_get_fresh_lineages() -> None:
    a, b = StateSnapshot.empty(), StateSnapshot.empty()
    assert a.serial == 0 and a.resources == {} and a.api_url is None
    assert a.lineage != b.lineage


def test_copy_is_deep() -> None:
    snapshot = make_snapshot(make_record())
    clone = snapshot.copy()
    clone.resources[f"{SECTION}/hw-01"].grades["x"] = {"grade_points": 1}
    clone.resources[f"{SECTION}/hw-01"].applied["title"] = "changed"
    assert "x" not in snapshot.resources[f"{SECTION}/hw-01"].grades
    assert snapshot.resources[f"{SECTION}/hw-01"].applied["title"] == "Homework hw-01"


def _valid() -> dict[str, Any]:
    return make_snapshot(make_record()).to_dict()


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.pop("lineage"), "'lineage' must be a non-empty string"),
        (lambda d: d.update(serial=-1), "'serial' must be a whole number"),
        (lambda d: d.update(format_version=99), "newer than this lmsctl reads"),
        (lambda d: d.update(resources=[]), "'resources' must be an object"),
        (
            lambda d: d["resources"][f"{SECTION}/hw-01"].update(status="maybe"),
            "status 'maybe' is not one of created, pending, unknown",
        ),
        (
            lambda d: d["resources"][f"{SECTION}/hw-01"].update(grades={"u": 3}),
            "grades of 'u' must be an object",
        ),
        (
            lambda d: d["resources"][f"{SECTION}/hw-01"].update(key="hw-02"),
            "section_id/key disagree with its address",
        ),
    ],
)
def test_junk_is_refused_with_what_is_wrong(mutate: Any, message: str) -> None:
    data = _valid()
    mutate(data)
    with pytest.raises(StateError) as info:
        StateSnapshot.from_dict(data)
    assert message in str(info.value)


def test_non_object_state_is_refused() -> None:
    with pytest.raises(StateError, match="must be a JSON object"):
        StateSnapshot.from_dict([1, 2])


def test_record_address_and_status() -> None:
    record = make_record("quiz-3", status=ResourceStatus.UNKNOWN, assignment_id=None)
    assert record.address == f"{SECTION}/quiz-3"
    assert record.to_dict()["status"] == "unknown"


def test_binding_matches_unset_and_same_values() -> None:
    snapshot = StateSnapshot.empty()
    ensure_binding(snapshot, "https://api.clever.com/v3.1", "d1")
    bind(snapshot, "https://api.clever.com/v3.1", "d1")
    assert (snapshot.api_url, snapshot.district_id) == ("https://api.clever.com/v3.1", "d1")
    ensure_binding(snapshot, "https://api.clever.com/v3.1/", "d1")  # trailing slash is the same
    ensure_binding(snapshot, "https://api.clever.com/v3.1", "")  # district not known yet


def test_binding_refuses_another_api_naming_both_and_the_way_out() -> None:
    snapshot = StateSnapshot.empty()
    bind(snapshot, "https://api.clever.com/v3.1", "d1")
    with pytest.raises(StateMismatchError) as info:
        ensure_binding(snapshot, "http://127.0.0.1:8080/v3.1", "d1")
    text = str(info.value)
    assert "https://api.clever.com/v3.1" in text and "http://127.0.0.1:8080/v3.1" in text
    assert "--api-url https://api.clever.com/v3.1" in text


def test_binding_refuses_another_district() -> None:
    snapshot = StateSnapshot.empty()
    bind(snapshot, "https://api.clever.com/v3.1", "d1")
    with pytest.raises(StateMismatchError, match=r"belongs to district d1.*reaches district d2"):
        ensure_binding(snapshot, "https://api.clever.com/v3.1", "d2")


def test_from_dict_copies_what_it_is_given_unless_told_to_take_it_over() -> None:
    data = make_snapshot(make_record()).to_dict()
    copied = StateSnapshot.from_dict(data)
    taken = StateSnapshot.from_dict(json.loads(json.dumps(data)), copy=False)
    assert copied == taken
    raw = data["resources"][f"{SECTION}/hw-01"]
    raw["grades"][STUDENT]["grade_points"] = 1
    raw["applied"]["title"] = "changed"
    record = copied.resources[f"{SECTION}/hw-01"]
    assert record.grades[STUDENT] == {"grade_points": 9}
    assert record.applied["title"] == "Homework hw-01"
