"""The local file's incremental encoding always writes exactly the snapshot it is given."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lmsctl.state.local import LocalBackend
from lmsctl.state.model import StateSnapshot
from tests.support.factories import SECTION, make_record

values = st.one_of(
    st.none(), st.integers(-5, 5), st.text(max_size=4), st.lists(st.text(max_size=2), max_size=2)
)
keys = st.sampled_from(["hw-01", "hw-02", "hw-03", "quiz"])
students = st.sampled_from(["s1", "s2", "s3"])
fields = st.sampled_from(["title", "grade_points", "state", "flags"])
steps = st.lists(
    st.one_of(
        st.tuples(st.just("grade"), keys, students, fields, values),
        st.tuples(st.just("applied"), keys, fields, values),
        st.tuples(st.just("drop"), keys),
        st.tuples(st.just("move"), keys, keys),
    ),
    max_size=25,
)


def _apply(snapshot: StateSnapshot, step: tuple[Any, ...]) -> None:
    kind, key = step[0], step[1]
    address = f"{SECTION}/{key}"
    record = snapshot.resources.setdefault(address, make_record(key, grades={}, applied={}))
    if kind == "grade":
        record.grades.setdefault(step[2], {})[step[3]] = step[4]
    elif kind == "applied":
        record.applied[step[2]] = step[3]
    elif kind == "drop":
        del snapshot.resources[address]
    elif kind == "move" and f"{SECTION}/{step[2]}" not in snapshot.resources:
        moved = snapshot.resources.pop(address)
        moved.key = step[2]
        snapshot.resources[moved.address] = moved


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps)
def test_every_write_holds_exactly_the_snapshot(script: list[tuple[Any, ...]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        backend = LocalBackend(Path(tmp) / "state.json")
        snapshot = StateSnapshot.empty()
        for step in script:
            _apply(snapshot, step)
            backend.write(snapshot)
            on_disk = json.loads(backend.path.read_text())
            assert on_disk == json.loads(json.dumps(snapshot.to_dict()))
        assert LocalBackend(backend.path).read() == snapshot or not script
