"""The desired values of one assignment as the district's LMS will take them.

Assignee references and grade students are resolved against the section's roster, fields the
LMS ignores are dropped (with one warning per manifest file and field), and what the LMS refuses
or changes (refused values, rounded grades, past due dates, unknown graders) becomes a
diagnostic at the manifest line.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from lmsctl.diff import to_wire
from lmsctl.fields import (
    assignment_refusals,
    grade_refusal_fields,
    grade_refusals,
    grade_rounding,
    grade_rounding_fields,
    ignored_fields,
)
from lmsctl.model import AssignmentSpec, GradeSpec, SectionSpec
from lmsctl.plan.context import PlanContext
from lmsctl.roster import Roster, resolve_ref
from lmsctl.timeutil import normalize_api_datetime


@dataclass
class Desired:
    """An assignment's desired wire fields, its grades by student id, and student names."""

    fields: dict[str, Any]
    grades: list[tuple[GradeSpec, str]] = field(default_factory=list)
    #: the section's students' names by id (the roster's own mapping: read only)
    names: Mapping[str, str] = field(default_factory=dict)

    def title(self, spec: AssignmentSpec) -> str:
        return str(self.fields.get("title") or spec.key)


class DesiredResolver:
    """Resolves each assignment's desired values for one plan."""

    def __init__(self, ctx: PlanContext) -> None:
        self.ctx = ctx
        self.findings = ctx.findings
        self.lms = ctx.lms
        self.ignored = ignored_fields(ctx.lms_type)
        #: the grade fields the LMS may refuse a value of, or round
        self._refusable = grade_refusal_fields(ctx.lms_type)
        self._rounded = grade_rounding_fields(ctx.lms_type)
        #: a grade with none of these fields and no grader_id has nothing to check
        self._checked = self._refusable | self._rounded
        self.rosters = {
            sid: Roster.from_users(sid, users) for sid, users in ctx.live.rosters.items()
        }
        self._warned: set[tuple[str, str]] = set()

    def resolve(self, section: SectionSpec, spec: AssignmentSpec) -> Desired:
        """Desired wire fields (assignee refs resolved, ignored fields dropped), resolved grades."""
        roster = self.rosters.get(section.section_id)
        fields = self._fields(spec, roster)
        for refusal in assignment_refusals(self.ctx.lms_type, fields):
            self.findings.diag(
                spec.pos_of(refusal.field),
                f"{spec.address}: {refusal.field}:",
                refusal.message,
                refusal.hint,
            )
        desired = Desired(fields, self._grades(spec, roster))
        desired.names = roster.names if roster else {}
        if (
            "points_possible" in self.lms.zero_reads_unset
            and fields.get("points_possible") == 0
            and any(g.fields.get("grade_points") is not None for g, _ in desired.grades)
        ):
            native = self.lms.native_names.get("points_possible")
            self.findings.diag(
                spec.pos_of("points_possible"),
                f"{spec.address}: points_possible:",
                f"0 makes the assignment ungraded in {self.lms.name}"
                + (f" (its {native})" if native else "")
                + ", yet grades set grade_points",
                "set points_possible above 0 to grade it in points",
                warn=True,
            )
        return desired

    def _fields(self, spec: AssignmentSpec, roster: Roster | None) -> dict[str, Any]:
        fields: dict[str, Any] = {}
        for name, value in spec.fields.items():
            if name in self.ignored:
                key = (spec.pos_of(name).file, name)
                if key not in self._warned:
                    self._warned.add(key)
                    self.findings.diag(
                        spec.pos_of(name),
                        f"{spec.address}:",
                        f"{self.lms.name} ignores {name}; lmsctl does not manage it for this "
                        "district",
                        "remove it from the manifests to silence this warning",
                        warn=True,
                    )
                continue
            fields[name] = to_wire(name, value)
        if spec.assignee_refs:
            ids: list[str] = []
            for ref in spec.assignee_refs:
                uid, diag = resolve_ref(
                    ref,
                    roster,
                    spec.pos_of("assignee_ids"),
                    f"{spec.address}: assignee_ids:",
                )
                if diag is not None:
                    self.findings.diags.append(diag)
                elif uid is not None:
                    ids.append(uid)
            fields["assignee_ids"] = sorted(set(ids))
        return fields

    def _grades(self, spec: AssignmentSpec, roster: Roster | None) -> list[tuple[GradeSpec, str]]:
        grades: list[tuple[GradeSpec, str]] = []
        seen: dict[str, GradeSpec] = {}
        enrolled = roster.ids if roster is not None else None
        checked = self._checked
        for grade in spec.grades:
            ref = grade.student
            if enrolled is not None and ref.is_id and ref.value in enrolled:
                uid: str | None = ref.value  # (what resolve_ref answers, without its message)
            else:
                uid, diag = resolve_ref(
                    ref, roster, grade.pos, f"{spec.address}: grades: {ref.raw}:"
                )
                if diag is not None:
                    self.findings.diags.append(diag)
                    continue
            assert uid is not None
            if uid in seen:
                other = seen[uid]
                self.findings.diag(
                    grade.pos,
                    f"{spec.address}: grades: {grade.student.raw}:",
                    f"is the same student as {other.student.raw} at {other.pos}",
                    "keep one entry per student",
                )
                continue
            seen[uid] = grade
            grades.append((grade, uid))
            fields = grade.fields
            if fields.get("grader_id") is not None or not checked.isdisjoint(fields):
                self._check_grade_rules(spec, grade)
        return grades

    def _check_grade_rules(self, spec: AssignmentSpec, grade: GradeSpec) -> None:
        """What the district's LMS refuses or changes in a grade, at the manifest line."""
        fields = grade.fields
        grader = fields.get("grader_id")
        teachers = self.ctx.live.teachers.get(spec.section_id)
        unknown_grader = grader is not None and teachers is not None and grader not in teachers
        refusable = not self._refusable.isdisjoint(fields)
        rounded = not self._rounded.isdisjoint(fields)
        if not (unknown_grader or refusable or rounded):
            return  # the usual grade: nothing to say (checked without making a message)
        where = f"{spec.address}: grades: {grade.student.raw}:"
        for refusal in grade_refusals(self.ctx.lms_type, fields) if refusable else ():
            pos = grade.field_pos.get(refusal.field, grade.pos)
            self.findings.diag(pos, f"{where} {refusal.field}:", refusal.message, refusal.hint)
        if unknown_grader:
            # Clever: 400 NOT_FOUND: Person with id clever:<id> not found for this integration
            self.findings.diag(
                grade.field_pos.get("grader_id", grade.pos),
                f"{where} grader_id:",
                f"{grader} is not a teacher of section {spec.section_id}; Clever refuses the "
                "grade ('Person with id clever:... not found for this integration')",
                "use the Clever id of one of the section's teachers, or remove grader_id",
            )
        for name, value in fields.items() if rounded else ():
            stored = grade_rounding(self.ctx.lms_type, name, value)
            if stored is not None:
                shown = int(stored) if stored.is_integer() else stored
                places = self.lms.decimals[name]
                self.findings.diag(
                    grade.field_pos.get(name, grade.pos),
                    f"{where} {name}:",
                    f"{self.lms.name} keeps grades to {_decimals(places)}: {value} will be "
                    f"rounded (to {shown} or its neighbour)",
                    f"write at most {_decimals(places)}, e.g. {shown}",
                    warn=True,
                )

    def check_dates(
        self,
        spec: AssignmentSpec,
        fields: Mapping[str, Any],
        names: list[str],
        *,
        creating: bool = False,
    ) -> None:
        now = self.ctx.options.now
        if not now or "due_date" not in names:
            return
        due = fields.get("due_date")
        if isinstance(due, str) and normalize_api_datetime(due) <= normalize_api_datetime(now):  # type: ignore[operator]
            self.findings.diag(
                spec.pos_of("due_date"),
                f"{spec.address}: due_date:",
                f"{due} is in the past; Clever refuses past due dates",
                "set a future due_date (Clever needs one to create the assignment)"
                if creating
                else "set a future due_date, or leave the field out to stop managing it",
            )


def _decimals(places: int) -> str:
    return f"{places} decimal" if places == 1 else f"{places} decimals"
