"""The plan document's changes grouped per assignment, for the text and Markdown renderers."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from lmsctl.plan.model import Change

__all__ = ["AssignmentGroup", "action_of", "group_changes"]


@dataclass
class AssignmentGroup:
    """The changes of one assignment: its own (move, create, update, delete) and its grades."""

    address: str
    section_id: str
    section_name: str
    changes: list[Mapping[str, Any]] = field(default_factory=list)
    #: each grade's change, or its line already rendered (``group_changes``'s ``grade_text``)
    grades: list[Mapping[str, Any] | str] = field(default_factory=list)
    #: at --privacy redact the grades are only this aggregate (lmsctl.privacy.grade_summaries)
    grade_summary: Mapping[str, Any] | None = None

    @property
    def grade_count(self) -> int:
        if self.grade_summary is not None:
            return int(self.grade_summary.get("grades") or 0)
        return len(self.grades)

    @property
    def name(self) -> str:
        for change in self.changes:
            if change.get("name"):
                return str(change["name"])
        return ""


def action_of(change: Mapping[str, Any]) -> str:
    actions = change.get("actions") or ["unknown"]
    return str(actions[0])


def group_changes(
    changes: Iterable[Mapping[str, Any] | Change],
    summaries: Iterable[Mapping[str, Any]] = (),
    *,
    grade_text: Callable[[Mapping[str, Any]], str] | None = None,
    grade_line: Callable[[Change], str] | None = None,
    unknown: list[Mapping[str, Any]] | None = None,
) -> list[AssignmentGroup]:
    """Actionable changes grouped per assignment, groups in the order their first change comes.

    The document lists changes in phase order, so the groups come out move, create, update,
    grade-only, delete. Unknown-outcome entries are not changes and are left out. ``summaries``
    (a redacted document's ``grade_summaries``) stand for the grades of their assignments.
    With ``grade_text`` a group keeps each grade's text (its line), not its dict (100k grades
    are then never 100k dicts at once); ``unknown`` collects the unknown-outcome entries.
    A plan's own grade :class:`Change` among the changes (the text plan's: no dict is made
    for it at all) is grouped as its dict would be, its line made by ``grade_line``.
    """
    groups: dict[str, AssignmentGroup] = {}

    def group_at(address: str, entry: Mapping[str, Any]) -> AssignmentGroup:
        """The group of ``address``, made from ``entry``'s section when it is the first."""
        group = groups.get(address)
        if group is None:
            group = groups[address] = AssignmentGroup(
                address=address,
                section_id=str(entry.get("section_id", "")),
                section_name=str(entry.get("section_name") or ""),
            )
        return group

    for change in changes:
        if isinstance(change, Change):  # (a grade's: see the docstring)
            if grade_line is None:
                raise TypeError("a plan's grade change needs grade_line to be grouped")
            address = f"{change.section_id}/{change.key}"
            group = groups.get(address) or group_at(
                address, {"section_id": change.section_id, "section_name": change.section_name}
            )
            group.grades.append(grade_line(change))
            if not group.section_name and change.section_name:
                group.section_name = str(change.section_name)
            continue
        action = action_of(change)
        if action == "unknown":
            if unknown is not None:
                unknown.append(change)
            continue
        group = group_at(f"{change.get('section_id', '')}/{change.get('key', '')}", change)
        if action == "grade":
            group.grades.append(change if grade_text is None else grade_text(change))
        else:
            group.changes.append(change)
        if not group.section_name and change.get("section_name"):
            group.section_name = str(change["section_name"])
    for summary in summaries:
        group_at(str(summary.get("address", "")), summary).grade_summary = summary
    return list(groups.values())
