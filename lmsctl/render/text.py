"""The plan as Terraform-like text, rendered from the plan's JSON document.

Rendering from the document (not from the Plan object) keeps one source for every output, and
lets ``lmsctl show PLANFILE`` print a saved plan exactly as ``lmsctl plan`` printed it.

Layout, top to bottom: a header naming the district, LMS and API; drift (changed in the LMS
since lmsctl applied it); conflicts (``!``); unknown create outcomes (``?``) with the commands
that resolve them; the changes, grouped per assignment in the order apply makes them (``>`` move,
``+`` create, ``~`` update, grades, ``-`` delete); warnings; the summary line.

Pure: no I/O, no terminal detection. ``color=True`` adds ANSI codes, nothing else changes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from lmsctl.lms import display_name
from lmsctl.plan.document import ChangeItems, joined_parts
from lmsctl.plan.model import Action, Change
from lmsctl.plan.words import (
    approval_words,
    conflict_words,
    consent_words,
    frozen_words,
    unknown_outcome_words,
)
from lmsctl.render.gradeline import (
    GradeLines,
    extra_reason,
    format_value,
    grade_line,
    removes,
)
from lmsctl.render.groups import AssignmentGroup, action_of, group_changes
from lmsctl.render.style import Style
from lmsctl.safetext import escape_controls

__all__ = [
    "NO_CHANGES",
    "AssignmentGroup",
    "approval_lines",
    "assignment_lines",
    "conflict_lines",
    "consent_lines",
    "drift_lines",
    "frozen_lines",
    "group_changes",
    "header_line",
    "impact_text",
    "iter_plan_text",
    "privacy_line",
    "render_plan_text",
    "unknown_lines",
]

NO_CHANGES = "No changes. The LMS matches the manifests."
NO_CHANGES_KEPT_DRIFT = (
    "No changes. The LMS matches the manifests, except for the drift above, which is kept."
)


def no_changes_line(doc: Mapping[str, Any]) -> str:
    """The closing line of a plan with nothing to do (kept drift is not "matching")."""
    kept = [d for d in doc.get("drift") or [] if not d.get("reverted")]
    return NO_CHANGES_KEPT_DRIFT if kept else NO_CHANGES


_ASSIGNMENT_ACTIONS = ("move", "create", "update", "delete")
_HEADER_VERB = {
    "create": "will be created",
    "update": "will be updated in place",
    "delete": "will be deleted",
}


# -- values ------------------------------------------------------------------------------------


def _plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


def _sentences(text: str) -> list[str]:
    """Split a long explanation after '. ' and '; ' so each command stays whole on its line."""
    return [s for s in re.split(r"(?<=[.;]) (?=\S)", text.strip()) if s]


def summary_line(style: Style, summary: Mapping[str, Any]) -> str:
    """``~ 12 grades to set: 5 up, 3 down, 4 new; mean change +1.25 points`` (redacted)."""
    n = int(summary.get("grades") or 0)
    parts = [f"{summary.get('up', 0)} up", f"{summary.get('down', 0)} down"]
    if summary.get("new"):
        parts.append(f"{summary['new']} new")
    text = f"{style.symbol('~')} {_plural(n, 'grade')} to set: {', '.join(parts)}"
    mean = summary.get("mean_change")
    if isinstance(mean, int | float):
        text += f"; mean change {mean:+g} points"
    return text + style("  (students not shown: --privacy redact)", "dim")


# -- the renderer ------------------------------------------------------------------------------


@dataclass
class _Writer:
    style: Style
    lines: list[str] = field(default_factory=list)

    def add(self, text: str = "") -> None:
        self.lines.append(text)

    def blank(self) -> None:
        if self.lines and self.lines[-1] != "":
            self.lines.append("")


def header_line(doc: Mapping[str, Any]) -> str:
    """``lmsctl plan for district <id> (<LMS>) at <API URL>``, with what is known."""
    text = "lmsctl plan"
    district = doc.get("district_id") or ""
    lms = str(doc.get("lms_type") or "")
    if district:
        text += f" for district {district}"
    if lms:
        text += f" ({display_name(lms)})"
    if doc.get("api_url"):
        text += f" at {doc['api_url']}"
    return text


def _quoted_name(name: Any) -> str:
    return f" {format_value(str(name))}" if name else ""


def _field_line(style: Style, f: Mapping[str, Any], *, create: bool) -> str:
    name = escape_controls(str(f.get("field", "")))
    after = format_value(f.get("after"))
    if not create and removes(f):
        return f"{style.symbol('-')} {name}: {format_value(f.get('before'))} (removed)"
    if create or f.get("before") is None:
        return f"{style.symbol('+')} {name}: {after}"
    return f"{style.symbol('~')} {name}: {format_value(f.get('before'))} -> {after}"


def impact_text(impact: Mapping[str, Any] | None) -> str:
    """``holds 25 submissions, 3 turned in, 7 graded`` for a delete."""
    if not impact or not impact.get("submissions"):
        return "holds no submissions"
    text = (
        f"holds {_plural(int(impact['submissions']), 'submission')}, "
        f"{impact.get('turned_in', 0)} turned in, {impact.get('graded', 0)} graded"
    )
    if impact.get("turned_in") or impact.get("graded"):
        text += "; that student work is lost with it"
    return text


def assignment_lines(
    style: Style, group: AssignmentGroup, *, max_grades: int | None = None
) -> list[str]:
    """One assignment's changes and grades, indented for the changes block.

    ``max_grades`` shows at most that many grade lines, then "... and N more grades".
    """
    out: list[str] = []
    for change in group.changes:
        action = action_of(change)
        address = change.get("address", group.address)
        name = _quoted_name(change.get("name"))
        if action == "move":
            out.append(
                f"  {style.symbol('>')} {style(str(address), 'bold')}{name} moved from "
                f"{escape_controls(str(change.get('moved_from')))}"
                + style("  (in state only; nothing changes in the LMS)", "dim")
            )
            continue
        symbol = "-" if action == "delete" else "+" if action == "create" else "~"
        head = f"  {style.symbol(symbol)} {style(str(address), 'bold')}{name} "
        head += escape_controls(_HEADER_VERB.get(action, action))
        extra = extra_reason(change)
        if extra:
            head += style(f"  ({extra})", "dim")
        out.append(head)
        if action == "delete":
            out.append(f"      {impact_text(change.get('impact'))}")
            continue
        for f in change.get("fields") or []:
            out.append("      " + _field_line(style, f, create=action == "create"))
        hidden = int(change.get("unchanged") or 0)
        if hidden:
            out.append(style(f"      ({_plural(hidden, 'unchanged field')} hidden)", "dim"))
    if group.grade_count:
        if not group.changes:
            where = f" ({group.section_name})" if group.section_name else ""
            out.append(
                style(f"  # {group.address}{where}: ", "bold")
                + style(_plural(group.grade_count, "grade") + " to set", "bold")
            )
        if group.grade_summary is not None:
            out.append("      " + summary_line(style, group.grade_summary))
        shown = group.grades if max_grades is None else group.grades[:max_grades]
        for grade in shown:
            line = grade if isinstance(grade, str) else grade_line(style, grade)
            out.append("      " + line)
        more = len(group.grades) - len(shown)
        if more:
            out.append(style(f"      ... and {_plural(more, 'more grade')}", "dim"))
    return out


def _group_by_address(items: Sequence[Mapping[str, Any]]) -> list[list[Mapping[str, Any]]]:
    order: dict[str, list[Mapping[str, Any]]] = {}
    for item in items:
        order.setdefault(str(item.get("address", "")), []).append(item)
    return list(order.values())


def _more(style: Style, n: int, what: str) -> list[str]:
    return [style(f"  ... and {n} more {what}", "dim")] if n > 0 else []


def drift_lines(
    style: Style, drift: Sequence[Mapping[str, Any]], *, limit: int | None = None
) -> list[str]:
    """The drift block; ``limit`` shows that many fields, then "... and N more"."""
    out = [
        style(
            f"Drift: {_plural(len(drift), 'field')} changed in the LMS since lmsctl applied "
            f"{'it' if len(drift) == 1 else 'them'}",
            "bold",
        ),
        "",
    ]
    kept = sum(1 for d in drift if not d.get("reverted"))
    for items in _group_by_address(drift[:limit]):
        first = items[0]
        out.append(
            f"  {style.symbol('~')} {style(str(first.get('address')), 'bold')}"
            f"{_quoted_name(first.get('name'))}"
        )
        for d in items:
            line = (
                f"      {escape_controls(str(d.get('field')))}: "
                f"last applied {format_value(d.get('applied'))}, "
                f"LMS now {format_value(d.get('live'))}; "
            )
            if d.get("reverted"):
                line += style("will be reverted", "yellow")
            else:
                line += "kept"
            out.append(line)
    out.extend(_more(style, len(drift) - len(drift[:limit]), "drifted fields"))
    if kept:
        out.append("")
        out.append(
            "  Kept drift stays in the LMS and shows in every plan: write the LMS value in the"
        )
        out.append(
            "  manifest to adopt it, or plan with --revert-drift to put the manifest value back."
        )
    return out


def conflict_lines(
    style: Style, conflicts: Sequence[Mapping[str, Any]], *, limit: int | None = None
) -> list[str]:
    """The conflicts block; ``limit`` shows that many, then "... and N more"."""
    n = len(conflicts)
    out = [
        style(
            f"Conflicts: {_plural(n, 'field')} changed both in the manifests and in the LMS",
            "bold",
            "red",
        ),
        "",
    ]
    for c in conflicts[:limit]:
        applied = c.get("applied")
        out.append(
            f"  {style.symbol('!')} {style(str(c.get('address')), 'bold')}"
            f"{_quoted_name(c.get('name'))}"
        )
        out.append(
            f"      {escape_controls(str(c.get('field')))}: "
            f"manifests {format_value(c.get('desired'))}, "
            f"LMS {format_value(c.get('live'))}, "
            f"last applied {'never' if applied is None else format_value(applied)}"
        )
        why = conflict_words(c.get("why"))
        source = str(c.get("source") or "")
        if why or source:
            out.append(
                escape_controls(f"      {why}{f' ({source})' if why and source else source}")
            )
        if c.get("forced"):
            out.append(
                style("      forced: this plan overwrites the LMS value (--force)", "yellow")
            )
        else:
            out.append(
                "      to resolve: edit the manifest to the LMS value, "
                "or plan again with --force to overwrite the LMS"
            )
    out.extend(_more(style, n - len(conflicts[:limit]), "conflicts"))
    return out


def unknown_lines(
    style: Style, unknown: Sequence[Mapping[str, Any]], *, limit: int | None = None, **hint: str
) -> list[str]:
    """The unknown-outcome block; ``limit`` shows that many, then "... and N more"; ``hint``
    (``command``, ``root``) completes the commands it suggests."""
    out = [
        style(
            f"Unknown outcome: {_plural(len(unknown), 'create')} whose answer was lost; "
            "nothing is done to "
            f"{'it' if len(unknown) == 1 else 'them'} until resolved",
            "bold",
            "magenta",
        ),
        "",
    ]
    for change in unknown[:limit]:
        out.append(
            f"  {style.symbol('?')} {style(str(change.get('address')), 'bold')}"
            f"{_quoted_name(change.get('name'))} outcome unknown"
        )
        words = unknown_outcome_words(
            str(change.get("address")), change.get("reasons") or (), **hint
        )
        for sentence in _sentences(words):
            out.append(f"      {escape_controls(sentence)}")
    out.extend(_more(style, len(unknown) - len(unknown[:limit]), "with unknown outcome"))
    return out


def frozen_lines(style: Style, frozen: Sequence[Mapping[str, Any]]) -> list[str]:
    """The freeze block: changes inside a ``policies.freeze`` window."""
    blocking = [f for f in frozen if not f.get("allowed")]
    head = (
        f"Frozen: {_plural(len(blocking), 'change')} inside a grading-period freeze "
        "(policies.freeze)"
        if blocking
        else "Frozen changes allowed by --allow-frozen"
    )
    out = [style(head, "bold", "red" if blocking else "yellow"), ""]
    for item in frozen:
        out.append(f"  {style.symbol('!')} {frozen_words(item)}")
    return out


def approval_lines(style: Style, needs: Sequence[Mapping[str, Any]]) -> list[str]:
    """The approval block: changes a ``policies.approval`` rule says need a second reviewer."""
    out = [
        style(
            f"Needs approval: {_plural(len({n.get('address') for n in needs}), 'change')} "
            "(policies.approval)",
            "bold",
            "yellow",
        ),
        "",
    ]
    for need in needs:
        out.append(f"  {style.symbol('!')} {need.get('message') or approval_words(need)}")
    return out


def privacy_line(doc: Mapping[str, Any]) -> str:
    """``Privacy: pseudonymised (...)`` for a private document, else ""."""
    privacy = doc.get("privacy") or {}
    level = str(privacy.get("level") or "full")
    if level == "full":
        return ""
    why = " (no pseudonyms: LMSCTL_PSEUDONYM_KEY is not set)" if privacy.get("fallback") else ""
    return f"Privacy: {escape_controls(_PRIVACY_WORDS.get(level, level))}{why}"


_PRIVACY_WORDS = {
    "pseudonymise": "students shown as keyed pseudonyms; grade comments hidden",
    "redact": "no students shown; grades as aggregates per assignment",
}


def consent_lines(doc: Mapping[str, Any]) -> list[str]:
    """One line per consent the plan needs, each naming its apply flag."""
    return [consent_words(n) for n in doc.get("consents") or []]


def _grouped(changes: Iterable[Mapping[str, Any]]) -> Iterable[Mapping[str, Any] | Change]:
    """The document's changes as the grouping reads them. Of a plan document's own changes
    (not made private), a grade is its plan change itself, whose line is read from it
    (:meth:`GradeLines.change_line`): 100k grades without 100k dicts of 21 keys."""
    if type(changes) is not ChangeItems:
        return changes
    make = changes.make
    grade = Action.GRADE
    return (c if c.action is grade else make(c) for c in changes.changes)


#: about how much text each part of :func:`iter_plan_text` holds
PART_SIZE = 256 * 1024


def render_plan_text(
    doc: Mapping[str, Any], *, color: bool = False, command: str = "lmsctl", root: str = ""
) -> str:
    """The plan document as Terraform-like text, ending in a newline.

    With ``color=True`` symbols and headings carry ANSI codes; the text is otherwise the same.
    ``command`` (lmsctl with the run's --sandbox...) and ``root`` complete the commands shown.
    """
    return "".join(iter_plan_text(doc, color=color, command=command, root=root))


def iter_plan_text(
    doc: Mapping[str, Any], *, color: bool = False, command: str = "lmsctl", root: str = ""
) -> Iterator[str]:
    """:func:`render_plan_text`'s text in parts of about :data:`PART_SIZE` characters, for
    writing as it is made: a plan of 100k grades is never one string (nor its bytes)."""
    lines = _plan_lines(doc, color=color, command=command, root=root)
    return joined_parts((line + "\n" for line in lines), PART_SIZE)


def _plan_lines(doc: Mapping[str, Any], *, color: bool, command: str, root: str) -> list[str]:
    """The lines of :func:`render_plan_text` (no newlines)."""
    style = Style(color)
    w = _Writer(style)
    w.add(style(header_line(doc), "bold"))
    private = privacy_line(doc)
    if private:
        w.add(private)
    targets = (doc.get("options") or {}).get("targets") or []
    if targets:
        w.add(escape_controls(f"Limited to --target {', '.join(str(t) for t in targets)}"))
    w.blank()

    drift: Sequence[Mapping[str, Any]] = doc.get("drift") or []
    conflicts: Sequence[Mapping[str, Any]] = doc.get("conflicts") or []
    unknown: list[Mapping[str, Any]] = []
    # the changes may be lazy (each dict made as it is read): read once, grades kept as lines
    lines = GradeLines(style)
    groups = group_changes(
        _grouped(doc.get("changes") or []),
        doc.get("grade_summaries") or (),
        grade_text=lines.line,
        grade_line=lines.change_line,
        unknown=unknown,
    )
    frozen: Sequence[Mapping[str, Any]] = doc.get("frozen") or []
    approvals: Sequence[Mapping[str, Any]] = doc.get("approvals") or []

    for block in (
        drift_lines(style, drift) if drift else [],
        conflict_lines(style, conflicts) if conflicts else [],
        frozen_lines(style, frozen) if frozen else [],
        unknown_lines(style, unknown, command=command, root=root) if unknown else [],
    ):
        if block:
            for line in block:
                w.add(line)
            w.blank()

    if groups:
        w.add(style("lmsctl will make these changes, in this order:", "bold"))
        for group in groups:
            w.blank()
            for line in assignment_lines(style, group):
                w.add(line)
        w.blank()

    if approvals:
        for line in approval_lines(style, approvals):
            w.add(line)
        w.blank()

    warnings = consent_lines(doc) + list(doc.get("warnings") or [])
    if warnings:
        w.add(style("Warnings:", "bold", "yellow"))
        for warning in warnings:
            w.add(f"  {escape_controls(str(warning))}")
        w.blank()

    summary = doc.get("summary") or {}
    blocking = [c for c in conflicts if not c.get("forced")]
    blocking += [f for f in frozen if not f.get("allowed")]
    n_unknown = (doc.get("summary") or {}).get("unknown", 0)
    if not groups and not blocking and not n_unknown:
        w.add(style(no_changes_line(doc), "bold", "green"))
    else:
        w.add(style(str(summary.get("text", "")), "bold"))
    return w.lines
