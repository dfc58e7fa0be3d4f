"""The plan document: it validates against plan.schema.json and round-trips exactly."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import jsonschema
import pytest

from lmsctl.plan.document import plan_from_document, plan_to_document
from lmsctl.plan.model import PLAN_FORMAT_VERSION, Plan
from lmsctl.render.json import render_plan_json

from .plans import ALL_PLANS


def _schema() -> dict[str, Any]:
    text = resources.files("lmsctl").joinpath("schemas/plan.schema.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def _validator() -> jsonschema.Draft202012Validator:
    schema = _schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_schema_is_draft_2020_12_with_an_id_and_descriptions() -> None:
    schema = _schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"].endswith(".schema.json")
    for name, prop in schema["properties"].items():
        assert prop.get("description"), name
    for name, sub in schema["$defs"]["change"]["properties"].items():
        assert sub.get("description") or "$ref" in sub, name


@pytest.mark.parametrize("name", sorted(ALL_PLANS))
def test_documents_validate_against_the_schema(name: str) -> None:
    doc = json.loads(render_plan_json(plan_to_document(ALL_PLANS[name]())))
    errors = sorted(_validator().iter_errors(doc), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)


@pytest.mark.parametrize("name", sorted(ALL_PLANS))
def test_round_trip_is_exact(name: str) -> None:
    plan: Plan = ALL_PLANS[name]()
    assert plan_from_document(plan_to_document(plan)) == plan
    # and through the JSON text a plan file holds
    assert plan_from_document(json.loads(render_plan_json(plan_to_document(plan)))) == plan


def test_schema_rejects_what_is_not_a_plan() -> None:
    validator = _validator()
    doc = plan_to_document(ALL_PLANS["full"]())
    bad_action = json.loads(json.dumps(doc))
    bad_action["changes"][0]["actions"] = ["explode"]
    assert not validator.is_valid(bad_action)
    bad_version = dict(doc, format_version="2.0")
    assert not validator.is_valid(bad_version)
    missing = {k: v for k, v in doc.items() if k != "summary"}
    assert not validator.is_valid(missing)
    assert doc["format_version"] == PLAN_FORMAT_VERSION


def test_json_output_is_indented_stable_and_ends_with_a_newline() -> None:
    doc = plan_to_document(ALL_PLANS["full"]())
    text = render_plan_json(doc)
    assert text.endswith("}\n")
    assert text.startswith('{\n  "format_version": ')
    assert text == render_plan_json(json.loads(text))
    assert json.loads(text) == json.loads(json.dumps(doc))


@pytest.mark.parametrize("level", ["pseudonymise", "redact"])
@pytest.mark.parametrize("name", sorted(ALL_PLANS))
def test_private_documents_validate_and_are_refused_as_plans(name: str, level: str) -> None:
    from lmsctl.errors import StateError
    from lmsctl.privacy import PrivacyChoice, PrivacyLevel, privatise_document

    choice = PrivacyChoice(PrivacyLevel(level), b"k" if level == "pseudonymise" else None)
    doc = json.loads(json.dumps(privatise_document(plan_to_document(ALL_PLANS[name]()), choice)))
    errors = sorted(_validator().iter_errors(doc), key=lambda e: list(e.absolute_path))
    assert not errors, [f"{list(e.absolute_path)}: {e.message}" for e in errors]
    assert doc["privacy"]["level"] == level
    with pytest.raises(StateError, match=f"this plan document is {level}"):
        plan_from_document(doc)
