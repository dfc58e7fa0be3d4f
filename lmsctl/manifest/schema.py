"""The JSON Schemas shipped with lmsctl, and the schema pass that turns violations into Diagnostics.

Each jsonschema ``ValidationError`` is mapped back to the YAML node it is about (its path in the
:class:`~lmsctl.manifest.loader.YamlDocument`), and rewritten as a short message with a hint:
"did you mean" for near-miss field names and enum values, the allowed values otherwise.
"""

from __future__ import annotations

import difflib
import functools
import importlib
import json
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING, Any

from lmsctl.errors import Diagnostic
from lmsctl.fields import Clear, Resource, rule_for
from lmsctl.manifest.schemacheck import Check, compile_check
from lmsctl.manifest.yamldoc import Path_, YamlDocument, where_label
from lmsctl.model import SourcePos

if TYPE_CHECKING:
    import jsonschema
    from jsonschema import Draft202012Validator

SECTION_SCHEMA = "section.schema.json"
CONFIG_SCHEMA = "config.schema.json"


@functools.cache
def load_schema(name: str) -> dict[str, Any]:
    """Load one of the shipped schemas (``section.schema.json`` or ``config.schema.json``)."""
    text = resources.files("lmsctl.schemas").joinpath(name).read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@functools.cache
def _inlined(name: str) -> dict[str, Any]:
    schema = load_schema(name)
    # local $refs inlined: resolving them per instance dominates validation time
    inlined: dict[str, Any] = _inline_refs(schema, schema.get("$defs", {}))
    return inlined


@functools.cache
def _validator(name: str) -> Draft202012Validator:
    # jsonschema is loaded, and the schema itself checked, once jsonschema is needed: a valid
    # district's manifests pass the quick check without it (its import alone is a sixth of
    # lmsctl validate's start), and the same way the CLI loads its commands
    validators: Any = importlib.import_module("jsonschema")
    validators.Draft202012Validator.check_schema(load_schema(name))
    validator: Draft202012Validator = validators.Draft202012Validator(_inlined(name))
    return validator


@functools.cache
def _quick_check(name: str) -> Check | None:
    """The schema's fast validity check (lmsctl.manifest.schemacheck); None: always jsonschema."""
    return compile_check(_inlined(name))


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
    quick = _quick_check(schema_name)
    if quick is not None and quick(doc.data):
        return [], set()  # valid: jsonschema would find nothing (and takes far longer to say so)
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


@dataclass(frozen=True)
class _Violation:
    """One schema error, with what every translation needs."""

    doc: YamlDocument
    error: jsonschema.ValidationError
    path: Path_
    schema: dict[str, Any]
    value: Any
    rule: str

    def at(self, message: str, hint: str = "") -> list[Diagnostic]:
        """One error at the value the violation is about."""
        return [_diag(self.doc, self.doc.pos(self.path), self.path, message, hint, self.rule)]


def _diag(
    doc: YamlDocument, pos: tuple[int, int], where: Path_, message: str, hint: str, rule: str
) -> Diagnostic:
    return Diagnostic.at(
        SourcePos(doc.file, *pos), message, hint, where=where_label(where), rule=rule
    )


def _translate(doc: YamlDocument, error: jsonschema.ValidationError, rule: str) -> list[Diagnostic]:
    path: Path_ = tuple(error.absolute_path)
    schema = error.schema if isinstance(error.schema, dict) else {}
    v = _Violation(doc, error, path, schema, error.instance, rule)
    if v.value is None and (refused := _null_refused(path)) is not None:
        # one line with the reason (the enum check of the same null says nothing more)
        return [refused_diag(doc, path, rule, refused)] if error.validator == "type" else []
    unknown_keys = error.validator == "additionalProperties" and isinstance(v.value, dict)
    if "propertyNames" in error.relative_schema_path and not unknown_keys:
        # error.instance is the offending key; its sub-schema carries the message
        return [_pattern_diag(doc, (*path, str(v.value)), path, v.value, schema, rule, key=True)]
    translate = _TRANSLATIONS.get(str(error.validator), _as_jsonschema_says)
    return translate(v)


def _as_jsonschema_says(v: _Violation) -> list[Diagnostic]:
    return v.at(v.error.message)


def _unknown_fields(v: _Violation) -> list[Diagnostic]:
    if not isinstance(v.value, dict):
        return _as_jsonschema_says(v)
    allowed = list(v.schema.get("properties", {}))
    out = []
    for key in v.value:
        if key in allowed:
            continue
        hint = did_you_mean(str(key), allowed) or (
            "allowed fields: " + ", ".join(allowed) if allowed else "remove it"
        )
        child = (*v.path, key)
        out.append(
            _diag(v.doc, v.doc.key_pos(child), v.path, f"unknown field {key!r}", hint, v.rule)
        )
    return out


def _missing_field(v: _Violation) -> list[Diagnostic]:
    missing = _missing(v.error)
    if isinstance(v.value, dict) and did_you_mean(missing, [str(k) for k in v.value]):
        return []  # a near miss ('assignment:') is reported as an unknown field instead
    return v.at(f"missing required field {missing!r}", f"add {missing}: ...")


def _not_allowed(v: _Violation) -> list[Diagnostic]:
    choices = [str(c) for c in v.error.validator_value]
    hint = did_you_mean(str(v.value), choices) if isinstance(v.value, str) else ""
    return v.at(
        f"{_short(v.value)} is not an allowed value", hint or "use one of: " + ", ".join(choices)
    )


def _wrong_type(v: _Violation) -> list[Diagnostic]:
    expected = v.error.validator_value
    names = [expected] if isinstance(expected, str) else list(expected)
    if len(names) > 1:
        names = [n for n in names if n != "null"]  # null clears: not what was meant here
    want = " or ".join(_TYPE_NAMES.get(n, n) for n in names)
    value = v.value
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
    return v.at(f"must be {want}, not {_describe(value)}", hint)


def _no_match(v: _Violation) -> list[Diagnostic]:
    return [_pattern_diag(v.doc, v.path, v.path, v.value, v.schema, v.rule)]


_RANGE_WORDS = {
    "minimum": "at least",
    "exclusiveMinimum": "above",
    "maximum": "at most",
    "exclusiveMaximum": "below",
}


def _out_of_range(v: _Violation) -> list[Diagnostic]:
    if isinstance(v.value, float) and not math.isfinite(v.value):
        return []  # the loader already said it is not a finite number
    kind = str(v.error.validator)
    hint_key = "x-max-hint" if kind.endswith("aximum") else "x-range-hint"
    return v.at(
        f"{_short(v.value)} is out of range: must be {_RANGE_WORDS[kind]} "
        f"{v.error.validator_value}",
        str(v.schema.get(hint_key, v.schema.get("x-range-hint", "change the value"))),
    )


def _empty(v: _Violation) -> list[Diagnostic]:
    if v.schema.get("x-empty-message"):
        return v.at(str(v.schema["x-empty-message"]), str(v.schema.get("x-empty-hint", "")))
    return v.at("must not be empty", "write a value or remove the field")


def _too_long(v: _Violation) -> list[Diagnostic]:
    unit = "characters" if v.error.validator == "maxLength" else "items"
    return v.at(
        f"is too long ({_size(v.value)}; at most {v.error.validator_value} {unit})", "shorten it"
    )


def _repeated(v: _Violation) -> list[Diagnostic]:
    return v.at("has repeated items", "list each item once")


def _no_alternative(v: _Violation) -> list[Diagnostic]:
    return v.at(v.schema.get("x-message", "is not valid here"), v.schema.get("x-hint", ""))


#: jsonschema validator name -> how its error reads; any other validator: jsonschema's message.
_TRANSLATIONS: dict[str, Callable[[_Violation], list[Diagnostic]]] = {
    "additionalProperties": _unknown_fields,
    "required": _missing_field,
    "enum": _not_allowed,
    "type": _wrong_type,
    "pattern": _no_match,
    "minimum": _out_of_range,
    "exclusiveMinimum": _out_of_range,
    "maximum": _out_of_range,
    "exclusiveMaximum": _out_of_range,
    "minLength": _empty,
    "minItems": _empty,
    "minProperties": _empty,
    "maxLength": _too_long,
    "maxItems": _too_long,
    "uniqueItems": _repeated,
    "anyOf": _no_alternative,
    "oneOf": _no_alternative,
}


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
