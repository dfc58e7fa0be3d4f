"""The views of ``lmsctl state list|show|rm|mv``: JSON documents and text (pure, no I/O).

What state holds names students (grades are keyed by Clever id, assignee lists hold ids,
grade comments are free text), so every view of it takes the run's ``Scrubber``: in a private
run (pseudonymise, redact) students read as the plan's pseudonyms and comments are hidden; at
redact, no student and no grade value appears, only how many grades there are.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lmsctl.addresses import Address
from lmsctl.errors import unknown_outcome_ways_out
from lmsctl.privacy import (
    HIDDEN,
    PrivacyLevel,
    Scrubber,
    StudentDirectory,
    privatise_fields,
    privatise_grades,
)
from lmsctl.render.json import dumps_for_terminal
from lmsctl.safetext import escape_controls
from lmsctl.state.model import ResourceStatus
from lmsctl.state.ops import Moved, Removed, ResourceRow

__all__ = [
    "STATE_VIEW_FORMAT_VERSION",
    "StateEntry",
    "StateListing",
    "entry_document",
    "history_document",
    "listing_document",
    "render_entry_text",
    "render_history_text",
    "render_listing_text",
    "render_moved_text",
    "render_removed_text",
]


#: Version of the JSON documents ``state list|show|history --format json`` print ("MAJOR.MINOR",
#: as every lmsctl document: docs/json-output.md). Not the state's own storage format.
STATE_VIEW_FORMAT_VERSION = "1.0"


@dataclass(frozen=True)
class StateListing:
    """Every assignment state tracks (``state list``)."""

    location: str
    lineage: str
    serial: int
    api_url: str | None
    district_id: str | None
    rows: tuple[ResourceRow, ...]


@dataclass(frozen=True)
class StateEntry:
    """What state holds for one address (``state show``): an assignment or one grade."""

    address: Address
    #: the record in its JSON form (lmsctl.state.ops.show), students named
    data: Mapping[str, Any]

    def students(self) -> StudentDirectory:
        """Every student the record names (to scrub what is left of them in free text)."""
        directory = StudentDirectory()
        ids = [str(self.data.get("student") or "")]
        ids += list(self.data.get("grades") or {})
        ids += list((self.data.get("intent") or {}).get("grades") or {})
        ids += [str(u) for u in (self.data.get("applied") or {}).get("assignee_ids") or ()]
        for student in ids:
            directory.add(student, student)
        return directory


def listing_document(listing: StateListing) -> dict[str, Any]:
    """``state list --json`` (addresses, ids, titles and counts: no student)."""
    return {
        "format_version": STATE_VIEW_FORMAT_VERSION,
        "state": listing.location,
        "lineage": listing.lineage,
        "serial": listing.serial,
        "api_url": listing.api_url,
        "district_id": listing.district_id,
        "resources": [r.to_dict() for r in listing.rows],
    }


def render_listing_text(listing: StateListing) -> str:
    rows = listing.rows
    if not rows:
        return f"No assignments in state ({listing.location}).\n"
    width = max(len(r.address) for r in rows)
    lines = [f"{'ADDRESS':<{width}}  {'STATUS':<8} {'ASSIGNMENT ID':<36}  GRADES  TITLE"]
    for r in rows:
        lines.append(
            f"{r.address:<{width}}  {r.status.value:<8} {r.assignment_id or '-':<36}  "
            f"{r.grades:>6}  {escape_controls(r.title or '')}".rstrip()
        )
    grades = sum(r.grades for r in rows)
    lines.append(
        f"\n{len(rows)} assignment(s), {grades} grade(s) in {listing.location} "
        f"(serial {listing.serial})."
    )
    return "\n".join(lines) + "\n"


def _alternatives(values: Mapping[str, Sequence[Any]], scrub: Scrubber, student: bool) -> Any:
    """An intent's fields (each a list of values it may have been sent with), privatised."""
    out: dict[str, list[Any]] = {}
    for name, options in values.items():
        out[name] = [
            privatise_fields({name: v}, scrub, of_student=student)[name] for v in options or ()
        ]
    return out


def _grade_address(entry: StateEntry, who: str) -> str:
    return f"{entry.address.assignment}/grades/{who}"


def entry_document(entry: StateEntry, scrub: Scrubber) -> dict[str, Any]:
    """``state show --json`` at the scrubber's level; it says which level under ``privacy``."""
    data = dict(entry.data)
    level = scrub.choice.level
    doc: dict[str, Any] = {"format_version": STATE_VIEW_FORMAT_VERSION, **data}
    doc["privacy"] = {"level": level.value}
    if not scrub.choice.private:
        return doc
    scrub = Scrubber(scrub.choice, entry.students())
    if entry.address.student is not None:
        who = scrub.who(entry.address.student)
        doc["address"] = _grade_address(entry, who)
        doc["student"] = who
        doc["applied"] = privatise_fields(data.get("applied") or {}, scrub, of_student=True)
    else:
        doc["applied"] = privatise_fields(data.get("applied") or {}, scrub)
        grades = data.get("grades") or {}
        doc["grades"] = privatise_grades(grades, scrub)
        doc["grade_count"] = len(grades)
        intent = dict(data.get("intent") or {})
        if intent:
            intent["fields"] = _alternatives(intent.get("fields") or {}, scrub, False)
            intent_grades = intent.get("grades") or {}
            intent["grades"] = (
                None
                if level is PrivacyLevel.REDACT
                else {scrub.who(s): _alternatives(f, scrub, True) for s, f in intent_grades.items()}
            )
            intent["grade_count"] = len(intent_grades)
            doc["intent"] = intent
    # the safety net: every string left
    scrubbed = scrub.value(doc)
    assert isinstance(scrubbed, dict)
    return scrubbed


def _value(value: Any) -> str:
    return HIDDEN if value == HIDDEN else dumps_for_terminal(value, sort_keys=True)


def _fields_lines(title: str, values: Mapping[str, Any]) -> list[str]:
    if not values:
        return [f"{title + ':':<15}nothing"]
    return [f"{title}:"] + [f"  {name}: {_value(values[name])}" for name in sorted(values)]


def _intent_lines(intent: Mapping[str, Any]) -> list[str]:
    """Writes sent (or about to be) whose result a stopped run did not record."""
    if not intent:
        return []
    lines = ["intent (sent, result not recorded; the next plan checks the LMS):"]
    if intent.get("delete"):
        lines.append("  delete")
    for name, values in sorted((intent.get("fields") or {}).items()):
        lines.append(f"  {name}: {' or '.join(_value(v) for v in values)}")
    grades = intent.get("grades")
    if grades is None and intent.get("grade_count"):
        lines.append(f"  {intent['grade_count']} grade(s) (not shown at privacy level redact)")
    for student, fields in sorted((grades or {}).items()):
        shown = ", ".join(
            f"{k}={' or '.join(_value(v) for v in vs)}" for k, vs in sorted(fields.items())
        )
        lines.append(f"  grade {student}: {shown}")
    return lines


def _grades_lines(doc: Mapping[str, Any]) -> list[str]:
    grades = doc.get("grades")
    if grades is None:
        count = int(doc.get("grade_count") or 0)
        return [f"grades ({count}): not shown at privacy level redact" if count else "grades:"]
    lines = [f"grades ({len(grades)}):" if grades else "grades:        none applied"]
    for student in sorted(grades):
        values = ", ".join(f"{k}={_value(v)}" for k, v in sorted(grades[student].items()))
        lines.append(f"  {student}: {values}")
    return lines


def render_entry_text(doc: Mapping[str, Any], *, command: str = "lmsctl", root: str = "") -> str:
    """``state show``, from its document (so text and JSON show the same); ``command`` and
    ``root`` complete the commands it suggests (see :func:`unknown_outcome_ways_out`)."""
    lines = [f"# {doc['address']}"]
    if "student" in doc:
        lines.append(f"{'assignment_id:':<15}{doc['assignment_id']}")
        lines += _fields_lines("applied", doc["applied"])
        return "\n".join(lines) + "\n"
    for name in ("status", "assignment_id", "created_at", "updated_at", "intent_at"):
        if doc.get(name) is not None:
            lines.append(f"{name + ':':<15}{doc[name]}")
    if doc.get("protect"):
        lines.append(f"{'protect:':<15}true")
    if doc.get("adopted"):
        lines.append(f"{'adopted:':<15}true  (made by another app, adopted with lmsctl import)")
    lines += _fields_lines("applied", doc["applied"])
    lines += _grades_lines(doc)
    lines += _intent_lines(doc.get("intent") or {})
    if doc["status"] != ResourceStatus.CREATED.value:
        lines.append(
            "\nThe create's outcome is not known: the assignment may or may not exist. "
            + unknown_outcome_ways_out(doc["address"], command=command, root=root)
        )
    return "\n".join(lines) + "\n"


def render_removed_text(
    removed: Sequence[Removed],
    scrub: Scrubber,
    *,
    import_command: str = "lmsctl import ADDRESS ASSIGNMENT_ID",
) -> str:
    """What ``state rm`` forgot (a grade's address names its student: shown at the level);
    ``import_command`` is the import it suggests, as the CLI would run it."""
    lines = []
    for item in removed:
        if item.kind == "grade":
            lines.append(f"Forgot the grade values lmsctl applied for {scrub.text(item.address)}.")
        elif item.status is ResourceStatus.CREATED:
            lines.append(
                f"Removed {item.address} from state (assignment {item.assignment_id}, "
                f"{item.grades} grade(s))."
            )
        else:
            lines.append(f"Removed {item.address} from state (create outcome was {item.status}).")
    if any(item.kind == "assignment" for item in removed):
        lines.append(
            "Nothing was deleted in the LMS, and lmsctl no longer manages what was removed. If "
            "an assignment is still in the manifests, the next plan creates it again: to keep "
            f"the existing one, use {import_command} instead."
        )
    if any(item.kind == "grade" for item in removed):
        lines.append(
            "Nothing changed in the LMS. The next plan compares a forgotten grade with the LMS as "
            "if lmsctl had never set it."
        )
    return "\n".join(lines) + "\n"


def render_moved_text(moved: Moved, old: Address, new: Address) -> str:
    return (
        f"Moved {moved.old} to {moved.new} in state "
        f"(assignment {moved.assignment_id or 'not created'}). Nothing changed in the LMS.\n"
        f"The manifest must now use the key {new.key!r} in section "
        f"{new.section_id}; otherwise the next plan deletes it and creates "
        f"{old.key!r} again. (moved_from: in the manifest does this move for you.)\n"
    )


def history_document(location: str, versions: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """``state history --json``: the kept versions, newest first (who saved them, not whom)."""
    return {
        "format_version": STATE_VIEW_FORMAT_VERSION,
        "state": location,
        "versions": [dict(v) for v in versions],
    }


def render_history_text(
    location: str,
    versions: Sequence[Mapping[str, Any]],
    restore_command: str = "lmsctl state restore SERIAL",
) -> str:
    if not versions:
        return f"No versions in {location} yet.\n"
    lines = [f"{'SERIAL':>8}  {'SAVED AT (UTC)':<20}  {'BY':<24}  COMMAND"]
    for n, v in enumerate(versions):
        who = f"{v.get('user')}@{v.get('host')}"
        ci = f"  ({v['ci_run']})" if v.get("ci_run") else ""
        mark = "  (current)" if n == 0 else ""
        lines.append(
            f"{v['serial']:>8}  {v['saved_at']:<20}  {who:<24}  {v.get('command')}{ci}{mark}"
        )
    lines.append(f"\nTo go back to one: {restore_command} (it becomes a new version).")
    return "\n".join(lines) + "\n"
