"""The plan's records set every field as their dataclass declares it (their own __init__ is
quicker than the generated one: a plan holds one per grade that changes)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from lmsctl.addresses import Address
from lmsctl.plan.model import Action, Change, FieldChange, FieldReason, ResourceKind


def _default(f: dataclasses.Field[Any]) -> Any:
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return f.default


@pytest.mark.parametrize("cls", [Change, FieldChange])
def test_every_field_is_set_from_its_own_argument(cls: type) -> None:
    fields = dataclasses.fields(cls)
    values = {f.name: object() for f in fields}
    made = cls(**values)
    assert {f.name: getattr(made, f.name) for f in fields} == values
    # and in the declared order, positionally
    again = cls(*values.values())
    assert [getattr(again, f.name) for f in fields] == list(values.values())


@pytest.mark.parametrize("cls", [Change, FieldChange])
def test_defaults_are_the_declared_ones(cls: type) -> None:
    fields = dataclasses.fields(cls)
    required = {f.name: f.name for f in fields if _default(f) is dataclasses.MISSING}
    made = cls(**required)
    for f in fields:
        if f.name not in required:
            assert getattr(made, f.name) == _default(f), f.name


def test_a_change_stays_frozen_and_replace_keeps_the_rest() -> None:
    change = Change(
        Address("a" * 24, "hw-01", "b" * 24),
        Action.GRADE,
        ResourceKind.GRADE,
        "a" * 24,
        "hw-01",
        "Ava",
        fields=(FieldChange("grade_points", 1, 2, 1, FieldReason.UPDATE),),
    )
    with pytest.raises(dataclasses.FrozenInstanceError):
        change.name = "Bo"  # type: ignore[misc]
    moved = dataclasses.replace(change, name="Bo")
    assert moved.name == "Bo" and moved.fields == change.fields and moved.body == {}
    assert moved == dataclasses.replace(moved)
