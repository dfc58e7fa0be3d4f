"""The Markdown plan: summary outside the folds, details inside, never longer than allowed."""

from __future__ import annotations

import re
from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from lmsctl.plan.document import plan_to_document
from lmsctl.plan.model import Action, Plan
from lmsctl.render.markdown import render_plan_markdown
from lmsctl.render.text import NO_CHANGES

from .plans import conflict_plan, drift_only_plan, empty_plan, first_apply_plan, full_plan


def _md(plan: Plan, **kw: int) -> str:
    return render_plan_markdown(plan_to_document(plan), **kw)


def _outside_folds(md: str) -> str:
    return md.split("<details>", 1)[0]


def _well_formed(md: str) -> None:
    assert md.count("<details>") == md.count("</details>")
    fences = [line for line in md.splitlines() if re.match(r"^```", line)]
    assert len(fences) % 2 == 0


def test_summary_counts_conflicts_and_unknown_are_outside_any_fold() -> None:
    plan = full_plan()
    head = _outside_folds(_md(plan))
    assert f"**{plan.summary()}**" in head
    assert "| create | update | grades | delete |" in head
    assert "! 5f1a0c0b8e1d2a0001a00001/hw-01/grades/5f1a0c0b8e1d2a0001b00002" in head
    assert "? 5f1a0c0b8e1d2a0001a00001/quiz-2" in head


def test_changes_are_folded_per_section_in_diff_blocks() -> None:
    md = _md(full_plan())
    assert md.count("<details><summary><b>") == 2
    assert "<b>algebra-1-period-2</b>" in md and "<b>biology-period-4</b>" in md
    assert "```diff\n> 5f1a0c0b8e1d2a0001a00001/unit-1-test" in md
    _well_formed(md)


def test_no_changes() -> None:
    md = _md(empty_plan())
    assert f"**{NO_CHANGES}**" in md and "<details>" not in md
    # an unknown create outcome means the LMS may not match: the summary is shown instead
    outside = _outside_folds(_md(drift_only_plan()))
    assert NO_CHANGES not in outside and "1 with unknown outcome" in outside


def test_a_5000_grade_plan_stays_under_the_limit_and_counts_what_it_cut() -> None:
    plan = first_apply_plan(sections=4, assignments=10, students=125)
    assert plan.counts()[Action.GRADE] == 5000
    md = _md(plan)
    assert len(md) <= 60_000
    assert "**Plan: 40 to create, 0 to update, 5000 grades to set, 0 to delete.**" in md
    assert re.search(r"\.\.\. and \d+ more grades", md)
    assert md.count("will be created") == 40  # every assignment still listed
    _well_formed(md)


def test_never_exceeds_max_chars_even_when_tiny() -> None:
    plan = first_apply_plan(sections=30, assignments=10, students=10)
    for limit in (60_000, 20_000, 5_000, 1_500):
        md = _md(plan, max_chars=limit)
        assert len(md) <= limit, limit
        assert "**Plan: 300 to create" in md
        _well_formed(md)
    small = _md(plan, max_chars=5_000)
    assert "more sections not shown" in small or "more section not shown" in small


def test_many_conflicts_are_listed_with_a_count() -> None:
    base = conflict_plan()
    many = Plan(
        conflicts=base.conflicts * 100,
        district_id=base.district_id,
        lms_type=base.lms_type,
    )
    md = _md(many, max_chars=60_000)
    assert "... and 60 more conflicts" in md
    assert len(md) <= 60_000


def test_markup_in_names_cannot_break_the_comment() -> None:
    plan = first_apply_plan(1, 1, 1)
    evil = replace(plan.changes[0], name="```<script>x</script>", section_name="a <b> | c")
    md = _md(replace(plan, changes=(evil, *plan.changes[1:])))
    # the section name is escaped in the fold's summary; the title stays inside a longer fence
    assert "<summary><b>a &lt;b&gt; | c</b>" in md
    assert "````diff\n" in md and md.rstrip().endswith("````\n\n</details>".rstrip())
    _well_formed(md)


@settings(max_examples=40, deadline=None)
@given(
    sections=st.integers(0, 6),
    assignments=st.integers(1, 5),
    students=st.integers(0, 60),
    max_chars=st.integers(2_000, 70_000),
)
def test_any_plan_fits_any_budget(
    sections: int, assignments: int, students: int, max_chars: int
) -> None:
    md = _md(first_apply_plan(sections, assignments, students), max_chars=max_chars)
    assert len(md) <= max_chars
    assert md.startswith("### lmsctl plan") and md.endswith("\n")
    _well_formed(md)


def test_the_cut_note_is_whole_when_many_long_section_names_overflow() -> None:
    plan = first_apply_plan(60, 1, 5)
    long_names = tuple(
        replace(c, section_name=f"{c.section_name} " + "y" * 60) for c in plan.changes
    )
    doc = plan_to_document(replace(plan, changes=long_names))
    for limit in range(4_085, 4_110):  # the last cut line ends just before the limit
        md = render_plan_markdown(doc, max_chars=limit)
        assert len(md) <= limit
        assert md.endswith("on the saved plan for everything._\n"), limit
        _well_formed(md)
