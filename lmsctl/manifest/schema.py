"""The JSON Schemas shipped with lmsctl, and the schema pass that turns violations into Diagnostics.

Each jsonschema ``ValidationError`` is mapped back to the YAML node it is about (its path in the
:class:`~lmsctl.manifest.loader.YamlDocument`), and rewritten as a short message with a hint:
"did you mean" for near-miss field names and enum values, the allowed values otherwise.
"""

from __future__ import annotations

import difflib
import functools
import json
import math
from collections.abc import Iterable
from importlib import resources
from typing import Any

import jsonschema
from jsonschema import Draft202012Validator

from lmsctl.errors import Diagnostic, Severity
from lmsctl.fields import Clear, Resource, rule_for
from lmsctl.manifest.loader import Path_, YamlDocument, where_label

SECTION_SCHEMA = "section.schema.json"
CONFIG_SCHEMA = "config.schema.json"


@functools.cache
def load_schema(name: str) -> dict[str, Any]:
    """Load one of the shipped schemas (``section.schema.json`` or ``config.schema.json``)."""
    text = resources.files("lmsctl.schemas").joinpath(name).read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@functools.cache
def _validator(name: str) -> Draft202012Validator:
    schema = load_schema(name)
    Draft202012Validator.check_schema(schema)
    # local $refs inlined: resolving them per instance dominates validation time
    return Draft202012Validator(_inline_refs(schema, schema.get("$defs", {})))


def _inline_refs(node: Any, defs: dict[str, Any]) -> Any:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            target = _inline_refs(defs[ref.removeprefix("#/$defs/")], defs)
            rest = {k: _inline_refs(v, defs) for k, v in node.items() if k != "$ref"}
            return {**target, **rest}
        return {k: _inline_refs(v, defs) for k, v in node.items() if k != "$defs"}
    if isinstance(node, list):
        return [_inline_refs(v, defs) for v in node]
    return node


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """A ``did you mean 'x'?`` hint for a near miss, or '' when nothing is close."""
    match = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"did you mean {match[0]!r}?" if match else ""


_TYPE_NAMES = {
    "string": "a string",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "object": "a mapping",
    "array": "a list",
    "null": "null",
}


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "a whole number"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def _as_number(value: Any, *, whole: bool = False) -> str | None:
    """A text that reads as a finite (``whole``) number ('9', '1e3'), written plainly; else None."""
    if not isinstance(value, str):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    if not math.isfinite(number) or (whole and not number.is_integer()):
        return None
    return str(int(number)) if number.is_integer() and abs(number) < 1e15 else repr(number)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def left_to_semantic_pass(error: jsonschema.ValidationError) -> bool:
    """True for pattern errors the semantic pass reports with a more precise message."""
    schema = error.schema
    return (
        error.validator == "pattern"
        and isinstance(schema, dict)
        and bool(schema.get("x-lmsctl-check"))
    )


def schema_diagnostics(
    doc: YamlDocument, schema_name: str, *, rule: str = "schema"
) -> list[Diagnostic]:
    """Validate ``doc.data`` against a shipped schema; one Diagnostic per violation."""
    return schema_check(doc, schema_name, rule=rule)[0]


def schema_check(
    doc: YamlDocument, schema_name: str, *, rule: str = "schema"
) -> tuple[list[Diagnostic], set[Path_]]:
    """Validate ``doc.data``: the diagnostics, and every path that is or holds a violation.

    A value whose path is in the returned set failed the schema somewhere (the path of an
    error and all its ancestors are in it), so later passes can skip it.
    """
    validator = _validator(schema_name)
    diags: list[Diagnostic] = []
    bad: set[Path_] = set()
    for error in validator.iter_errors(doc.data):
        if left_to_semantic_pass(error):
            continue
        path = tuple(error.absolute_path)
        for i in range(len(path) + 1):
            bad.add(path[:i])
        diags.extend(_translate(doc, error, rule))
    # one message per position and text
    unique: dict[tuple[int, int, str], Diagnostic] = {}
    for d in diags:
        unique.setdefault((d.line, d.col, d.where + d.message), d)
    return list(unique.values()), bad


def _diag(
    doc: YamlDocument, pos: tuple[int, int], where: Path_, message: str, hint: str, rule: str
) -> Diagnostic:
    return Diagnostic(
        file=doc.file,
        line=pos[0],
        col=pos[1],
        severity=Severity.ERROR,
        where=where_label(where),
        message=message,
        hint=hint,
        rule=rule,
    )


def _translate(doc: YamlDocument, error: jsonschema.ValidationError, rule: str) -> list[Diagnostic]:
    path: Path_ = tuple(error.absolute_path)
    schema = error.schema if isinstance(error.schema, dict) else {}
    kind = error.validator
    value = error.instance
    if value is None and (refused := _null_refused(path)) is not None:
        # one line with the reason (the enum check of the same null says nothing more)
        return [refused_diag(doc, path, rule, refused)] if kind == "type" else []
    if kind == "additionalProperties" and isinstance(value, dict):
        allowed = list(schema.get("properties", {}))
        out = []
        for key in value:
            if key in allowed:
                continue
            hint = did_you_mean(str(key), allowed) or (
                "allowed fields: " + ", ".join(allowed) if allowed else "remove it"
            )
            child = (*path, key)
            out.append(_diag(doc, doc.key_pos(child), path, f"unknown field {key!r}", hint, rule))
        return out
    if "propertyNames" in error.relative_schema_path:
        # error.instance is the offending key; its sub-schema carries the message
        return [_pattern_diag(doc, (*path, str(value)), path, value, schema, rule, key=True)]
    if kind == "required":
        missing = _missing(error)
        if isinstance(value, dict) and did_you_mean(missing, [str(k) for k in value]):
            return []  # a near miss ('assignment:') is reported as an unknown field instead
        return [
            _diag(
                doc,
                doc.pos(path),
                path,
                f"missing required field {missing!r}",
                f"add {missing}: ...",
                rule,
            )
        ]
    if kind == "enum":
        choices = [str(c) for c in error.validator_value]
        hint = did_you_mean(str(value), choices) if isinstance(value, str) else ""
        if not hint:
            hint = "use one of: " + ", ".join(choices)
        return [
            _diag(doc, doc.pos(path), path, f"{_short(value)} is not an allowed value", hint, rule)
        ]
    if kind == "type":
        expected = error.validator_value
        names = [expected] if isinstance(expected, str) else list(expected)
        if len(names) > 1:
            names = [n for n in names if n != "null"]  # null clears: not what was meant here
        want = " or ".join(_TYPE_NAMES.get(n, n) for n in names)
        if value is None:
            hint = "write a value, or remove the field"
        elif "string" in names and isinstance(value, bool | int | float):
            hint = "put the value in quotes: YAML reads it as " + _describe(value)
        elif {"number", "integer"} & set(names) and (
            number := _as_number(value, whole="number" not in names)
        ):
            hint = f"write {number} without quotes; YAML reads {_short(value)} as text"
        else:
            hint = f"write {want}"
        return [
            _diag(
                doc,
                doc.pos(path),
                path,
                f"must be {want}, not {_describe(value)}",
                hint,
                rule,
            )
        ]
    if kind == "pattern":
        return [_pattern_diag(doc, path, path, value, schema, rule)]
    if kind in ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"):
        if isinstance(value, float) and not math.isfinite(value):
            return []  # the loader already said it is not a finite number
        words = {
            "minimum": "at least",
            "exclusiveMinimum": "above",
            "maximum": "at most",
            "exclusiveMaximum": "below",
        }
        return [
            _diag(
                doc,
                doc.pos(path),
                path,
                f"{_short(value)} is out of range: must be {words[kind]} {error.validator_value}",
                str(
                    schema.get(
                        "x-max-hint" if kind.endswith("aximum") else "x-range-hint",
                        schema.get("x-range-hint", "change the value"),
                    )
                ),
                rule,
            )
        ]
    if kind in ("minLength", "minItems", "minProperties") and schema.get("x-empty-message"):
        return [
            _diag(
                doc,
                doc.pos(path),
                path,
                str(schema["x-empty-message"]),
                str(schema.get("x-empty-hint", "")),
                rule,
            )
        ]
    if kind in ("minLength", "minItems", "minProperties"):
        return [
            _diag(
                doc,
                doc.pos(path),
                path,
                "must not be empty",
                "write a value or remove the field",
                rule,
            )
        ]
    if kind in ("maxLength", "maxItems"):
        return [
            _diag(
                doc,
                doc.pos(path),
                path,
                f"is too long ({_size(value)}; at most {error.validator_value}"
                f" {'characters' if kind == 'maxLength' else 'items'})",
                "shorten it",
                rule,
            )
        ]
    if kind == "uniqueItems":
        return [_diag(doc, doc.pos(path), path, "has repeated items", "list each item once", rule)]
    if kind in ("anyOf", "oneOf"):
        message = schema.get("x-message", "is not valid here")
        return [_diag(doc, doc.pos(path), path, message, schema.get("x-hint", ""), rule)]
    return [_diag(doc, doc.pos(path), path, error.message, "", rule)]


def _size(value: Any) -> str:
    return f"{len(value)} characters" if isinstance(value, str) else f"{len(value)} items"


def _null_refused(path: Path_) -> tuple[str, str] | None:
    """(reason, hint) when ``path`` is a grade field the API cannot clear, written as null."""
    if len(path) < 5 or path[0] != "assignments" or path[2] != "grades":
        return None
    field_rule = rule_for(str(path[-1]), Resource.GRADE)
    if field_rule is None or field_rule.clear is not Clear.NEVER:
        return None
    return field_rule.clear_reason, field_rule.clear_hint


def refused_diag(doc: YamlDocument, path: Path_, rule: str, refused: tuple[str, str]) -> Diagnostic:
    reason, hint = refused
    return _diag(doc, doc.pos(path), path, f"cannot be cleared: {reason}", hint, rule)


def _missing(error: jsonschema.ValidationError) -> str:
    # jsonschema says "'title' is a required property"
    msg = str(error.message)
    if msg.startswith("'") and "' is a required property" in msg:
        return msg[1 : msg.index("' is a required property")]
    return msg


def _pattern_diag(
    doc: YamlDocument,
    pos_path: Path_,
    where: Path_,
    value: Any,
    schema: dict[str, Any],
    rule: str,
    *,
    key: bool = False,
) -> Diagnostic:
    message = schema.get("x-pattern-message", f"does not match {schema.get('pattern', '')!r}")
    hint = schema.get("x-pattern-hint", "")
    pos = doc.key_pos(pos_path) if key else doc.pos(pos_path)
    return _diag(doc, pos, where, f"{_short(value)} {message}", hint, rule)
