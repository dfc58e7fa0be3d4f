"""The outcome of a grade's three-way diff, made once for every grade with the same values.

A plan's grades repeat few values: 100k grades that all change are a few dozen cases of
(desired, applied, live) per field. The diff of one grade reads nothing but those values, the
field table and the plan's options (the same for the whole plan), so two grades with the same
values get the same field changes, the same count of unchanged fields and the same fingerprint
of the live values. Only outcomes that record nothing about the grade itself are kept: no
drift, no conflict, no state fix (those name the grade's address and source); a grade with
intents, with applied fields the manifests no longer set, or with a value that is not plain
(None, bool, int, float, str) is always diffed in full.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lmsctl.diff import MISSING
from lmsctl.plan.model import FieldChange, Reason

#: what a grade's diff found: (field changes, body, reasons), unchanged fields, fingerprint of
#: the live values; or None when it found nothing to write
Outcome = (
    tuple[tuple[tuple[FieldChange, ...], Mapping[str, Any], tuple[Reason, ...]], int, str | None]
    | None
)

#: the value types an outcome's key may hold (immutable, hashable, equal only when the diff
#: treats them alike: a type is part of the key, a float is keyed by its repr as well)
_PLAIN = frozenset({type(None), bool, int, float, str})


_UNSEEN: Any = object()


class GradeOutcomes:
    """The outcomes of the grades diffed so far, by their values (at most :data:`LIMIT`)."""

    LIMIT = 4096

    __slots__ = ("_held",)

    def __init__(self) -> None:
        self._held: dict[tuple[Any, ...], Outcome] = {}

    def key(
        self,
        wanted: Mapping[str, Any],
        applied: Mapping[str, Any],
        live: Mapping[str, Any],
        has_submission: bool,
    ) -> tuple[Any, ...] | None:
        """What a grade without intents is diffed on, or None when it is not to be shared.

        ``live`` is the grade's submission (empty when it has none, ``has_submission``
        False): the diff reads only the wanted fields of it.
        """
        if len(applied) > len(wanted):
            return None  # fields to stop managing: a state fix
        key: list[Any] = [has_submission]
        recorded = 0
        plain = _PLAIN
        for name, want in wanted.items():
            had = applied.get(name, MISSING)
            have = live.get(name)
            tw, th, tl = type(want), type(had), type(have)
            if had is MISSING:
                if tw not in plain or tl not in plain:
                    return None
            elif tw not in plain or th not in plain or tl not in plain:
                return None
            else:
                recorded += 1
            # each value by its type and itself, a float by its repr (-0.0 is not 0.0)
            key += (
                name,
                tw,
                repr(want) if tw is float else want,
                th,
                repr(had) if th is float else had,
                tl,
                repr(have) if tl is float else have,
            )
        if recorded != len(applied):
            return None  # an applied field the manifests no longer set
        return tuple(key)

    def get(self, key: tuple[Any, ...]) -> tuple[bool, Outcome]:
        """(True, the outcome) when a grade with this key was diffed already."""
        found = self._held.get(key, _UNSEEN)  # (one lookup: a tuple's hash is made each time)
        if found is _UNSEEN:
            return False, None
        return True, found

    def put(self, key: tuple[Any, ...], outcome: Outcome) -> None:
        if len(self._held) < self.LIMIT:
            self._held[key] = outcome
