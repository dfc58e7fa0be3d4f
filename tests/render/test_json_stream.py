"""``plan --format json`` and plan files are streamed, and the stream is exactly the whole document.

A plan of 100k changes used to be one JSON string, copied again to escape control characters
and again to encode it (about 1 GB at its peak), and then 100k dicts of the whole document
(548 MB): the document now makes each change as it is written (plan_document, LazyItems), the
privacy layer makes it private as it passes, and iter_plan_json gives the text a part at a
time."""

from __future__ import annotations

import contextlib
import gc
import io
import json
import os
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from lmsctl import __version__
from lmsctl.cli.output import emit_plan
from lmsctl.plan.document import LazyItems, plan_document, plan_to_document
from lmsctl.plan.model import Plan
from lmsctl.privacy import PrivacyChoice, PrivacyLevel, StudentDirectory, privatise_document
from lmsctl.render import json as render_json
from lmsctl.render.json import dumps_for_terminal, iter_plan_json, render_plan_json
from tests.render.plans import (
    conflict_plan,
    drift_only_plan,
    empty_plan,
    first_apply_plan,
    full_plan,
    review_plan,
    sid,
    state_fix_plan,
)

#: the version the golden files name (tests/render/test_golden.py)
GOLDEN_VERSION = '"lmsctl_version": "0.0.0+golden"'

HOSTILE = "\u202e\x1b[8m\r\x07\u2028 Ünï\n\t"


def _whole(doc: Any) -> str:
    return dumps_for_terminal(doc, indent=2) + "\n"


@pytest.mark.parametrize(
    "make",
    [full_plan, empty_plan, drift_only_plan, conflict_plan, first_apply_plan, state_fix_plan],
)
def test_the_parts_join_to_the_whole_document(make: Any) -> None:
    plan: Plan = make()
    doc = plan_to_document(plan)
    assert render_plan_json(doc) == _whole(doc)
    assert json.loads(render_plan_json(doc)) == json.loads(_whole(doc))


@pytest.mark.parametrize(
    "doc",
    [
        {},
        {"a": []},
        {"a": {}, "b": [[]], "c": [{}], "d": None},
        {"changes": [{"name": HOSTILE, "x": [1, {"y": HOSTILE}]}, {"z": {}}], HOSTILE: HOSTILE},
    ],
)
def test_edge_values_render_as_json_dumps_does(doc: dict[str, Any]) -> None:
    assert render_plan_json(doc) == _whole(doc)


def test_a_large_plan_comes_in_many_parts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(render_json, "PART_SIZE", 2000)
    doc = plan_to_document(first_apply_plan(sections=3, assignments=5, students=30))
    parts = list(iter_plan_json(doc))
    assert len(parts) > 10
    assert max(len(p) for p in parts) < 2000 + 5000  # one change's text at most beyond it
    assert "".join(parts) == _whole(doc)


# -- the streamed CLI output is the whole document main printed --------------------------------

GOLDEN = Path(__file__).parent / "golden"
LEVELS = {
    "review.json": PrivacyChoice(PrivacyLevel.FULL),
    "review.pseudonymise.json": PrivacyChoice(PrivacyLevel.PSEUDONYMISE, b"golden key"),
    "review.redact.json": PrivacyChoice(PrivacyLevel.REDACT),
}


def _emitted(plan: Plan, choice: PrivacyChoice, directory: StudentDirectory | None = None) -> str:
    """What ``plan --format json`` writes to stdout (emit_plan, the command's own seam)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        emit_plan(plan, "json", color=False, privacy=choice, directory=directory)
    return out.getvalue()


@pytest.mark.parametrize("name", sorted(LEVELS))
def test_the_streamed_json_plan_is_byte_for_byte_the_document_printed_whole(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """creates, updates, deletes, a move, an unknown outcome, grades, drift, conflicts, a warning,
    consents, approvals, a frozen grade and state fixes, at each privacy level: the golden
    files were written by the code that built the whole document before printing it."""
    monkeypatch.setattr(render_json, "PART_SIZE", 1500)  # many parts: a change or two in each
    streamed = _emitted(review_plan(), LEVELS[name])
    streamed = streamed.replace(f'"lmsctl_version": "{__version__}"', GOLDEN_VERSION, 1)
    assert streamed == (GOLDEN / name).read_text(encoding="utf-8")


@pytest.mark.parametrize("level", list(PrivacyLevel))
def test_streamed_and_whole_agree_with_the_rosters_directory(level: PrivacyLevel) -> None:
    """plan passes the rosters' directory (names the manifests never wrote): the streamed
    document scrubs them as the whole one does."""
    choice = PrivacyChoice(level, b"k" if level is PrivacyLevel.PSEUDONYMISE else None)
    plan = review_plan()
    directory = StudentDirectory()
    directory.add_user({"id": sid("b00003"), "name": {"first": "Caleb", "last": "Patel"}})
    directory.add_user({"id": sid("b00099"), "name": {"first": "Ada", "last": "Okafor"}})
    whole = privatise_document(plan_to_document(plan), choice, directory)
    assert _emitted(plan, choice, directory) == _whole(whole)


def test_the_document_holds_its_changes_lazily_and_reads_them_afresh() -> None:
    plan = review_plan()
    doc = plan_document(plan)
    changes = doc["changes"]
    assert isinstance(changes, LazyItems) and len(changes) == len(plan.changes)
    first, again = list(changes), list(changes)
    assert first == again == plan_to_document(plan)["changes"]
    assert first[0] is not again[0]  # each reading makes new dicts: a reader may change them


def _peak(work: Any) -> int:
    """The peak of Python's allocations while ``work()`` runs, in bytes."""
    gc.collect()
    tracemalloc.start()
    try:
        work()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("level", list(PrivacyLevel))
def test_plan_json_never_holds_the_whole_document(
    level: PrivacyLevel, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Writing 800 grade changes in parts of 16 KB peaks at a small part of what the whole
    document takes: the memory of ``plan --format json``, at any privacy level, grows with
    neither the changes' dicts nor the text."""
    monkeypatch.setattr(render_json, "PART_SIZE", 16 * 1024)
    choice = PrivacyChoice(level, b"k" if level is PrivacyLevel.PSEUDONYMISE else None)
    plan = first_apply_plan(sections=2, assignments=4, students=100)

    def stream() -> None:
        with open(os.devnull, "w", encoding="utf-8") as sink, contextlib.redirect_stdout(sink):
            emit_plan(plan, "json", color=False, privacy=choice)

    stream()  # once first: what is made once per process (imports, regex caches) is not measured
    whole = _peak(lambda: privatise_document(plan_to_document(plan), choice))
    streamed = _peak(stream)
    assert whole > 1_000_000  # the measure measures: the dicts of 800 changes
    assert streamed < whole / 5, (streamed, whole)
