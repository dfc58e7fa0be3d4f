"""Every writable field settles: apply any valid manifest, then plan says No changes.

A property test over generated manifests (every writable assignment and grade field, each LMS
type): the real loader, refresh, plan builder, executor and client run against the in-process
sandbox, which echoes values the way the reference says each LMS does (fields left out when
they hold their default, 32-bit floats, Google Classroom's 2-decimal grades, ...). Each example
applies one manifest, plans again, then applies an edited manifest (other values, cleared grade
fields) and plans again: both plans must be empty (no change, no drift, no conflict), the LMS
must hold what the manifest says, and the saved-plan re-check must see nothing moved. Grades
are written inline or in a CSV gradebook. ``LMSCTL_SETTLE_EXAMPLES`` sets the examples per LMS
(100 by default: 300 in all).
"""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import itertools
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lmsctl.apply.executor import ApplyOptions, Executor
from lmsctl.client.lms import LmsClient
from lmsctl.errors import Severity
from lmsctl.fields import Resource, equal, ignored_fields
from lmsctl.manifest import load_desired
from lmsctl.plan.builder import PlanBuilder
from lmsctl.plan.context import PlanOptions
from lmsctl.plan.model import Plan
from lmsctl.refresh import refresh
from lmsctl.sandbox import DEMO_TOKEN, SandboxConfig, sandbox_transport
from lmsctl.sandbox.seed import dump_seed, generate_seed
from lmsctl.state.backend import MemoryBackend

NOW = dt.datetime(2031, 3, 2, 12, 0, tzinfo=dt.UTC)
NOW_TEXT = "2031-03-02T12:00:00.000Z"
LMS_TYPES = ("canvas", "schoology", "google_classroom")
_keys = itertools.count()

pytestmark = pytest.mark.slow


@dataclass
class Lms:
    """One sandbox of one LMS type, its client and its roster."""

    lms_type: str
    client: LmsClient
    students: list[str]
    teacher: str
    root: Path
    section: str
    client_transport: httpx.AsyncBaseTransport


def _run(coro: Any) -> Any:
    return asyncio.run(coro)


@pytest.fixture(scope="module")
def lmses(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Lms]]:
    out: dict[str, Lms] = {}
    for lms_type in LMS_TYPES:
        folder = tmp_path_factory.mktemp(lms_type)
        seed = generate_seed(sections=1, students=4, lms_type=lms_type)
        seed_path = folder / "seed.yaml"
        seed_path.write_text(dump_seed(seed), encoding="utf-8")
        config = SandboxConfig(seed_path=seed_path, rate_limit=1_000_000)
        transport = sandbox_transport(config)

        async def pin(transport: httpx.AsyncBaseTransport = transport) -> None:
            async with httpx.AsyncClient(transport=transport, base_url="http://sandbox.local") as c:
                r = await c.put("/_sandbox/clock", json={"now": NOW_TEXT})
                assert r.status_code == 200, r.text

        _run(pin())
        section = seed["districts"][0]["sections"][0]
        client = LmsClient(
            "http://sandbox.local/v3.1",
            DEMO_TOKEN,
            transport=transport,
            rate_limit=1_000_000,
            allow_insecure=True,
        )
        out[lms_type] = Lms(
            lms_type,
            client,
            [s["id"] for s in section["students"]],
            section["teachers"][0]["id"],
            folder,
            section["id"],
            transport,
        )
    yield out


# -- generated manifests ---------------------------------------------------------------------

# (YAML folds its line breaks, \x85 and \u2028 among them, inside scalars: leave them out so the
# generated value is the value written)
_text = st.text(
    st.characters(
        blacklist_categories=("Cs",),
        blacklist_characters="\x00\r\n\x85\u2028\u2029",
    ),
    max_size=20,
)
_nonempty = _text.filter(lambda s: s.strip() != "")
_offsets = st.sampled_from(["Z", "+00:00", "-06:00", "+05:30", "+14:00", "-11:00"])


@st.composite
def _when(draw: st.DrawFn, after_days: int, before_days: int) -> str:
    """A future instant and a way of writing it (date alone, or date-time with an offset)."""
    day = NOW.date() + dt.timedelta(days=draw(st.integers(after_days, before_days)))
    if draw(st.booleans()):
        return day.isoformat()
    offset = draw(_offsets)
    tz = (
        dt.UTC
        if offset in ("Z", "+00:00")
        else dt.timezone(dt.timedelta(hours=int(offset[:3]), minutes=int(offset[0] + offset[4:])))
    )
    local = dt.datetime(
        day.year,
        day.month,
        day.day,
        draw(st.integers(0, 23)),
        draw(st.integers(0, 59)),
        draw(st.integers(0, 59)),
        draw(st.sampled_from([0, 1000, 120000, 999999, 5])),
        tzinfo=tz,
    )
    text = local.isoformat()
    if offset == "Z":
        text = text.replace("+00:00", "Z")
    return text


_numbers = st.one_of(
    st.integers(0, 1000),
    st.floats(0, 1000, allow_nan=False, allow_infinity=False),
    st.decimals(0, 1000, places=3).map(float),
)


@st.composite
def assignment(draw: st.DrawFn, lms: Lms, clear: bool) -> dict[str, Any]:
    """One valid assignment with grades for ``lms``; ``clear`` allows null grade fields."""
    due_text = draw(_when(30, 60))
    a: dict[str, Any] = {
        "title": draw(_nonempty),
        "description": draw(_nonempty),
        "due_date": due_text,
        "assignee_mode": "all",
    }
    optional = draw(
        st.sets(
            st.sampled_from(
                [
                    "display_date",
                    "start_date",
                    "end_date",
                    "points_possible",
                    "grading_type",
                    "submission_types",
                    "max_attempts",
                    "assignee_ids",
                    "term_id",
                    "attachments",
                ]
            )
        )
    )
    for name in ("display_date", "start_date"):
        if name in optional:
            a[name] = draw(_when(0, 28))
    if "end_date" in optional:
        a["end_date"] = draw(_when(62, 90))
    if "points_possible" in optional:
        a["points_possible"] = draw(_numbers)
    if "grading_type" in optional:
        a["grading_type"] = draw(
            st.sampled_from(["points", "percent", "pass_fail", "letter_grade"])
        )
    kinds = ["file", "text", "discussion"] + ([] if lms.lms_type == "schoology" else ["link"])
    if "submission_types" in optional:
        a["submission_types"] = draw(st.lists(st.sampled_from(kinds), unique=True, max_size=4))
    if "max_attempts" in optional:
        a["max_attempts"] = draw(st.integers(-1, 5))
    if "assignee_ids" in optional:
        a["assignee_mode"] = "individuals"
        a["assignee_ids"] = draw(
            st.lists(st.sampled_from(lms.students), unique=True, min_size=1, max_size=4)
        )
    if "term_id" in optional:
        a["term_id"] = draw(_nonempty)
    if "attachments" in optional:
        types = ["file"] + ([] if lms.lms_type == "schoology" else ["link"])
        items = []
        for _ in range(draw(st.integers(0, 3))):
            item: dict[str, Any] = {
                "type": draw(st.sampled_from(types)),
                "url": "https://example.org/"
                + draw(st.from_regex(r"[a-z0-9]{1,8}", fullmatch=True)),
            }
            if draw(st.booleans()):
                item["title"] = draw(_text)
            if draw(st.booleans()):
                item["description"] = draw(_text)
            items.append(item)
        a["attachments"] = items
    graded = a.get("assignee_ids", lms.students)
    grades: dict[str, Any] = {}
    for student in draw(st.lists(st.sampled_from(graded), unique=True, max_size=3)):
        grades[student] = draw(grade(lms, clear))
    a["grades"] = grades
    return a


@st.composite
def grade(draw: st.DrawFn, lms: Lms, clear: bool) -> dict[str, Any]:
    states = (
        ["returned"]
        if lms.lms_type == "google_classroom"
        else [
            "created",
            "submitted",
            "returned",
            "reclaimed",
        ]
    )
    g: dict[str, Any] = {}
    for name in draw(
        st.sets(
            st.sampled_from(
                [
                    "grade_points",
                    "grade",
                    "grade_comment",
                    "flags",
                    "state",
                    "extra_attempts",
                    "override_due_date",
                    "grader_id",
                ]
            ),
            min_size=1,
        )
    ):
        clearable = name in ("grade", "grade_comment", "flags", "override_due_date", "grader_id")
        if clear and clearable and draw(st.booleans()):
            g[name] = None
        elif name == "grade_points":
            g[name] = draw(_numbers)
        elif name in ("grade", "grade_comment"):
            g[name] = draw(_text)
        elif name == "flags":
            g[name] = draw(
                st.lists(st.sampled_from(["excused", "late", "missing"]), unique=True, max_size=3)
            )
        elif name == "state":
            g[name] = draw(st.sampled_from(states))
        elif name == "extra_attempts":
            g[name] = draw(st.integers(0, 5))
        elif name == "override_due_date":
            g[name] = draw(_when(1, 90))
        else:
            g[name] = lms.teacher
    return g


# -- plan and apply ----------------------------------------------------------------------------


def _cell(value: Any) -> str:
    if isinstance(value, list):
        return ";".join(value)
    return str(value)


def _gradebook(root: Path, grades: dict[str, dict[str, Any]]) -> str:
    """Write ``grades`` as a CSV gradebook (what a cell cannot say is left unmanaged)."""
    columns = sorted({name for g in grades.values() for name in g})
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["student", *columns])
    for student, g in grades.items():
        writer.writerow([student, *(_cell(g[c]) if c in g else "" for c in columns)])
    (root / "grades.csv").write_text(out.getvalue(), encoding="utf-8")
    return "grades.csv"


def _csv_able(grades: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The grades a CSV can hold: no nulls, no cell that reads as empty; text cells are
    stripped, as the gradebook reader does."""
    out: dict[str, dict[str, Any]] = {}
    for student, g in grades.items():
        kept: dict[str, Any] = {}
        for name, value in g.items():
            if value is None or value == [] or (isinstance(value, str) and not value.strip()):
                continue
            text = _cell(value)
            if any(c in text for c in '\r\n"') or "\x85" in text or "\u2028" in text:
                continue  # multi-line cells are another test's business
            kept[name] = value.strip() if isinstance(value, str) else value
        if kept:
            out[student] = kept
    return out


def _write(
    root: Path, section: str, key: str, body: dict[str, Any], *, csv_grades: bool = False
) -> None:
    root.mkdir(parents=True, exist_ok=True)
    (root / "lmsctl.yaml").write_text("timezone: America/Chicago\n", encoding="utf-8")
    body = dict(body)
    if csv_grades:
        body["grades_file"] = _gradebook(root, _csv_able(body.pop("grades", {})))
    doc = {"section": section, "assignments": {key: body}}
    (root / "section.yaml").write_text(
        yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8"
    )


def _plan(lms: Lms, root: Path, backend: MemoryBackend) -> Plan:
    desired, diags = load_desired(root)
    errors = [d for d in diags if d.severity is Severity.ERROR]
    assert not errors, [d.format() for d in errors]
    snapshot = backend.read()
    live = _run(refresh(lms.client, desired, snapshot))
    return PlanBuilder(desired, snapshot, live, PlanOptions(now=NOW_TEXT)).build()


def _apply(lms: Lms, plan: Plan, backend: MemoryBackend) -> None:
    # every apply re-checks before each write: it must see nothing stale: the plan's
    # fingerprints and the re-read agree on every echoed value
    options = ApplyOptions()
    result = _run(Executor(plan, lms.client, backend, backend.read(), options).run())
    assert result.ok, [(r.change.address, r.outcome, r.message) for r in result.results]


def _settled(plan: Plan) -> None:
    assert not plan.actionable and not plan.drift and not plan.conflicts, (
        [(c.address, c.action, c.fields) for c in plan.actionable],
        plan.drift,
        plan.conflicts,
    )


_NOT_DATES = ("title", "description", "points_possible", "grading_type", "submission_types")
_NOT_DATES += ("max_attempts", "assignee_mode", "assignee_ids", "term_id", "attachments")


def _holds(lms: Lms, backend: MemoryBackend, key: str, body: dict[str, Any], csv: bool) -> None:
    """The LMS holds what the manifest says (read back by the API's echo rules), so a plan
    that settles is not one that dropped a value on the way."""
    (record,) = backend.read().resources.values()
    assert record.key == key and record.assignment_id
    live = _run(lms.client.get_assignment(lms.section, record.assignment_id))
    for name in _NOT_DATES:
        if name in body and name not in ignored_fields(lms.lms_type):
            assert equal(name, body[name], live.get(name), lms.lms_type), (name, live.get(name))
    subs = {
        s["user_id"]: s
        for s in _run(lms.client.list_submissions(lms.section, record.assignment_id))
    }
    grades = _csv_able(body["grades"]) if csv else body["grades"]
    for student, grade in grades.items():
        for name, value in grade.items():
            if name == "override_due_date":
                continue  # a date as written: its instant is checked by the plan
            got = subs[student].get(name)
            assert equal(name, value, got, lms.lms_type, Resource.GRADE), (student, name, got)


def _check(
    lms: Lms, first: dict[str, Any], second: dict[str, Any], csv_grades: tuple[bool, bool]
) -> None:
    key = f"a{next(_keys)}"
    root = lms.root / key
    backend = MemoryBackend()
    _write(root, lms.section, key, first, csv_grades=csv_grades[0])
    _apply(lms, _plan(lms, root, backend), backend)
    _holds(lms, backend, key, first, csv_grades[0])
    _settled(_plan(lms, root, backend))
    _write(root, lms.section, key, second, csv_grades=csv_grades[1])
    _apply(lms, _plan(lms, root, backend), backend)
    _holds(lms, backend, key, second, csv_grades[1])
    _settled(_plan(lms, root, backend))


_SETTINGS = settings(
    max_examples=int(os.environ.get("LMSCTL_SETTLE_EXAMPLES", "100")),
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.mark.parametrize("lms_type", LMS_TYPES)
@_SETTINGS
@given(data=st.data())
def test_applied_manifest_plans_no_changes(
    lmses: dict[str, Lms], lms_type: str, data: st.DataObject
) -> None:
    lms = lmses[lms_type]
    first = data.draw(assignment(lms, clear=False), label="first")
    second = data.draw(assignment(lms, clear=True), label="second")
    # grades inline or in a CSV gradebook (grades_file), in each step
    csv_grades = (data.draw(st.booleans(), label="csv1"), data.draw(st.booleans(), label="csv2"))
    _check(lms, first, second, csv_grades)


def _assignments_in(lms: Lms) -> int:
    async def go() -> int:
        async with httpx.AsyncClient(
            transport=lms.client_transport, base_url="http://sandbox.local"
        ) as c:
            r = await c.get(f"/_sandbox/sections/{lms.section}/assignments")
            return len(r.json()["data"])

    return int(_run(go()))


@pytest.mark.parametrize(
    ("lms_type", "body", "line", "message"),
    [
        (
            "schoology",
            {"submission_types": ["text", "link"]},
            9,
            "Schoology does not support submission type of link",
        ),
        (
            "schoology",
            {"attachments": [{"type": "link", "url": "https://example.org/a"}]},
            9,
            "Schoology does not support attachments of type link",
        ),
        (
            "google_classroom",
            {"grades": {"STUDENT": {"grade_points": 9, "state": "submitted"}}},
            11,
            "Google Classroom lets only the student set state 'submitted'",
        ),
    ],
)
def test_lms_refusals_are_plan_errors_at_the_line_and_nothing_is_written(
    lmses: dict[str, Lms], lms_type: str, body: dict[str, Any], line: int, message: str
) -> None:
    from lmsctl.errors import PlanError

    lms = lmses[lms_type]
    if "grades" in body:
        body = {"grades": {lms.students[0]: body["grades"]["STUDENT"]}}
    key = f"refused{next(_keys)}"
    root = lms.root / key
    manifest = {
        "title": "T",
        "description": "D",
        "due_date": "2031-04-01",
        "assignee_mode": "all",
    } | body
    _write(root, lms.section, key, manifest)
    before = _assignments_in(lms)
    with pytest.raises(PlanError) as caught:
        _plan(lms, root, MemoryBackend())
    lines = [d.format() for d in caught.value.diagnostics]
    assert any(f"/{key}/section.yaml:{line}:" in d and message in d for d in lines), lines
    assert _assignments_in(lms) == before
