"""lmsctl's fast indented JSON is json.dumps's text, character for character, and fails as it
fails."""

from __future__ import annotations

import enum
import json
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lmsctl.jsonwrite import indented_encoder


class Colour(enum.StrEnum):
    RED = "red"


class Tag(str):
    """A str subclass, as lmsctl's Address is."""


CASES: list[Any] = [
    {},
    [],
    "",
    0,
    None,
    {"a": {}, "b": [], "c": [1, {}, []], "d": {"x": [[]]}},
    {"s": 'é\u2028\u202e\x1b\\"/\n\t\x7f', "n": 1e16, "f": -0.0, "i": 10**30, "t": True},
    {"nan": math.nan, "inf": [math.inf, -math.inf]},
    "\ud800",
    {"key \udfff": ["lone \ud800 surrogate"]},
    {2: "an int key", 1.5: "a float key", True: "a bool key", None: "none"},
    {"b": 1, "a": {"d": 2, "c": 3}},
    {"enum": Colour.RED, "tag": Tag("s1/a-1")},
    (1, (2, ())),
]


@pytest.mark.parametrize("value", CASES)
@pytest.mark.parametrize("indent", [1, 2, 4])
@pytest.mark.parametrize("sort_keys", [False, True])
@pytest.mark.parametrize("ensure_ascii", [False, True])
def test_the_text_is_json_dumps_text(
    value: Any, indent: int, sort_keys: bool, ensure_ascii: bool
) -> None:
    encode = indented_encoder(indent, sort_keys=sort_keys, ensure_ascii=ensure_ascii)
    assert _outcome(lambda: encode(value)) == _outcome(
        lambda: json.dumps(value, indent=indent, sort_keys=sort_keys, ensure_ascii=ensure_ascii)
    )


def _outcome(call: Any) -> object:
    """The text, or the error (sorting the keys of a mapping of mixed types cannot be done)."""
    try:
        return call()
    except (TypeError, ValueError) as exc:
        return type(exc), str(exc)


_LEAVES = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(alphabet=st.characters(codec="utf-8") | st.sampled_from('\u2028\x00\x1b"\\/'))
)
_VALUES = st.recursive(
    _LEAVES,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=25,
)


@settings(max_examples=400, deadline=None)
@given(_VALUES, st.sampled_from([1, 2, 3]), st.booleans(), st.booleans())
def test_random_values_give_json_dumps_text(
    value: Any, indent: int, sort_keys: bool, ensure_ascii: bool
) -> None:
    encode = indented_encoder(indent, sort_keys=sort_keys, ensure_ascii=ensure_ascii)
    expected = json.dumps(value, indent=indent, sort_keys=sort_keys, ensure_ascii=ensure_ascii)
    assert encode(value) == expected


def test_what_json_dumps_refuses_is_refused_the_same_way() -> None:
    looped: list[Any] = []
    looped.append(looped)
    for value in ({"when": object()}, looped, {"k": {1, 2}}, {("a", "b"): 1}):
        ours = _outcome(lambda v=value: indented_encoder(2)(v))
        assert isinstance(ours, tuple)  # an error, not a text
        assert ours == _outcome(lambda v=value: json.dumps(v, indent=2))


def test_sorting_keys_of_mixed_types_fails_as_json_dumps_fails() -> None:
    value = {"a": 1, 2: 3}
    ours = _outcome(lambda: indented_encoder(2, sort_keys=True)(value))
    assert isinstance(ours, tuple) and ours[0] is TypeError
    assert ours == _outcome(lambda: json.dumps(value, indent=2, sort_keys=True))


def test_an_indent_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="indent"):
        indented_encoder(0)
