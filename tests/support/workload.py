"""A larger coursework for fault and crash tests, and the checks a careful person would run.

``write_workload`` writes manifests for the demo district: every section gets ``assignments``
assignments graded for every student. ``check_converged`` compares the sandbox with the
manifests (no duplicate assignment, every grade as written). ``resolve_unknown`` does what the
plan tells a person to do for a create whose outcome is unknown: look in the LMS, then
``lmsctl import`` it if it is there or ``lmsctl state rm`` it if it is not.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from lmsctl.sandbox import DEMO_SEED_PATH
from lmsctl.state.local import LocalBackend

Lms = Callable[..., Any]


def demo_sections() -> list[dict[str, Any]]:
    seed = yaml.safe_load(DEMO_SEED_PATH.read_text())
    return list(seed["districts"][0]["sections"])


def expected_grade(section_no: int, assignment_no: int, student_no: int, variant: int = 0) -> float:
    return float((section_no * 7 + assignment_no * 3 + student_no + variant * 5) % 11)


def write_workload(
    root: Path, assignments: int = 3, variant: int = 0
) -> dict[str, dict[str, dict[str, float]]]:
    """Write the manifests; returns {section id: {title: {student id: grade_points}}}.

    ``variant`` changes every grade and every description (the same titles and keys): writing
    another variant between runs is a teacher's team editing the manifests between applies.
    """
    root.mkdir(parents=True, exist_ok=True)
    (root / "lmsctl.yaml").write_text("timezone: UTC\n")
    expected: dict[str, dict[str, dict[str, float]]] = {}
    for s_no, section in enumerate(demo_sections()):
        items: dict[str, Any] = {}
        expected[section["id"]] = {}
        for a_no in range(assignments):
            title = f"Unit {a_no + 1} check ({section['name']})"
            grades = {
                st["id"]: {
                    "grade_points": expected_grade(s_no, a_no, i, variant),
                    "state": "returned",
                }
                for i, st in enumerate(section["students"])
            }
            expected[section["id"]][title] = {sid: g["grade_points"] for sid, g in grades.items()}
            items[f"unit-{a_no + 1}"] = {
                "title": title,
                "description": "Short check of the unit's ideas."
                + (f" (version {variant})" if variant else ""),
                "due_date": "2027-05-14",
                "points_possible": 10,
                "assignee_mode": "all",
                "submission_types": ["text"],
                "grades": grades,
            }
        doc = {"section": section["id"], "name": f"section-{s_no + 1}", "assignments": items}
        (root / f"section-{s_no + 1}.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    return expected


def check_converged(sandbox: Any, expected: dict[str, dict[str, dict[str, float]]]) -> list[str]:
    """Differences between the LMS and the manifests (empty when converged)."""
    problems: list[str] = []
    for section_id, by_title in expected.items():
        live = sandbox.assignments(section_id)
        counts = Counter(a["title"] for a in live)
        for title, n in counts.items():
            if n > 1:
                problems.append(f"duplicate: {n} assignments titled {title!r}")
        for title, grades in by_title.items():
            matches = [a for a in live if a["title"] == title]
            if not matches:
                problems.append(f"missing assignment {title!r}")
                continue
            subs = sandbox.submissions(section_id, matches[0]["id"])
            for student, points in grades.items():
                sub = subs.get(student, {})
                # the API leaves a grade of 0 out (x-omitempty); the state written with it
                # (returned) shows that the grade was written
                got = sub.get("grade_points", 0.0)
                if got != points or sub.get("state") != "returned":
                    problems.append(
                        f"{title!r} {student}: grade_points {got} != {points} "
                        f"(state {sub.get('state')})"
                    )
    return problems


def state_records(state_file: Path) -> dict[str, dict[str, Any]]:
    data = LocalBackend(state_file).read().to_dict()  # the snapshot and its journal
    return dict(data["resources"])


def resolve_unknown(
    lmsctl: Lms,
    root: Path,
    sandbox: Any,
    state_file: Path,
    connect: tuple[str, ...] = ("--sandbox",),
) -> list[str]:
    """Resolve every create whose outcome is unknown, as the plan says; returns what was done.

    ``connect`` is how lmsctl reaches the LMS (the embedded sandbox, or ``--api-url URL``).
    """
    done: list[str] = []
    if not state_file.exists():
        return done
    records = state_records(state_file)
    tracked = {r.get("assignment_id") for r in records.values()}
    manifests = {}
    for path in root.glob("section-*.yaml"):
        doc = yaml.safe_load(path.read_text())
        for key, spec in doc["assignments"].items():
            manifests[f"{doc['section']}/{key}"] = spec["title"]
    for address, record in sorted(records.items()):
        if record["status"] == "created":
            continue
        title = manifests[address]
        found = [
            a
            for a in sandbox.assignments(record["section_id"])
            if a["title"] == title and a["id"] not in tracked
        ]
        assert len(found) <= 1, f"duplicate assignments for {address}: {found}"
        if found:
            result = lmsctl(*connect, "import", address, found[0]["id"], "--root", str(root))
            done.append(f"import {address}")
        else:
            result = lmsctl(*connect, "state", "rm", address, "--root", str(root))
            done.append(f"state rm {address}")
        assert result.code == 0, result.text
    return done
