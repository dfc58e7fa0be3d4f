"""``lmsctl plan`` writes the text plan in parts as it is made (a plan of 100k grades is never
one string nor its bytes): the parts are the whole text, and a write that fails part-way
stops the command with one clear line (exit 1)."""

from __future__ import annotations

import contextlib
import errno
import io

import pytest

from lmsctl.cli.output import emit_plan
from lmsctl.errors import LmsctlError
from lmsctl.plan.document import plan_to_document
from lmsctl.privacy import PrivacyChoice, PrivacyLevel, privatise_document
from lmsctl.render import text as render_text
from tests.render.plans import first_apply_plan


def test_the_streamed_text_is_the_whole_text_in_several_parts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    plan = first_apply_plan(sections=2, assignments=3, students=100)
    doc = privatise_document(plan_to_document(plan), PrivacyChoice(PrivacyLevel.FULL))
    whole = "\n".join(render_text._plan_lines(doc, color=False, command="lmsctl", root=""))
    monkeypatch.setattr(render_text, "PART_SIZE", 4096)
    parts = list(render_text.iter_plan_text(doc))
    assert len(parts) > 5
    assert "".join(parts) == whole + "\n" == render_text.render_plan_text(doc)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        emit_plan(plan, "text", color=False)
    assert out.getvalue() == whole + "\n"


class _FullDisk(io.StringIO):
    """Standard output that takes ``room`` characters, then fails as a full disk does."""

    def __init__(self, room: int) -> None:
        super().__init__()
        self.room = room

    def write(self, s: str) -> int:
        if self.tell() + len(s) > self.room:
            raise OSError(errno.ENOSPC, "No space left on device")
        return super().write(s)


def test_a_write_that_fails_part_way_is_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(render_text, "PART_SIZE", 4096)
    plan = first_apply_plan(sections=2, assignments=3, students=100)
    out = _FullDisk(room=20_000)
    with contextlib.redirect_stdout(out), pytest.raises(LmsctlError) as caught:
        emit_plan(plan, "text", color=False)
    assert str(caught.value).startswith("cannot write the plan to standard output: ")
    assert "No space left on device" in str(caught.value)
    assert "incomplete text plan" in str(caught.value)
    assert 0 < len(out.getvalue()) <= 20_000
