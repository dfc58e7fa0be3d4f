"""The fast schema check (lmsctl.manifest.schemacheck) never calls an invalid document valid.

schema_check skips jsonschema when the fast check says a document is valid, so a document the
fast check accepts but jsonschema refuses would lose its diagnostics. These tests compare the
two on the corpus and on many mutations of a full section file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lmsctl.manifest.loader import load_yaml_file
from lmsctl.manifest.schema import CONFIG_SCHEMA, SECTION_SCHEMA, _quick_check, _validator
from lmsctl.manifest.schemacheck import compile_check

ROOT = Path(__file__).resolve().parents[2]

FULL_SECTION: dict[str, Any] = {
    "section": "5f1a0c0b8e1d2a0001a00001",
    "name": "algebra",
    "defaults": {"points_possible": 10, "submission_types": ["text"], "assignee_mode": "all"},
    "assignments": {
        "hw-01": {
            "title": "Homework 1",
            "description": "Problems",
            "due_date": "2026-12-04",
            "grading_type": "points",
            "max_attempts": 2,
            "assignee_mode": "individuals",
            "assignee_ids": ["5f1a0c0b8e1d2a0001b00007", "sis:603"],
            "attachments": [{"type": "link", "url": "https://example.org"}],
            "term_id": "t1",
            "grades": {
                "5f1a0c0b8e1d2a0001b00007": {
                    "grade_points": 9,
                    "grade": "A",
                    "grade_comment": None,
                    "flags": ["late"],
                    "state": "returned",
                    "extra_attempts": 1,
                    "override_due_date": "2026-12-05",
                    "grader_id": "5f1a0c0b8e1d2a0001c00001",
                },
                "sis:603": {"grade_points": 7.5, "flags": None},
            },
            "grades_file": "grades/hw-01.csv",
            "moved_from": "hw-1",
            "protect": True,
        }
    },
}

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**65), max_value=2**65)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.sampled_from(
        ["", "all", "late", "returned", "2026-12-04", "5f1a0c0b8e1d2a0001b00007", "x" * 1001]
    )
    | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=6,
)


def _paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [path]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _paths(v, (*path, i))
    return out


def _replaced(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        return {**value, head: _replaced(value[head], rest, new)}
    copy = list(value)
    copy[head] = _replaced(value[head], rest, new)
    return copy


SECTION_PATHS = _paths(FULL_SECTION)


def test_both_shipped_schemas_compile_and_accept_a_valid_file() -> None:
    assert _quick_check(SECTION_SCHEMA) is not None
    assert _quick_check(CONFIG_SCHEMA) is not None
    assert _validator(SECTION_SCHEMA).is_valid(FULL_SECTION)
    assert _quick_check(SECTION_SCHEMA)(FULL_SECTION)  # type: ignore[misc]


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(SECTION_PATHS), JSON_VALUES)
def test_a_mutated_section_file_is_valid_only_if_jsonschema_says_so(
    path: tuple[Any, ...], new: Any
) -> None:
    doc = _replaced(FULL_SECTION, path, new)
    if _quick_check(SECTION_SCHEMA)(doc):  # type: ignore[misc]
        assert _validator(SECTION_SCHEMA).is_valid(doc), (path, new)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(SECTION_PATHS), st.text(max_size=6))
def test_an_added_key_is_valid_only_if_jsonschema_says_so(path: tuple[Any, ...], key: str) -> None:
    def add(value: Any) -> Any:
        return {**value, key: 1} if isinstance(value, dict) else value

    doc = _replaced(FULL_SECTION, path, add(_value_at(FULL_SECTION, path)))
    if _quick_check(SECTION_SCHEMA)(doc):  # type: ignore[misc]
        assert _validator(SECTION_SCHEMA).is_valid(doc), (path, key)


def _value_at(value: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        value = value[part]
    return value


def _corpus_files() -> list[Path]:
    return sorted((ROOT / "tests" / "corpus").rglob("*.yaml")) + sorted(
        (ROOT / "examples").rglob("*.yaml")
    )


@pytest.mark.parametrize("path", _corpus_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_corpus_files_agree_with_jsonschema(path: Path) -> None:
    doc = load_yaml_file(path, path.name, on_diagnostic=lambda d: None)
    if doc is None:
        return
    name = CONFIG_SCHEMA if path.name == "lmsctl.yaml" else SECTION_SCHEMA
    quick = _quick_check(name)
    assert quick is not None
    assert quick(doc.data) == _validator(name).is_valid(doc.data)


def test_unknown_keywords_make_the_check_refuse_to_compile() -> None:
    assert compile_check({"type": "object", "patternProperties": {"^a": {}}}) is None
    assert compile_check({"enum": [1, True]}) is None


def test_whole_floats_and_non_string_repeats_go_to_jsonschema() -> None:
    check = compile_check({"type": "integer"})
    assert check is not None and not check(1.0) and check(1) and not check(True)
    unique = compile_check({"type": "array", "uniqueItems": True})
    assert unique is not None and unique(["a", "b"]) and not unique(["a", "a"]) and not unique([1])
