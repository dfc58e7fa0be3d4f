"""The plan as Markdown for pull-request comments and CI job summaries, from the plan document.

Outside any fold: a heading, the summary line, a table of counts, and the conflicts and
unknown-outcome entries (they block or need a person). Inside ``<details>`` folds: drift, the
changes of each section (a fenced ``diff`` block in the text plan's notation), and warnings.

The result never exceeds ``max_chars`` (GitHub refuses comments over 65,536 characters): long
grade lists are cut per assignment with "... and N more grades", and sections that do not fit
are listed by name with their counts.

Pure: no I/O.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from lmsctl.render.style import Style
from lmsctl.render.text import (
    AssignmentGroup,
    approval_lines,
    assignment_lines,
    conflict_lines,
    consent_lines,
    drift_lines,
    frozen_lines,
    group_changes,
    header_line,
    no_changes_line,
    privacy_line,
    unknown_lines,
)
from lmsctl.safetext import escape_controls

__all__ = ["DEFAULT_MAX_CHARS", "render_plan_markdown"]

DEFAULT_MAX_CHARS = 60_000
#: grade lines tried per assignment, most first, until a section fits its share of the budget
_GRADE_CAPS = (25, 10, 3, 0)
#: entries shown outside the folds before "... and N more"
_MAX_LISTED = 40
#: a grade line is never shorter than this: more grades than budget / this cannot all be shown
_MIN_GRADE_LINE = 30
_PLAIN = Style(False)
_SHOW_HINT = "run `lmsctl show PLANFILE` on the saved plan for everything"


def _fence(lines: Sequence[str], lang: str = "") -> str:
    body = "\n".join(lines)
    runs = [len(m) for m in re.findall(r"`+", body)]
    ticks = "`" * max(3, max(runs, default=0) + 1)
    return f"{ticks}{lang}\n{body}\n{ticks}"


def _dedent(lines: Sequence[str]) -> list[str]:
    """Drop the text plan's two-space indent so diff symbols sit in column 0."""
    return [line[2:] if line.startswith("  ") else line for line in lines]


def _block(lines: Sequence[str]) -> str:
    """A text-plan block: its heading in bold, its entries in a fence."""
    return f"**{_md_escape(lines[0])}**\n\n{_fence(_dedent(lines[2:]))}"


def _details(summary: str, body: str) -> str:
    return f"<details><summary>{summary}</summary>\n\n{body}\n\n</details>"


def _plural(n: int, one: str) -> str:
    return f"{n} {one if n == 1 else one + 's'}"


def _md_escape(text: str) -> str:
    """Text safe in a Markdown list item: markup characters backslash-escaped, control and
    bidirectional characters written as visible escapes."""
    return re.sub(r"([\\`*_\[\]<>|#!])", r"\\\1", escape_controls(text))


@dataclass
class _Section:
    section_id: str
    name: str = ""
    groups: list[AssignmentGroup] = field(default_factory=list)

    @property
    def label(self) -> str:
        return self.name or self.section_id

    def counts(self) -> str:
        n: dict[str, int] = {"create": 0, "update": 0, "delete": 0, "move": 0}
        grades = 0
        for g in self.groups:
            for c in g.changes:
                action = str((c.get("actions") or [""])[0])
                n[action] = n.get(action, 0) + 1
            grades += g.grade_count
        parts = []
        if n["move"]:
            parts.append(f"{n['move']} to move")
        if n["create"]:
            parts.append(f"{n['create']} to create")
        if n["update"]:
            parts.append(f"{n['update']} to update")
        if grades:
            parts.append(f"{_plural(grades, 'grade')} to set")
        if n["delete"]:
            parts.append(f"{n['delete']} to delete")
        return ", ".join(parts)

    def summary_html(self) -> str:
        label = f"<b>{html.escape(escape_controls(self.label))}</b>"
        if self.name and self.name != self.section_id:
            label += f" <code>{html.escape(self.section_id)}</code>"
        return f"{label}: {html.escape(self.counts())}"

    def render(self, grade_cap: int | None) -> str:
        lines: list[str] = []
        for group in self.groups:
            if lines:
                lines.append("")
            lines.extend(assignment_lines(_PLAIN, group, max_grades=grade_cap))
        return _details(self.summary_html(), _fence(_dedent(lines), "diff"))


def _sections(groups: Sequence[AssignmentGroup]) -> list[_Section]:
    by_id: dict[str, _Section] = {}
    for group in groups:
        section = by_id.setdefault(group.section_id, _Section(group.section_id))
        section.groups.append(group)
        if not section.name and group.section_name:
            section.name = group.section_name
    return list(by_id.values())


def _fit_sections(sections: Sequence[_Section], budget: int) -> tuple[list[str], list[_Section]]:
    """Fold blocks for the sections within ``budget`` characters, and the sections left out.

    Every section gets the same grade cap (the largest that fits them all), so a long plan reads
    evenly; if even no grade lines at all do not fit, sections are taken in order while they fit.
    """
    grades = sum(g.grade_count for s in sections for g in s.groups)
    caps: list[int | None] = list(_GRADE_CAPS)
    if grades * _MIN_GRADE_LINE < budget:
        caps.insert(0, None)
    for cap in caps:
        blocks = [s.render(cap) for s in sections]
        if sum(len(b) + 2 for b in blocks) <= budget:
            return blocks, []
    kept: list[str] = []
    omitted: list[_Section] = []
    for section, block in zip(sections, blocks, strict=True):
        if not omitted and len(block) + 2 <= budget:
            kept.append(block)
            budget -= len(block) + 2
        else:
            omitted.append(section)
    return kept, omitted


def _counts_table(doc: Mapping[str, Any]) -> str:
    s = doc.get("summary") or {}
    cols = [
        ("create", s.get("create", 0)),
        ("update", s.get("update", 0)),
        ("grades", s.get("grade", 0)),
        ("delete", s.get("delete", 0)),
        ("move", s.get("move", 0)),
        ("unknown", s.get("unknown", 0)),
        ("drift", s.get("drift", 0)),
        ("conflicts", s.get("conflicts", 0)),
    ]
    head = "| " + " | ".join(name for name, _ in cols) + " |"
    rule = "|" + "|".join("---:" for _ in cols) + "|"
    row = "| " + " | ".join(str(int(v)) for _, v in cols) + " |"
    return "\n".join([head, rule, row])


def _truncate(text: str, limit: int) -> str:
    """Cut at a line boundary to at most ``limit`` characters, with a note (last resort)."""
    if len(text) <= limit:
        return text
    note = f"\n\n_Output cut at {limit:,} characters; {_SHOW_HINT}._\n"
    closers = len("\n```") + len("\n</details>")  # room to close a fence and a fold
    cut = text[: max(limit - len(note) - closers, 0)]
    if "\n" in cut:
        cut = cut[: cut.rindex("\n")]
    # an unclosed fence or fold would swallow the note: close them
    if cut.count("```") % 2:
        cut += "\n```"
    if cut.count("<details>") > cut.count("</details>"):
        cut += "\n</details>"
    result = cut + note
    return result if len(result) <= limit else result[:limit]


def _listed(lines: Sequence[str]) -> str:
    """Entries as a Markdown list, the first ``_MAX_LISTED`` of them."""
    items = [f"- {_md_escape(line)}" for line in lines[:_MAX_LISTED]]
    if len(lines) > _MAX_LISTED:
        items.append(f"- ... and {len(lines) - _MAX_LISTED} more")
    return "\n".join(items)


def _head(doc: Mapping[str, Any], groups: Sequence[AssignmentGroup]) -> str:
    """What stays outside the folds: heading, summary, counts, and what blocks or needs a
    person (consents, conflicts, frozen changes, approvals, unknown outcomes)."""
    changes: Sequence[Mapping[str, Any]] = doc.get("changes") or []
    conflicts: Sequence[Mapping[str, Any]] = doc.get("conflicts") or []
    frozen: Sequence[Mapping[str, Any]] = doc.get("frozen") or []
    approvals: Sequence[Mapping[str, Any]] = doc.get("approvals") or []
    unknown = [c for c in changes if (c.get("actions") or [""])[0] == "unknown"]
    blocking = [c for c in conflicts if not c.get("forced")]
    blocking += [f for f in frozen if not f.get("allowed")]
    summary = doc.get("summary") or {}

    head: list[str] = [f"### {escape_controls(header_line(doc))}"]
    private = privacy_line(doc)
    if private:
        head.append(f"_{_md_escape(private)}_")
    targets = (doc.get("options") or {}).get("targets") or []
    if targets:
        head.append("Limited to " + ", ".join(f"`{escape_controls(str(t))}`" for t in targets))
    if not groups and not blocking and not summary.get("unknown", 0):
        head.append(f"**{no_changes_line(doc)}**")
    else:
        head.append(f"**{summary.get('text', '')}**")
        head.append(_counts_table(doc))
    consents = consent_lines(doc)
    if consents:
        head.append("**Apply needs explicit consent:**\n\n" + _listed(consents))
    if conflicts:
        head.append(_block(conflict_lines(_PLAIN, conflicts, limit=_MAX_LISTED)))
    if frozen:
        head.append(_block(frozen_lines(_PLAIN, frozen[:_MAX_LISTED])))
    if approvals:
        head.append(_block(approval_lines(_PLAIN, approvals[:_MAX_LISTED])))
    if unknown:
        head.append(_block(unknown_lines(_PLAIN, unknown, limit=_MAX_LISTED)))
    return "\n\n".join(head)


def _drift_fold(drift: Sequence[Mapping[str, Any]]) -> str:
    lines = drift_lines(_PLAIN, drift, limit=_MAX_LISTED)
    noun = "field" if len(drift) == 1 else "fields"
    return _details(f"Drift: {len(drift)} {noun} changed in the LMS", _fence(_dedent(lines[2:])))


def _warning_fold(warnings: Sequence[str]) -> str:
    shown = [escape_controls(str(w)) for w in warnings[:_MAX_LISTED]]
    if len(warnings) > _MAX_LISTED:
        shown.append(f"... and {len(warnings) - _MAX_LISTED} more warnings")
    return _details(f"Warnings: {len(warnings)}", _fence(shown))


def _omitted_fold(omitted: Sequence[_Section]) -> str:
    """The sections that did not fit, by name with their counts."""
    listed = omitted[:_MAX_LISTED]
    items = "\n".join(f"- {_md_escape(s.label)}: {s.counts()}" for s in listed)
    more = len(omitted) - len(listed)
    if more:
        items += f"\n- ... and {more} more sections"
    return _details(
        f"{_plural(len(omitted), 'more section')} not shown (too long for a comment)",
        f"{items}\n\nTo see them, {_SHOW_HINT}.",
    )


def render_plan_markdown(doc: Mapping[str, Any], *, max_chars: int = DEFAULT_MAX_CHARS) -> str:
    """The plan document as Markdown of at most ``max_chars`` characters, ending in a newline."""
    drift: Sequence[Mapping[str, Any]] = doc.get("drift") or []
    warnings: Sequence[str] = doc.get("warnings") or []
    groups = group_changes(doc.get("changes") or [], doc.get("grade_summaries") or ())
    text = _head(doc, groups)
    folds = [_drift_fold(drift)] if drift else []
    warning_fold = _warning_fold(warnings) if warnings else ""

    # the budget: what is left after the head, drift and warnings, less room for a final note
    reserve = 400
    fixed = (
        len(text) + sum(len(f) + 2 for f in folds) + (len(warning_fold) + 2 if warning_fold else 0)
    )
    blocks, omitted = _fit_sections(_sections(groups), max_chars - fixed - reserve)
    folds.extend(blocks)
    if omitted:
        folds.append(_omitted_fold(omitted))
    if warning_fold:
        folds.append(warning_fold)
    if folds:
        text += "\n\n" + "\n\n".join(folds)
    # every piece above is escaped where it enters; this last pass is the guarantee (a no-op
    # unless a piece was missed), made before the cut so the limit still holds
    return _truncate(escape_controls(text + "\n"), max_chars)
