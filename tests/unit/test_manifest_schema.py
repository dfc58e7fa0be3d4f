"""The shipped JSON Schemas: well-formed, documented, closed, and in step with the model."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from lmsctl.manifest.schema import CONFIG_SCHEMA, SECTION_SCHEMA, load_schema
from lmsctl.model import ASSIGNMENT_FIELDS, ASSIGNMENT_OWN_FIELDS, GRADE_FIELDS

REPO = Path(__file__).resolve().parent.parent.parent
EXAMPLES = REPO / "examples" / "coursework"


def _objects(node: Any, path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(node, dict):
        if "properties" in node:
            yield path, node
        for key, value in node.items():
            yield from _objects(value, f"{path}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _objects(value, f"{path}/{i}")


@pytest.mark.parametrize("name", [SECTION_SCHEMA, CONFIG_SCHEMA])
def test_schema_is_draft_2020_12_with_id(name: str) -> None:
    schema = load_schema(name)
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"].endswith(name)


@pytest.mark.parametrize("name", [SECTION_SCHEMA, CONFIG_SCHEMA])
def test_every_property_has_a_description_and_objects_are_closed(name: str) -> None:
    for path, obj in _objects(load_schema(name)):
        assert obj.get("additionalProperties") is False, path
        for prop, sub in obj["properties"].items():
            assert sub.get("description"), f"{path}/{prop}"


def test_schema_fields_match_the_model() -> None:
    schema = load_schema(SECTION_SCHEMA)
    assignment = set(schema["$defs"]["assignment"]["properties"])
    assert assignment == set(ASSIGNMENT_FIELDS) | set(ASSIGNMENT_OWN_FIELDS)
    assert set(schema["$defs"]["grade"]["properties"]) == set(GRADE_FIELDS)
    assert set(schema["properties"]["defaults"]["properties"]) == set(ASSIGNMENT_FIELDS) | {
        "protect"
    }


def test_enums_are_the_api_specs() -> None:
    a = load_schema(SECTION_SCHEMA)["$defs"]["assignment"]["properties"]
    g = load_schema(SECTION_SCHEMA)["$defs"]["grade"]["properties"]
    assert a["grading_type"]["enum"] == ["points", "percent", "pass_fail", "letter_grade"]
    assert a["submission_types"]["items"]["enum"] == ["link", "file", "text", "discussion"]
    assert a["assignee_mode"]["enum"] == ["all", "individuals"]
    assert g["flags"]["items"]["enum"] == ["excused", "late", "missing"]
    assert g["state"]["enum"] == ["created", "submitted", "returned", "reclaimed"]


def test_top_level_schemas_folder_ships_the_same_files() -> None:
    for name in (SECTION_SCHEMA, CONFIG_SCHEMA):
        assert (REPO / "schemas" / name).is_file()


def test_examples_point_editors_at_the_schemas() -> None:
    files = sorted(EXAMPLES.rglob("*.yaml"))
    assert len(files) == 5
    for path in files:
        first = path.read_text(encoding="utf-8").splitlines()[0]
        prefix = "# yaml-language-server: $schema="
        assert first.startswith(prefix), path
        target = (path.parent / first[len(prefix) :]).resolve()
        expected = CONFIG_SCHEMA if path.name == "lmsctl.yaml" else SECTION_SCHEMA
        assert target.name == expected and target.is_file(), path
