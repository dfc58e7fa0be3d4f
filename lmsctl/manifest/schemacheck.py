"""A fast yes/no check that a document is valid against one of the shipped schemas.

jsonschema's validator walks every value through its generic machinery (a new validator
object per level, every keyword looked up by name): most of ``lmsctl validate``'s time on a
district's manifests, which are nearly always valid. :func:`compile_check` turns a schema
(local ``$ref`` already inlined) into plain Python closures that answer only "valid?".

It is sound, not complete: when it answers True, jsonschema finds no error; when it answers
False, :func:`lmsctl.manifest.schema.schema_check` runs jsonschema itself, which finds every
error and says where. So no check and no message changes. Anything the closures do not model
exactly (an unknown keyword, an enum of non-strings, a repeated-items check of non-strings, a
whole number written as ``1.0``) answers False or refuses to compile (None: jsonschema
always runs).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

Check = Callable[[Any], bool]

#: keywords that never change validity (annotations, lmsctl's own ``x-`` hints)
_ANNOTATIONS = frozenset({"$schema", "$id", "$comment", "title", "description", "default"})


class Unsupported(Exception):
    """The schema uses something the fast check does not model."""


def compile_check(schema: Any) -> Check | None:
    """A function telling whether a value is valid against ``schema``; None when unsupported."""
    try:
        return _compile(schema)
    except (Unsupported, TypeError, ValueError, re.error):
        return None  # (a malformed schema too: jsonschema then says what is wrong with it)


def _valid(_: Any) -> bool:
    return True


def _invalid(_: Any) -> bool:
    return False


def _is_number(x: Any) -> bool:
    return type(x) is int or type(x) is float


#: JSON type name -> an exact test (conservative: a float whole number is not an "integer")
_TYPES: dict[str, Check] = {
    "object": lambda x: type(x) is dict,
    "array": lambda x: type(x) is list,
    "string": lambda x: type(x) is str,
    "integer": lambda x: type(x) is int,
    "number": _is_number,
    "boolean": lambda x: type(x) is bool,
    "null": lambda x: x is None,
}


def _compile(schema: Any) -> Check:
    if schema is True:
        return _valid
    if schema is False:
        return _invalid
    if not isinstance(schema, dict):
        raise Unsupported(repr(schema))
    known = {
        "type",
        "enum",
        "pattern",
        "minLength",
        "maxLength",
        "minimum",
        "maximum",
        "uniqueItems",
        "items",
        "minItems",
        "maxItems",
        "properties",
        "additionalProperties",
        "required",
        "propertyNames",
        "minProperties",
    }
    for key in schema:
        if key not in known and key not in _ANNOTATIONS and not key.startswith("x-"):
            raise Unsupported(key)
    types = schema.get("type")
    single = types if isinstance(types, str) else None
    # a check for one type alone also tests the type (one closure per value, not two)
    string = _string_check(schema, strict=single == "string")
    number = _number_check(
        schema, strict=single in ("number", "integer"), whole=single == "integer"
    )
    array = _array_check(schema, strict=single == "array")
    obj = _object_check(schema, strict=single == "object")
    typed = {"string": string, "number": number, "integer": number, "array": array}
    typed["object"] = obj
    checks: list[Check] = []
    if "enum" in schema:
        checks.append(_enum_check(schema["enum"]))  # (it tests that the value is a string)
        if single == "string" and string is None:
            typed["string"] = checks[0]
    if types is not None and (single is None or typed.get(single) is None):
        checks.insert(0, _type_check(types))
    checks += [c for c in (string, number, array, obj) if c is not None]
    if not checks:
        return _valid
    if len(checks) == 1:
        return checks[0]
    if len(checks) == 2:
        first, second = checks
        return lambda x: first(x) and second(x)
    return lambda x: all(check(x) for check in checks)


def _type_check(types: Any) -> Check:
    names = [types] if isinstance(types, str) else types
    if not isinstance(names, list) or not all(n in _TYPES for n in names):
        raise Unsupported(f"type {types!r}")
    tests = [_TYPES[n] for n in names]
    if len(tests) == 1:
        return tests[0]
    return lambda x: any(test(x) for test in tests)


def _enum_check(values: Any) -> Check:
    if not isinstance(values, list) or not all(type(v) is str for v in values):
        raise Unsupported("enum of non-strings")  # jsonschema's equality: 1 == 1.0, not True
    allowed = frozenset(values)
    return lambda x: type(x) is str and x in allowed


def _string_check(schema: dict[str, Any], *, strict: bool) -> Check | None:
    """Length and pattern; ``strict``: the value must be a string too."""
    pattern, low, high = schema.get("pattern"), schema.get("minLength"), schema.get("maxLength")
    if pattern is None and low is None and high is None:
        return None
    search = re.compile(pattern).search if pattern is not None else None  # as jsonschema's
    lo = int(low) if low is not None else 0
    hi = int(high) if high is not None else None

    def check(x: Any) -> bool:
        if type(x) is not str:
            # another type: the type check's business (a str subclass: leave it to jsonschema)
            return not strict and not isinstance(x, str)
        n = len(x)
        if n < lo or (hi is not None and n > hi):
            return False
        return search is None or search(x) is not None

    return check


def _number_check(schema: dict[str, Any], *, strict: bool, whole: bool) -> Check | None:
    """Bounds; ``strict``: the value must be a number too (``whole``: an int)."""
    low, high = schema.get("minimum"), schema.get("maximum")
    if low is None and high is None:
        return None
    if not all(v is None or _is_number(v) for v in (low, high)):
        raise Unsupported("bounds")
    lo = low if low is not None else -math.inf
    hi = high if high is not None else math.inf

    def check(x: Any) -> bool:
        kind = type(x)
        if kind is not int and (whole or kind is not float):
            if strict:
                return False
            return kind is bool or not isinstance(x, int | float)
        return not (x < lo or x > hi)  # (NaN is within any bounds, as jsonschema reads them)

    return check


def _array_check(schema: dict[str, Any], *, strict: bool) -> Check | None:
    """Items, repeats and size; ``strict``: the value must be a list too."""
    items = _compile(schema["items"]) if "items" in schema else None
    unique = schema.get("uniqueItems") is True
    low, high = schema.get("minItems"), schema.get("maxItems")
    if items is None and not unique and low is None and high is None:
        return None

    def check(x: Any) -> bool:
        if type(x) is not list:
            return not strict and not isinstance(x, list)
        n = len(x)
        if (low is not None and n < low) or (high is not None and n > high):
            return False
        if unique and not (all(type(i) is str for i in x) and len(set(x)) == n):
            return False  # repeats, or items whose equality jsonschema defines its own way
        return items is None or all(items(i) for i in x)

    return check


def _object_check(schema: dict[str, Any], *, strict: bool) -> Check | None:
    """Properties, names, required and size; ``strict``: the value must be a mapping too."""
    keys = ("properties", "additionalProperties", "required", "propertyNames", "minProperties")
    if not any(k in schema for k in keys):
        return None
    properties = schema.get("properties") or {}
    props = {str(k): _compile(v) for k, v in properties.items()}
    extra = _compile(schema["additionalProperties"]) if "additionalProperties" in schema else None
    name_check = _compile(schema["propertyNames"]) if "propertyNames" in schema else None
    names = _memoized(name_check) if name_check is not None else None
    required = tuple(schema.get("required") or ())
    low = schema.get("minProperties") or 0

    def check(x: Any) -> bool:
        if type(x) is not dict:
            return not strict and not isinstance(x, dict)
        for key in required:
            if key not in x:
                return False
        if len(x) < low:
            return False
        for key, value in x.items():
            if names is not None and not names(key):
                return False
            sub = props.get(key)
            if sub is None:
                if extra is not None and not extra(value):
                    return False
            elif not sub(value):
                return False
        return True

    if extra is _invalid and names is None:
        return _closed_check(props, _leaves(properties), required, low, strict=strict)
    if name_check is not None and extra is not None and not props and not required and not low:
        return _map_check(name_check, extra, strict=strict)
    return check


def _closed_check(
    props: dict[str, Check],
    leaves: dict[str, tuple[Any, ...]],
    required: tuple[str, ...],
    low: int,
    *,
    strict: bool,
) -> Check:
    """The usual object: named properties only (a grade, an attachment). Numbers and enums
    are checked in place (the same tests as their own checks, without a call per value)."""
    get, leaf_of = props.get, leaves.get

    def closed(x: Any) -> bool:
        if type(x) is not dict:
            return not strict and not isinstance(x, dict)
        for key in required:
            if key not in x:
                return False
        if low and len(x) < low:
            return False
        for key, value in x.items():
            leaf = leaf_of(key)
            if leaf is None:
                sub = get(key)
                if sub is None or not sub(value):
                    return False
            elif leaf[0] is _NUMBER:
                kind = type(value)
                if kind is not int and (leaf[3] or kind is not float):
                    return False
                if value < leaf[1] or value > leaf[2]:  # (NaN passes, as in jsonschema)
                    return False
            elif type(value) is not str or value not in leaf[1]:
                return False
        return True

    return closed


def _map_check(name_check: Check, extra: Check, *, strict: bool) -> Check:
    """A mapping of named things (assignments by key, grades by student): each name and value.
    Each name's answer is remembered (as _memoized does), looked up here without a call."""
    answers: dict[Any, bool] = {}
    known = answers.get

    def each(x: Any) -> bool:
        if type(x) is not dict:
            return not strict and not isinstance(x, dict)
        for key, value in x.items():
            ok = known(key)
            if ok is None:
                if len(answers) >= _MEMO_SIZE:
                    answers.clear()
                ok = answers[key] = name_check(key)
            if not ok or not extra(value):
                return False
        return True

    return each


_NUMBER, _ENUM = "number", "enum"


def _leaves(properties: dict[str, Any]) -> dict[str, tuple[Any, ...]]:
    """The properties whose check closed() makes in place: (_NUMBER, low, high, whole) for a
    number or whole number with bounds, (_ENUM, allowed) for a string from a list."""
    leaves: dict[str, tuple[Any, ...]] = {}
    for name, sub in properties.items():
        if not isinstance(sub, dict):
            continue
        rest = {k for k in sub if k not in _ANNOTATIONS and not k.startswith("x-")}
        kind = sub.get("type")
        low, high = sub.get("minimum"), sub.get("maximum")
        if kind in ("number", "integer") and rest <= {"type", "minimum", "maximum"}:
            if all(v is None or _is_number(v) for v in (low, high)):
                low = -math.inf if low is None else low
                high = math.inf if high is None else high
                leaves[str(name)] = (_NUMBER, low, high, kind == "integer")
        elif kind == "string" and rest == {"type", "enum"}:
            values = sub["enum"]
            if isinstance(values, list) and all(type(v) is str for v in values):
                leaves[str(name)] = (_ENUM, frozenset(values))
    return leaves


#: most names one memo keeps before it starts again (a district has thousands of students)
_MEMO_SIZE = 100_000


def _memoized(check: Check) -> Check:
    """``check`` of mapping keys, remembering each key's answer: the same students' ids are the
    keys of every assignment's grades."""
    answers: dict[Any, bool] = {}

    def memo(key: Any) -> bool:
        found = answers.get(key)
        if found is None:
            if len(answers) >= _MEMO_SIZE:
                answers.clear()
            found = answers[key] = check(key)
        return found

    return memo
